//! `plan --detailed-exitcode` end to end, against the emulator as its own process: 0 when
//! nothing would change, 2 when changes or conflicts wait for review (the conflicts named in
//! the output), 1 when a resource cannot be planned.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::process::EmulatorProcess;

const BIN: &str = env!("CARGO_BIN_EXE_entra-cloud-operator");

/// The emulator's default tenant and application, as the examples name them.
const POLICY: &str = "apiVersion: cloudidentity.dev/v1alpha1
kind: TenantSyncPolicy
metadata: {name: observer, namespace: identity}
spec:
  tenantId: 3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b
  credentials:
    clientSecret:
      clientId: 0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e
      secretRef: {name: graph-credentials, key: clientSecret}
  directorySync: Unmanaged
";

const SECRET: &str = "apiVersion: v1
kind: Secret
metadata: {name: graph-credentials, namespace: identity}
stringData: {clientSecret: emulator-client-secret}
";

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "eco-plan-exit-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A directory holding `files` (name, text).
fn manifests(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = temp(name);
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

/// The examples, copied to a directory of their own.
fn examples() -> PathBuf {
    common::process::examples_in(&temp("examples"))
}

/// `plan --detailed-exitcode -f dir` against the emulator: exit code, stdout, stderr.
fn plan(emu: &EmulatorProcess, dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let journal = dir.join("journal.jsonl");
    let out = Command::new(BIN)
        .args(["plan", "--detailed-exitcode", "-f"])
        .arg(dir)
        .args([
            "--graph-url",
            &emu.url,
            "--login-url",
            &emu.url,
            "--journal",
        ])
        .arg(&journal)
        .args(extra)
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_TENANT_ID")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn control(url: &str, path: &str) -> Vec<serde_json::Value> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let v: serde_json::Value = rt.block_on(async {
        reqwest::get(format!("{url}/_emulator/{path}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    v["value"].as_array().cloned().unwrap_or_default()
}

/// The ids of the users `wave-1` (members of "Migration Wave 1") and `finance-wave`
/// (department Finance) both select, as the emulator's seed holds them, sorted; and the id
/// of `upn`.
fn selected_by_both(url: &str, upn: &str) -> (Vec<String>, Option<String>) {
    let users = control(url, "users");
    let finance: BTreeSet<String> = users
        .iter()
        .filter(|u| u["department"] == "Finance")
        .filter_map(|u| u["id"].as_str().map(String::from))
        .collect();
    let wave = control(url, "groups")
        .into_iter()
        .find(|g| g["displayName"] == "Migration Wave 1")
        .expect("the seed holds the group wave-1 selects");
    let both: Vec<String> = wave["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.as_str().or_else(|| m["id"].as_str()).map(String::from))
        .filter(|id| finance.contains(id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let id = users
        .iter()
        .find(|u| u["userPrincipalName"] == upn)
        .and_then(|u| u["id"].as_str().map(String::from));
    (both, id)
}

#[test]
fn detailed_exitcode_is_0_unchanged_2_pending_or_conflicting_1_on_an_error() {
    let emu = EmulatorProcess::start(BIN, &["--latency", "0", "--users", "400", "--groups", "10"]);

    // An Unmanaged policy only: it observes, nothing would change.
    let dir = manifests(
        "observe",
        &[("policy.yaml", POLICY), ("secret.yaml", SECRET)],
    );
    let (code, out, err) = plan(&emu, &dir, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("no changes") && !out.contains("conflict"),
        "{out}"
    );

    // The examples: a tenant-wide disable, per-object conversions acting for that tenant,
    // and users selected by two waves.
    let (both, nancy) = selected_by_both(&emu.url, "nancy.king@contoso.com");
    let nancy = nancy.expect("the seed holds nancy.king@contoso.com");
    assert!(
        both.contains(&nancy),
        "nancy.king is in Migration Wave 1 and Finance: {both:?}"
    );
    let ex = examples();
    let (code, out, err) = plan(&emu, &ex, &[]);
    assert_eq!(code, 2, "{out}\n{err}");
    let twice = format!(
        "conflict: SelectedTwice with CloudUserConversion identity/finance-wave: {} users are selected by",
        both.len()
    );
    assert!(out.contains(&twice), "{twice}\n{out}");
    assert!(
        out.contains("conflict: SelectedTwice with CloudUserConversion identity/wave-1:"),
        "{out}"
    );
    for id in both.iter().take(3) {
        assert!(out.contains(id.as_str()), "{id} named: {out}");
    }
    for conversion in [
        "CloudUserConversion identity/wave-1",
        "CloudUserConversion identity/finance-wave",
        "CloudUserConversion identity/legal-directors-canary",
        "CloudGroupConversion identity/finance-groups",
    ] {
        let section = out
            .split(&format!("{conversion} (tenant"))
            .nth(1)
            .unwrap_or_else(|| panic!("{conversion} planned: {out}"));
        assert!(
            section.starts_with(
                " 3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b)\n  conflict: TenantDisablesSync with TenantSyncPolicy identity/contoso: "
            ),
            "{conversion}: {section}"
        );
    }
    // The same in JSON and Markdown; and without the flag the exit code stays 0.
    let (code, json, err) = plan(&emu, &ex, &["-o", "json"]);
    assert_eq!(code, 2, "{err}");
    let reports: serde_json::Value = serde_json::from_str(&json).unwrap();
    let wave = reports
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "identity/wave-1")
        .unwrap();
    let kinds: Vec<&str> = wave["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["TenantDisablesSync", "SelectedTwice"], "{json}");
    assert_eq!(wave["conflicts"][1]["objects"], both.len() as i64, "{json}");
    assert!(wave.get("selected").is_none(), "ids stay out: {json}");
    let (code, md, err) = plan(&emu, &ex, &["-o", "markdown"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        md.contains("- **Conflict:** SelectedTwice with CloudUserConversion identity/finance-wave"),
        "{md}"
    );
    let plain = Command::new(BIN)
        .args(["plan", "-f"])
        .arg(&ex)
        .args([
            "--graph-url",
            &emu.url,
            "--login-url",
            &emu.url,
            "--journal",
        ])
        .arg(ex.join("journal.jsonl"))
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_TENANT_ID")
        .output()
        .unwrap();
    assert_eq!(plain.status.code(), Some(0));

    // The policy's Secret is missing: it cannot be planned.
    let dir = manifests("no-secret", &[("policy.yaml", POLICY)]);
    let (code, out, err) = plan(&emu, &dir, &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("cannot plan:"), "{out}");
}
