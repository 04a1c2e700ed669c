//! Fuzz target `token_response`: the properties of `properties::token_response` (`fuzz/src/lib.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| properties::token_response(data));
