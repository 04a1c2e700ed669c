//! A short deterministic run of the fuzz targets' properties (issue 14): the functions of
//! `fuzz/src/lib.rs`, the fuzzers' own, over a fixed corpus: the seeds (`fuzz/seeds/`, the
//! examples, the bad-input corpus `tests/data/bad/`) and, for each seed, mutations from a
//! fixed-seed `fastrand`: bit flips, truncations, splices of another seed, deletions,
//! duplications, huge and odd numbers, deep nesting, invalid UTF-8, quotes and separators.
//! Sized to end in seconds in a debug build; the fuzzers (`cargo +nightly fuzz run …` in
//! `fuzz/`) search without end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../fuzz/src/lib.rs"]
mod properties;

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files of `dirs` (not recursive), in name order.
fn files(dirs: &[&str]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in dirs {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file() && !p.ends_with("README.md"))
            .collect();
        paths.sort();
        out.extend(
            paths
                .into_iter()
                .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap())),
        );
    }
    assert!(
        out.len() >= 3,
        "a corpus of {} files in {dirs:?}",
        out.len()
    );
    out
}

const ODD: [&[u8]; 24] = [
    b"18446744073709551616",
    b"-9223372036854775809",
    b"1e999",
    b"-1e-999",
    b"NaN",
    b"0x7fffffff",
    b"99999999999999999999999999999999999999",
    b"\xff\xfe",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\0",
    b"'",
    b"''",
    b"\"",
    b"\\u0000",
    b"\n---\n",
    b"\r\n",
    b"&a ",
    b"*a",
    b": ",
    b"{",
    b"]",
    b"\xe2\x80\xae",
    b"$filter=",
];

/// `seed`, mutated one to three times; `other` is another seed to splice from.
fn mutate(rng: &mut fastrand::Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut d = seed.to_vec();
    for _ in 0..rng.usize(1..=3) {
        let at = rng.usize(0..=d.len());
        match rng.u8(0..8) {
            0 if !d.is_empty() => {
                let i = rng.usize(0..d.len());
                d[i] ^= 1 << rng.u8(0..8);
            }
            1 => d.truncate(at),
            2 if !other.is_empty() => {
                let from = rng.usize(0..other.len());
                let to = rng.usize(from..=other.len().min(from + 256));
                d.splice(at..at, other[from..to].iter().copied());
            }
            3 => {
                let to = rng.usize(at..=d.len());
                d.drain(at..to);
            }
            4 => {
                let to = rng.usize(at..=d.len().min(at + 128));
                let copy = d[at..to].to_vec();
                d.splice(at..at, copy);
            }
            5 => {
                let (open, close) = if rng.bool() {
                    (b"[", b"]")
                } else {
                    (b"{", b"}")
                };
                let depth = rng.usize(100..3000);
                let mut nest = open.repeat(depth);
                if rng.bool() {
                    nest.extend(close.repeat(depth));
                }
                d.splice(at..at, nest);
            }
            _ => {
                let odd = ODD[rng.usize(0..ODD.len())];
                d.splice(at..at, odd.iter().copied());
            }
        }
    }
    d
}

/// `check` on every seed and on `per_seed` mutations of each, from a fixed seed: a failing
/// input is named by its seed file and mutation number.
fn run(corpus: &[(String, Vec<u8>)], per_seed: usize, rng_seed: u64, check: impl Fn(&[u8])) {
    let mut rng = fastrand::Rng::with_seed(rng_seed);
    for (i, (name, seed)) in corpus.iter().enumerate() {
        let other = &corpus[(i + 1) % corpus.len()].1;
        let inputs = std::iter::once(seed.clone())
            .chain((0..per_seed).map(|_| mutate(&mut rng, seed, other)));
        for (n, input) in inputs.enumerate() {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&input)));
            if let Err(panic) = outcome {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!(
                    "{name}, mutation {n} (rng seed {rng_seed}): {why}\ninput: {:?}",
                    String::from_utf8_lossy(&input[..input.len().min(600)])
                );
            }
        }
    }
}

/// A scratch file for the manifest target, one per test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eco-properties-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn manifests_never_panic_and_what_is_accepted_round_trips() {
    // Reading a manifest checks it against three CRD schemas (tens of milliseconds in a
    // debug build): the bad-input corpus is read as it is, the examples and the seeds mutated.
    let bad = files(&["tests/data/bad", "tests/data/bad/context"]);
    let corpus = files(&["examples", "fuzz/seeds/manifest"]);
    let path = scratch("manifest.yaml");
    run(&bad, 0, 14, |d| {
        properties::manifest(d, &path);
    });
    run(&corpus, 5, 14, |d| {
        properties::manifest(d, &path);
    });
    // Every example is accepted, so the round trip is not vacuous.
    let examples: Vec<_> = corpus
        .iter()
        .filter(|(n, _)| n.contains("/examples/"))
        .collect();
    let refused: Vec<&String> = examples
        .iter()
        .filter(|(_, d)| !properties::manifest(d, &path))
        .map(|(n, _)| n)
        .collect();
    let _ = std::fs::remove_file(&path);
    assert!(
        examples.len() >= 3 && refused.is_empty(),
        "examples refused: {refused:?}"
    );
}

#[test]
fn filters_upns_and_quoted_names_keep_their_promises() {
    run(&files(&["fuzz/seeds/odata_filter"]), 600, 15, |d| {
        properties::odata_filter(d)
    });
}

#[test]
fn graph_answers_decode_or_fail_without_repeating_them() {
    run(&files(&["fuzz/seeds/graph_response"]), 2000, 16, |d| {
        properties::graph_response(d)
    });
}

#[test]
fn batch_answers_settle_every_request_without_panic() {
    run(&files(&["fuzz/seeds/batch_response"]), 3000, 17, |d| {
        properties::batch_response(d)
    });
}

#[test]
fn token_answers_never_leak_the_token_and_stay_in_bounds() {
    run(&files(&["fuzz/seeds/token_response"]), 2000, 18, |d| {
        properties::token_response(d)
    });
}

/// The mutations are deterministic: the same seed gives the same inputs.
#[test]
fn mutations_are_reproducible() {
    let inputs = |s| {
        let mut rng = fastrand::Rng::with_seed(s);
        (0..50)
            .map(|_| mutate(&mut rng, b"{\"value\":[1,2,3]}", b"abc"))
            .collect::<Vec<_>>()
    };
    assert_eq!(inputs(7), inputs(7));
    assert_ne!(inputs(7), inputs(8));
}
