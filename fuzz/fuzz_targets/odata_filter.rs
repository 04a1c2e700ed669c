//! Fuzz target `odata_filter`: the properties of `properties::odata_filter` (`fuzz/src/lib.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| properties::odata_filter(data));
