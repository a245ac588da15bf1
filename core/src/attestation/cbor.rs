//! A small, strict CBOR (RFC 8949) reader and writer for the handful of
//! shapes an attestation document uses.
//!
//! The reader never panics and never recurses: every read is bounds-checked,
//! indefinite lengths are refused (Nitro documents never use them), and
//! skipping an unknown value walks it with a counter rather than a call
//! stack, so hostile nesting cannot exhaust the stack.

use std::fmt;

/// What went wrong while reading CBOR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CborProblem {
    /// The input ended in the middle of an item.
    Truncated,
    /// An item of another type was found where a specific type was expected.
    UnexpectedType {
        /// The type that was expected.
        expected: &'static str,
        /// The type that was found.
        found: &'static str,
    },
    /// An indefinite-length string, array or map (not used by Nitro documents).
    IndefiniteLength,
    /// A reserved additional-information value (28 to 30) or a stray break.
    Reserved,
    /// A text string that is not valid UTF-8.
    InvalidUtf8,
    /// A length or integer that does not fit the platform or the value range.
    Overflow,
    /// Bytes are left over after the top-level item.
    TrailingBytes,
}

impl fmt::Display for CborProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("input ends in the middle of an item"),
            Self::UnexpectedType { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            Self::IndefiniteLength => f.write_str("indefinite-length items are not accepted"),
            Self::Reserved => f.write_str("reserved or stray CBOR initial byte"),
            Self::InvalidUtf8 => f.write_str("text string is not valid UTF-8"),
            Self::Overflow => f.write_str("length or integer out of range"),
            Self::TrailingBytes => f.write_str("unexpected bytes after the end of the item"),
        }
    }
}

/// A CBOR reading error with the byte offset where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CborError {
    pub(crate) offset: usize,
    pub(crate) problem: CborProblem,
}

pub(crate) type CborResult<T> = Result<T, CborError>;

/// CBOR major types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Major {
    Unsigned,
    Negative,
    Bytes,
    Text,
    Array,
    Map,
    Tag,
    Simple,
}

impl Major {
    fn from_bits(bits: u8) -> Self {
        match bits {
            0 => Self::Unsigned,
            1 => Self::Negative,
            2 => Self::Bytes,
            3 => Self::Text,
            4 => Self::Array,
            5 => Self::Map,
            6 => Self::Tag,
            _ => Self::Simple,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Unsigned => "unsigned integer",
            Self::Negative => "negative integer",
            Self::Bytes => "byte string",
            Self::Text => "text string",
            Self::Array => "array",
            Self::Map => "map",
            Self::Tag => "tag",
            Self::Simple => "simple value or float",
        }
    }
}

/// The decoded head of a CBOR item: its major type and argument.
#[derive(Debug, Clone, Copy)]
struct Head {
    major: Major,
    argument: u64,
}

/// The simple value `null`.
const NULL: u8 = 0xf6;

/// A cursor over CBOR bytes.
pub(crate) struct Reader<'a> {
    input: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { input, position: 0 }
    }

    fn error(&self, offset: usize, problem: CborProblem) -> CborError {
        CborError { offset, problem }
    }

    fn take(&mut self, len: usize) -> CborResult<&'a [u8]> {
        let end = self
            .position
            .checked_add(len)
            .ok_or(self.error(self.position, CborProblem::Overflow))?;
        let slice = self
            .input
            .get(self.position..end)
            .ok_or(self.error(self.position, CborProblem::Truncated))?;
        self.position = end;
        Ok(slice)
    }

    fn take_be(&mut self, len: usize) -> CborResult<u64> {
        Ok(self
            .take(len)?
            .iter()
            .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte)))
    }

    /// Major type of the next item, without consuming it.
    pub(crate) fn peek_major(&self) -> CborResult<Major> {
        self.input
            .get(self.position)
            .map(|byte| Major::from_bits(byte >> 5))
            .ok_or(self.error(self.position, CborProblem::Truncated))
    }

    fn head(&mut self) -> CborResult<Head> {
        let start = self.position;
        let initial = *self
            .take(1)?
            .first()
            .ok_or(self.error(start, CborProblem::Truncated))?;
        let major = Major::from_bits(initial >> 5);
        let info = initial & 0x1f;
        let argument = match info {
            0..=23 => u64::from(info),
            24 => self.take_be(1)?,
            25 => self.take_be(2)?,
            26 => self.take_be(4)?,
            27 => self.take_be(8)?,
            31 if matches!(
                major,
                Major::Bytes | Major::Text | Major::Array | Major::Map
            ) =>
            {
                return Err(self.error(start, CborProblem::IndefiniteLength));
            }
            _ => return Err(self.error(start, CborProblem::Reserved)),
        };
        Ok(Head { major, argument })
    }

    fn expect(&mut self, major: Major) -> CborResult<Head> {
        let start = self.position;
        let head = self.head()?;
        if head.major == major {
            Ok(head)
        } else {
            self.position = start;
            Err(self.error(
                start,
                CborProblem::UnexpectedType {
                    expected: major.name(),
                    found: head.major.name(),
                },
            ))
        }
    }

    fn length(&self, start: usize, argument: u64) -> CborResult<usize> {
        usize::try_from(argument).map_err(|_| self.error(start, CborProblem::Overflow))
    }

    /// Reads an unsigned integer.
    pub(crate) fn unsigned(&mut self) -> CborResult<u64> {
        Ok(self.expect(Major::Unsigned)?.argument)
    }

    /// Reads a signed integer (major type 0 or 1) that fits an `i64`.
    pub(crate) fn integer(&mut self) -> CborResult<i64> {
        let start = self.position;
        let head = self.head()?;
        let overflow = self.error(start, CborProblem::Overflow);
        match head.major {
            Major::Unsigned => i64::try_from(head.argument).map_err(|_| overflow),
            Major::Negative => i64::try_from(head.argument)
                .map(|n| -1 - n)
                .map_err(|_| overflow),
            other => {
                self.position = start;
                Err(self.error(
                    start,
                    CborProblem::UnexpectedType {
                        expected: "integer",
                        found: other.name(),
                    },
                ))
            }
        }
    }

    /// Reads a byte string, borrowed from the input.
    pub(crate) fn bytes(&mut self) -> CborResult<&'a [u8]> {
        let start = self.position;
        let head = self.expect(Major::Bytes)?;
        let len = self.length(start, head.argument)?;
        self.take(len)
    }

    /// Reads a text string, borrowed from the input.
    pub(crate) fn text(&mut self) -> CborResult<&'a str> {
        let start = self.position;
        let head = self.expect(Major::Text)?;
        let len = self.length(start, head.argument)?;
        let raw = self.take(len)?;
        std::str::from_utf8(raw).map_err(|_| self.error(start, CborProblem::InvalidUtf8))
    }

    /// Reads the head of an array and returns its element count.
    pub(crate) fn array(&mut self) -> CborResult<u64> {
        Ok(self.expect(Major::Array)?.argument)
    }

    /// Reads the head of a map and returns its number of pairs.
    pub(crate) fn map(&mut self) -> CborResult<u64> {
        Ok(self.expect(Major::Map)?.argument)
    }

    /// Reads a tag number if the next item is a tag.
    pub(crate) fn optional_tag(&mut self) -> CborResult<Option<u64>> {
        if self.peek_major()? == Major::Tag {
            Ok(Some(self.expect(Major::Tag)?.argument))
        } else {
            Ok(None)
        }
    }

    /// Consumes a `null` if it is next; returns whether it did.
    pub(crate) fn null(&mut self) -> bool {
        if self.input.get(self.position) == Some(&NULL) {
            self.position = self.position.saturating_add(1);
            true
        } else {
            false
        }
    }

    /// Skips one complete item of any type, without recursion.
    pub(crate) fn skip(&mut self) -> CborResult<()> {
        let mut pending: u64 = 1;
        while pending > 0 {
            pending -= 1;
            let start = self.position;
            let head = self.head()?;
            let more = match head.major {
                Major::Unsigned | Major::Negative => 0,
                Major::Bytes | Major::Text => {
                    let len = self.length(start, head.argument)?;
                    self.take(len)?;
                    0
                }
                Major::Array => head.argument,
                Major::Map => head
                    .argument
                    .checked_mul(2)
                    .ok_or(self.error(start, CborProblem::Overflow))?,
                Major::Tag => 1,
                // Floats and simple values carry their value in the
                // argument bytes that `head` already consumed.
                Major::Simple => 0,
            };
            pending = pending
                .checked_add(more)
                .ok_or(self.error(start, CborProblem::Overflow))?;
        }
        Ok(())
    }

    /// Fails unless every byte has been consumed.
    pub(crate) fn finish(&self) -> CborResult<()> {
        if self.position == self.input.len() {
            Ok(())
        } else {
            Err(self.error(self.position, CborProblem::TrailingBytes))
        }
    }
}

/// Appends the head of a CBOR item in its shortest form.
fn write_head(out: &mut Vec<u8>, major: u8, argument: u64) {
    let major = major << 5;
    // The casts below are lossless: each arm bounds the value first.
    match argument {
        0..=23 => out.push(major | argument as u8),
        24..=0xff => out.extend_from_slice(&[major | 24, argument as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend_from_slice(&(argument as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend_from_slice(&(argument as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend_from_slice(&argument.to_be_bytes());
        }
    }
}

/// Minimal CBOR writer for the shapes the attestation module emits.
#[derive(Default)]
pub(crate) struct Writer {
    out: Vec<u8>,
}

impl Writer {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            out: Vec::with_capacity(capacity),
        }
    }

    pub(crate) fn unsigned(&mut self, value: u64) -> &mut Self {
        write_head(&mut self.out, 0, value);
        self
    }

    pub(crate) fn integer(&mut self, value: i64) -> &mut Self {
        if value >= 0 {
            write_head(&mut self.out, 0, value.unsigned_abs());
        } else {
            // -1 - value is non-negative here and cannot overflow.
            write_head(&mut self.out, 1, (-1 - value).unsigned_abs());
        }
        self
    }

    pub(crate) fn bytes(&mut self, value: &[u8]) -> &mut Self {
        write_head(&mut self.out, 2, value.len() as u64);
        self.out.extend_from_slice(value);
        self
    }

    pub(crate) fn text(&mut self, value: &str) -> &mut Self {
        write_head(&mut self.out, 3, value.len() as u64);
        self.out.extend_from_slice(value.as_bytes());
        self
    }

    pub(crate) fn array(&mut self, len: usize) -> &mut Self {
        write_head(&mut self.out, 4, len as u64);
        self
    }

    pub(crate) fn map(&mut self, len: usize) -> &mut Self {
        write_head(&mut self.out, 5, len as u64);
        self
    }

    pub(crate) fn null(&mut self) -> &mut Self {
        self.out.push(NULL);
        self
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.out
    }
}
