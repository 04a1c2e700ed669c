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
