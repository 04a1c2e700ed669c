//! Fuzz target `graph_response`: the properties of `properties::graph_response` (`fuzz/src/lib.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| properties::graph_response(data));
