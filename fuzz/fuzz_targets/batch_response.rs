//! Fuzz target `batch_response`: the properties of `properties::batch_response` (`fuzz/src/lib.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| properties::batch_response(data));
