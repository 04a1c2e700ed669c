//! Fuzz target `manifest`: the properties of `properties::manifest` (`fuzz/src/lib.rs`), the
//! input written to one scratch file per process (the CLI reads files).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let scratch =
        std::env::temp_dir().join(format!("eco-fuzz-manifest-{}.yaml", std::process::id()));
    let _accepted = properties::manifest(data, &scratch);
});
