//! Fuzzes the PROXY protocol v2 header that `daas-master proxy` puts in
//! front of every connection forwarded over vsock: the enclave trusts it
//! only for the client address, and a bad header must give an error.
#![no_main]

use daas_master::proxy_protocol::{FIXED_LEN, parse, payload_len};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((fixed, payload)) = data.split_first_chunk::<FIXED_LEN>() else {
        return;
    };
    let _ = payload_len(fixed);
    let _ = parse(fixed, payload);
});
