//! The fault and crash suite (issue #6, points 1, 2 and 6).
//!
//! A large `CloudUserConversion` (Source of Authority with `clearImmutableId: true`, so every
//! user has a prior value that matters; break-glass accounts, users named and the members of a
//! group excluded) is run by the operator as its own process (`apply`) against the emulator as
//! its own process, while the emulator injects at run time 10 % 5xx, connection resets before
//! and after applying, 429 storms, latency spikes and a token endpoint outage, and while the
//! operator is killed with SIGKILL three times at seeded points and restarted on the same
//! journal. `make test` runs 300 users; `make soak` 20,000 (`SOAK_USERS`, `SOAK_SEED`,
//! `SOAK_KILLS` override; the seed is printed, and a failure names it).
//!
//! What "converted exactly once" means here, precisely. A connection reset after a write was
//! applied makes the client send the same idempotent PATCH again, and the emulator counts both
//! (so does Graph's audit log), so the number of SOA writes is not the measure. Instead, per
//! selected user:
//! - **one state transition**: exactly one SOA PATCH changed `isCloudManaged` (the emulator's
//!   `writeCounts.soaChanges` = 1: switched once, never rolled back); any other SOA write was
//!   an idempotent repeat (counted in the summary);
//! - **one outcome per intent**: in the journal, per user and step (`SwitchToCloud`,
//!   `ClearImmutableId`), records alternate intent and outcome, every intent closed by exactly
//!   one outcome (Graph's answer, or read back after a restart, with a note), no outcome without
//!   an intent; a `Failed` answer may be corrected by a read-back `Applied`;
//! - **one success**: exactly one `Applied` per user and step, the last record of that step;
//! - **nothing lost**: the user ends cloud-managed with no ImmutableID, and the `Applied`
//!   `ClearImmutableId` record (where a revert reads it) and every intent carry the ImmutableID
//!   the user had before the run.
//!
//! And for everyone else (excluded, break-glass, sync account, cloud-only, never selected): no
//! write at all, no journal record, state unchanged; the writes the emulator accepted are all on
//! users; the resource's status counts equal the truth computed from the emulator; the journal
//! verifies after every kill and at the end, and a flipped byte makes `journal verify` fail
//! naming the line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mod.rs"]
mod common;
#[path = "fake_apiserver/mod.rs"]
mod fake_apiserver;

#[path = "fault_suite/chaos.rs"]
mod chaos;
#[path = "fault_suite/invariants.rs"]
mod invariants;
#[path = "fault_suite/procs.rs"]
mod procs;
#[path = "fault_suite/resume.rs"]
mod resume;
#[path = "fault_suite/scenario.rs"]
mod scenario;
#[path = "fault_suite/shutdown.rs"]
mod shutdown;
#[path = "fault_suite/sigterm.rs"]
mod sigterm;

use invariants::Summary;
use scenario::{Config, Outcome, path};

fn print_summary(cfg: &Config, o: &Outcome, s: &Summary) {
    let faults: Vec<String> = s.faults.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let kills: Vec<String> = o
        .kills
        .iter()
        .map(|k| {
            format!(
                "run {} at {} journal lines after {:.1}s",
                k.run,
                k.journal_lines,
                k.after.as_secs_f64()
            )
        })
        .collect();
    let chaos = &o.chaos;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "\nsoak summary (seed {seed}, {secs:.1}s)\n\
         objects:            {objects} users: {selected} selected, {excluded} excluded, {untouched} outside the selection\n\
         faults injected:    {faults} (token endpoint: {token}); storms {storms}, latency spikes {spikes}, reset bursts {bursts}\n\
         kills (SIGKILL):    {nkills}: {kills}\n\
         journal:            {entries} entries, {read_back} outcomes read back after a restart\n\
         repeated SOA writes (idempotent, answers lost): {repeats}\n\
         lost = {lost}, duplicates = {dups}, other violations = {other}",
        seed = cfg.seed,
        secs = o.elapsed.as_secs_f64(),
        objects = s.objects,
        selected = s.selected,
        excluded = s.excluded,
        untouched = s.untouched,
        faults = faults.join(", "),
        token = s.token_faults,
        storms = load(&chaos.storms),
        spikes = load(&chaos.spikes),
        bursts = load(&chaos.reset_bursts),
        nkills = s.kills,
        kills = kills.join("; "),
        entries = s.journal_entries,
        read_back = s.read_back,
        repeats = s.repeated_soa_writes,
        lost = s.lost,
        dups = s.duplicates,
        other = s.violations.len(),
    );
}

/// Flips one byte inside a seeded line of a copy of the journal: `journal verify` must fail
/// naming that line.
fn flipped_byte_is_named(o: &Outcome, seed: u64) {
    let text = std::fs::read_to_string(&o.journal).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut rng = fastrand::Rng::with_seed(seed);
    let n = rng.usize(..lines.len());
    // A byte of the object id: the line stays JSON, but is no longer what was hashed.
    let at = lines[n].find("\"objectId\":\"").unwrap() + "\"objectId\":\"".len();
    let offset: usize = lines[..n].iter().map(|l| l.len() + 1).sum::<usize>() + at;
    let mut bytes = text.into_bytes();
    bytes[offset] = if bytes[offset] == b'0' { b'1' } else { b'0' };
    let copy = o.dir.join("tampered.jsonl");
    std::fs::write(&copy, bytes).unwrap();
    let key = entra_cloud_operator::journal::key_path(&o.journal, None);
    let (code, out, err) = procs::run(&[
        "journal",
        "verify",
        "--journal",
        path(&copy),
        "--journal-key",
        path(&key),
    ]);
    assert_eq!(code, 1, "a flipped byte is detected: {out}{err}");
    assert!(
        err.contains(&format!("line {}", n + 1)),
        "the error names line {}: {err}",
        n + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversion_survives_faults_and_three_sigkills_converting_each_user_once() {
    let cfg = Config::from_env(300);
    eprintln!(
        "fault suite: {} users, {} kills, seed {} (SOAK_SEED={} reproduces the kill points and faults)",
        cfg.users, cfg.kills, cfg.seed, cfg.seed
    );
    let outcome = scenario::run_soak(&cfg).await;
    let (code, out, err) = procs::run(&["journal", "verify", "--journal", path(&outcome.journal)]);
    assert_eq!(code, 0, "{out}{err}");
    let summary = invariants::check(&outcome).await;
    print_summary(&cfg, &outcome, &summary);
    assert!(
        summary.violations.is_empty() && summary.lost == 0 && summary.duplicates == 0,
        "seed {}: {} violations, first: {:#?}",
        cfg.seed,
        summary.violations.len(),
        &summary.violations[..summary.violations.len().min(15)]
    );
    assert_eq!(summary.kills, cfg.kills);
    for kind in ["500", "503", "429", "reset-before", "reset-after"] {
        assert!(
            summary.faults.get(kind).copied().unwrap_or(0) > 0,
            "seed {}: no {kind} was injected: {:?}",
            cfg.seed,
            summary.faults
        );
    }
    assert!(summary.token_faults > 0, "the token outage met a restart");
    flipped_byte_is_named(&outcome, cfg.seed);
}
