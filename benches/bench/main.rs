//! `make bench`: figures, not pass/fail. Builds in release mode (`cargo bench`), starts the
//! emulator as its own process, measures, prints a table and writes
//! `target/bench/results.json`.
//!
//! Under `cargo test` (no `--bench` argument) it runs a short version with the debug build,
//! only to prove the benchmark works: it asserts that requests were served, never a speed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod conversion;
mod emulator;
mod guard;
mod process;
mod report;

use report::Report;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut report = Report::new(full);
    runtime.block_on(async {
        emulator::run(&mut report).await;
        conversion::bench(&mut report).await;
        guard::bench(&mut report).await;
    });
    report.print();
    if full {
        report.write();
    }
}
