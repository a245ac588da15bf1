//! Fuzzes the import of a Sui CLI `sui.keystore` (a JSON array of base64
//! `flag || private key` strings): a bad file gives an error that never
//! quotes key material, and nothing panics.
#![no_main]

use std::path::Path;

use daas_core::wallet::parse_sui_keystore;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_sui_keystore(text, Path::new("sui.keystore"));
    }
});
