//! `make bench`: figures, not pass/fail. Builds in release mode (`cargo bench`), starts the
//! emulator as its own process, measures, prints a table and writes
//! `target/bench/results.json`.
//!
//! Under `cargo test` (no `--bench` argument) it runs a short version with the debug build,
//! only to prove the benchmark works: it asserts that requests were served, never a speed.
//!
//! Arguments other than flags select sections by name (`emulator`, `conversion`, `guard`,
//! `guard_tenants`, `adaptive`): `cargo bench --bench bench -- adaptive` runs that one and
//! updates its keys in `results.json`, keeping the others.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod adaptive;
mod conversion;
mod emulator;
// The Kubernetes API stand-in of the tests, for the controller benchmarks.
#[allow(unused_imports)]
#[path = "../../tests/fake_apiserver/mod.rs"]
mod fake_apiserver;
mod guard;
mod guard_tenants;
mod journal_scale;
mod process;
mod report;

use report::Report;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted =
        |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut report = Report::new(full);
    runtime.block_on(async {
        if wanted("emulator") {
            emulator::run(&mut report).await;
        }
        if wanted("conversion") {
            conversion::bench(&mut report).await;
        }
        if wanted("guard") {
            guard::bench(&mut report).await;
        }
        if wanted("guard_tenants") {
            guard_tenants::bench(&mut report).await;
        }
        if wanted("adaptive") {
            adaptive::bench(&mut report).await;
        }
        if wanted("journal_scale") {
            journal_scale::bench(&mut report).await;
        }
    });
    report.print();
    if full {
        report.write();
    }
}
