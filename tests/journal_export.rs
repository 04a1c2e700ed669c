//! `journal export` for auditors: a spreadsheet reads no formula from a display name, and
//! `journal export | head` ends quietly (a closed pipe is not an error).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use entra_cloud_operator::journal::{
    Action, FileJournal, Journal, Phase, Record, ResourceKey, default_key,
};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_entra-cloud-operator");

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "eco-journal-export-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn record(i: usize, name: &str) -> Record {
    Record {
        resource: ResourceKey {
            kind: "CloudUserConversion".into(),
            namespace: "identity".into(),
            name: "wave".into(),
        },
        tenant_id: "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b".into(),
        object_type: "user".into(),
        object_id: format!("00000000-0000-0000-0000-{i:012}"),
        object_name: Some(name.into()),
        action: Action::ClearImmutableId,
        phase: Phase::Intent,
        prior: json!({"onPremisesImmutableId": format!("prior-{i}")}),
        request_id: None,
        error: None,
        note: None,
    }
}

/// A journal of `n` entries, the first named `first`.
async fn journal(dir: &std::path::Path, n: usize, first: &str) -> PathBuf {
    let path = dir.join("journal.jsonl");
    let j = FileJournal::open(&path, default_key(&path).unwrap()).unwrap();
    let records: Vec<Record> = (0..n)
        .map(|i| record(i, if i == 0 { first } else { "user@contoso.com" }))
        .collect();
    for chunk in records.chunks(500) {
        j.append(chunk).await.unwrap();
    }
    path
}

#[tokio::test]
async fn a_display_name_is_never_a_formula_in_the_csv() {
    let dir = temp("csv");
    let path = journal(&dir, 1, "=HYPERLINK(\"http://evil.example\",\"click\")").await;
    let out = Command::new(BIN)
        .args(["journal", "export", "--journal"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8_lossy(&out.stdout);
    let row = csv.lines().nth(1).unwrap();
    assert!(
        row.contains(",\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"click\"\")\","),
        "{row}"
    );
    assert!(!row.contains(",=HYPERLINK"), "{row}");
}

#[tokio::test]
async fn export_into_a_pipe_closed_early_ends_quietly() {
    let dir = temp("pipe");
    // More than a pipe's buffer (64 KiB), so the writer meets the closed end.
    let path = journal(&dir, 3000, "first@contoso.com").await;
    for format in ["csv", "json"] {
        let mut child = Command::new(BIN)
            .args(["journal", "export", "--format", format, "--journal"])
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty());
        // The reader is gone (as `head -1` exits): the export's next writes fail with EPIPE.
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{format}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{format}: {stderr}");
    }
}

#[tokio::test]
async fn summary_and_filters_read_the_journal_for_an_auditor() {
    let dir = temp("summary");
    let path = dir.join("journal.jsonl");
    let j = FileJournal::open(&path, default_key(&path).unwrap()).unwrap();
    let mut applied = record(1, "ada@contoso.com");
    applied.phase = Phase::Applied;
    let mut other = record(2, "bob@contoso.com");
    other.phase = Phase::Applied;
    j.append(&[record(1, "ada@contoso.com"), applied, other])
        .await
        .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(["journal"])
            .args(args)
            .arg("--journal")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let summary = run(&["summary"]);
    assert!(
        summary.contains("CloudUserConversion identity/wave: 2 objects changed (ClearImmutableId 2), 0 failed, 0 reverted"),
        "{summary}"
    );
    assert!(
        summary.contains("3 entries; last entry 3 has hash "),
        "{summary}"
    );
    assert!(summary.contains("keep it elsewhere"), "{summary}");
    // Filtered, the head to keep is still the journal's last entry.
    let one = run(&["summary", "--object", "bob@contoso.com"]);
    assert!(
        one.contains("1 entries shown of 3 in the journal; last entry 3 has hash "),
        "{one}"
    );
    // One object, by its UPN in any case: its two entries only.
    let csv = run(&["export", "--object", "ADA@contoso.com"]);
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(!csv.contains("bob@contoso.com"), "{csv}");
    // Another resource: nothing but the header.
    let none = run(&[
        "export",
        "--of-resource",
        "CloudGroupConversion/identity/groups",
    ]);
    assert_eq!(none.lines().count(), 1, "{none}");
    // A time filter in words it does not read is refused by name.
    let out = Command::new(BIN)
        .args(["journal", "export", "--since", "yesterday", "--journal"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));
    // A mistyped path is not an empty, intact journal.
    for sub in ["verify", "summary", "export"] {
        let out = Command::new(BIN)
            .args(["journal", sub, "--journal"])
            .arg(dir.join("jounral.jsonl"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{sub}: {err}");
        assert!(err.contains("jounral.jsonl: no such file"), "{sub}: {err}");
    }
    // Nor is a device that never ends.
    let out = Command::new(BIN)
        .args(["journal", "verify", "--journal", "/dev/zero"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/dev/zero: not a regular file"));
}
