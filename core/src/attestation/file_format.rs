//! Attestation document files as operators pass them around: raw CBOR,
//! base64 (standard or URL-safe, padded or not, line breaks allowed) or hex.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use super::error::DocumentFileError;
use super::verify::MAX_DOCUMENT_LEN;

/// The encoding [`decode_document_file`] detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileEncoding {
    /// Raw CBOR bytes (starts with a CBOR array or tag 18 head).
    Cbor,
    /// Hex digits.
    Hex,
    /// Base64.
    Base64,
}

/// Largest accepted file: a maximal document in hex, plus whitespace.
const MAX_FILE_LEN: usize = MAX_DOCUMENT_LEN * 2 + 4096;

/// Returns the COSE_Sign1 bytes of a document file, detecting whether it is
/// raw CBOR, hex or base64.
///
/// Raw CBOR is recognised by its first byte: `0x84` (array of 4) or `0xd2`
/// (tag 18), neither of which is printable text. Otherwise the file is text:
/// whitespace is removed, then hex is tried (even length, only hex digits)
/// and finally base64.
pub fn decode_document_file(contents: &[u8]) -> Result<(FileEncoding, Vec<u8>), DocumentFileError> {
    if contents.len() > MAX_FILE_LEN {
        return Err(DocumentFileError::TooLarge {
            len: contents.len(),
            max: MAX_FILE_LEN,
        });
    }
    match contents.first() {
        None => return Err(DocumentFileError::Empty),
        Some(0x84 | 0xd2) => return Ok((FileEncoding::Cbor, contents.to_vec())),
        Some(_) => {}
    }
    let text: Vec<u8> = contents
        .iter()
        .copied()
        .filter(|byte| !byte.is_ascii_whitespace())
        .collect();
    if text.is_empty() {
        return Err(DocumentFileError::Empty);
    }
    if text.len().is_multiple_of(2)
        && text.iter().all(u8::is_ascii_hexdigit)
        && let Ok(bytes) = hex::decode(&text)
    {
        return Ok((FileEncoding::Hex, bytes));
    }
    let mut last_error = None;
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        match engine.decode(&text) {
            Ok(bytes) => return Ok((FileEncoding::Base64, bytes)),
            Err(error) => last_error = Some(error),
        }
    }
    Err(DocumentFileError::UnknownEncoding {
        reason: last_error
            .map(|error| format!("not base64: {error}"))
            .unwrap_or_default(),
    })
}
