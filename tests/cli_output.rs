//! What `apply` prints over a whole run, against the emulator as its own process: plain
//! progress lines each stamped with the time, counts that agree with themselves after every
//! wave, no line said twice in a row, a status that repeats its Event not shown again, a table
//! at the end by default; with `--log-format json`, nothing on stderr but JSON lines; and a
//! run that wrote nothing leaves no journal file behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::process::{CONTOSO, EmulatorProcess};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_entra-cloud-operator");

const CONVERSION: &str = "apiVersion: cloudidentity.dev/v1alpha1
kind: CloudUserConversion
metadata: {name: contoso-wave, namespace: identity}
spec:
  tenantRef: {name: contoso}
  mode: Apply
  selector: {domains: [contoso.com]}
  rollout: {maxObjects: 1000, canary: 2, waveSize: 5, pauseBetweenWaves: 0s}
";

fn temp(name: &str) -> PathBuf {
    common::process::temp_dir("cli-output", name)
}

fn apply(emu: &EmulatorProcess, dir: &Path, extra: &[&str]) -> (i32, String, String) {
    std::fs::write(dir.join("m.yaml"), format!("{CONTOSO}---\n{CONVERSION}")).unwrap();
    let out = Command::new(BIN)
        .args(extra)
        .args(["apply", "-f"])
        .arg(dir.join("m.yaml"))
        .args([
            "--graph-url",
            &emu.url,
            "--login-url",
            &emu.url,
            "--journal",
        ])
        .arg(dir.join("journal.jsonl"))
        .args(["--timeout", "120s"])
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `N matched, C converted, P pending` in a line, as numbers.
fn counts(line: &str) -> Option<(i64, i64, i64)> {
    let n = |word: &str| -> Option<i64> {
        let before = line.split(&format!(" {word}")).next()?;
        before
            .rsplit(' ')
            .next()?
            .trim_start_matches(';')
            .parse()
            .ok()
    };
    Some((n("matched,")?, n("converted,")?, n("pending,")?))
}

#[test]
fn plain_progress_is_stamped_consistent_and_said_once() {
    let emu = EmulatorProcess::start(
        BIN,
        &[
            "--latency",
            "0",
            "--users",
            "30",
            "--groups",
            "1",
            "--read-lag",
            "0s",
            "--index-lag",
            "0s",
        ],
    );
    let dir = temp("plain");
    let (code, out, err) = apply(&emu, &dir, &["--log-format", "text"]);
    assert_eq!(code, 0, "{out}\n{err}");
    // The table, by default.
    let mut rows = out.lines();
    let header = rows.next().unwrap();
    assert!(
        header.starts_with("NAME") && header.contains("READY") && header.contains("REASON"),
        "{out}"
    );
    assert!(
        out.contains("CloudUserConversion/identity/contoso-wave") && out.contains("Converted"),
        "{out}"
    );
    assert!(
        !out.contains("apiVersion"),
        "no YAML dump by default: {out}"
    );

    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() > 3, "{err}");
    let mut waves = 0;
    let mut estimates = 0;
    for (i, line) in lines.iter().enumerate() {
        let (stamp, rest) = line.split_once(' ').unwrap();
        assert!(
            stamp.parse::<jiff::Timestamp>().is_ok(),
            "every plain line starts with the time: {line}"
        );
        assert!(
            !rest.contains('\u{1b}'),
            "no colour codes when redirected: {line:?}"
        );
        assert!(!rest.contains("[]"), "no empty brackets: {line}");
        if i > 0 {
            let previous = lines[i - 1].split_once(' ').unwrap().1;
            assert_ne!(previous, rest, "said twice in a row");
        }
        if rest.contains(" done; ") && rest.contains(" matched, ") {
            waves += 1;
            let (matched, converted, pending) = counts(rest).unwrap();
            assert!(converted > 0, "the counts after the wave: {rest}");
            assert_eq!(converted + pending, matched, "{rest}");
            // What is left, in time, from the same count.
            match rest.split_once("; about ") {
                Some((_, eta)) => {
                    let (_, detail) = eta
                        .split_once(" left (")
                        .unwrap_or_else(|| panic!("an estimate: {rest}"));
                    let objects: i64 = detail.split(' ').next().unwrap().parse().unwrap();
                    assert_eq!(
                        objects, pending,
                        "the estimate counts what is pending: {rest}"
                    );
                    assert!(detail.contains(" writes/s, "), "{rest}");
                    estimates += 1;
                }
                None => assert_eq!(pending, 0, "an estimate while objects are left: {rest}"),
            }
        }
    }
    assert!(waves >= 3, "{waves}: canary and waves shown: {err}");
    assert!(
        estimates >= 2,
        "{estimates}: estimates of what is left: {err}"
    );
}

#[test]
fn json_logs_get_json_progress_lines_only() {
    let emu = EmulatorProcess::start(
        BIN,
        &[
            "--latency",
            "0",
            "--users",
            "12",
            "--groups",
            "1",
            "--read-lag",
            "0s",
            "--index-lag",
            "0s",
        ],
    );
    let dir = temp("json");
    let (code, out, err) = apply(&emu, &dir, &["--log-format", "json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let mut seen = 0;
    for line in err.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["timestamp"].is_string() || v["level"].is_string(),
            "{line}"
        );
        seen += 1;
    }
    assert!(seen > 0, "progress was shown");
}

#[test]
fn a_run_that_wrote_nothing_leaves_no_journal_behind() {
    let dir = temp("nothing");
    // The policy without its Secret: it stalls before any request, nothing is journaled.
    let policy = CONTOSO.split("---").next().unwrap();
    std::fs::write(dir.join("m.yaml"), policy).unwrap();
    let journal = dir.join("journal.jsonl");
    let out = Command::new(BIN)
        .args(["apply", "-f"])
        .arg(dir.join("m.yaml"))
        .arg("--journal")
        .arg(&journal)
        .env_remove("AZURE_CLIENT_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CredentialsUnavailable"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["m.yaml"], "no empty journal, head or key left");
}
