//! Saved plans end to end, against the emulator as its own process: `plan --out FILE` then
//! `apply --plan FILE` applies exactly that plan; refused with nothing written when the
//! manifests changed since, stalled `PlanChanged` with nothing written when the tenant did;
//! and `plan -o json` lists every selected object with its action.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::process::{CONTOSO, EmulatorProcess};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_entra-cloud-operator");

fn wave(wave_size: u32) -> String {
    format!(
        "apiVersion: cloudidentity.dev/v1alpha1
kind: CloudUserConversion
metadata: {{name: contoso-wave, namespace: identity}}
spec:
  tenantRef: {{name: contoso}}
  mode: Apply
  selector: {{domains: [contoso.com]}}
  rollout: {{maxObjects: 1000, canary: 2, waveSize: {wave_size}, pauseBetweenWaves: 0s}}
"
    )
}

fn temp(name: &str) -> PathBuf {
    common::process::temp_dir("saved-plan", name)
}

/// `entra-cloud-operator ARGS -f dir` against the emulator: exit code, stdout, stderr.
fn run(emu: &EmulatorProcess, dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("-f")
        .arg(dir.join("manifests"))
        .args([
            "--graph-url",
            &emu.url,
            "--login-url",
            &emu.url,
            "--journal",
        ])
        .arg(dir.join("journal.jsonl"))
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

fn control(url: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let url = format!("{url}/_emulator/{path}");
        let req = match method {
            "POST" => c.post(url).json(&body.unwrap_or(json!({}))),
            _ => c.get(url),
        };
        let r = req.send().await.unwrap();
        r.json().await.unwrap_or(Value::Null)
    })
}

fn accepted_writes(url: &str) -> i64 {
    control(url, "GET", "state", None)["writes"]["accepted"]
        .as_i64()
        .unwrap()
}

/// The synchronised users of contoso.com, by id.
fn synced_contoso(url: &str) -> Vec<String> {
    control(url, "GET", "users", None)["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["kind"] == "synced")
        .filter(|u| {
            u["userPrincipalName"]
                .as_str()
                .unwrap_or_default()
                .ends_with("@contoso.com")
        })
        .filter_map(|u| u["id"].as_str().map(str::to_string))
        .collect()
}

fn write_manifests(dir: &Path, wave_size: u32) {
    let m = dir.join("manifests");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join("tenant.yaml"), CONTOSO).unwrap();
    std::fs::write(m.join("wave.yaml"), wave(wave_size)).unwrap();
}

#[test]
fn apply_applies_exactly_the_saved_plan_or_nothing() {
    let emu = EmulatorProcess::start(
        BIN,
        &[
            "--latency",
            "0",
            "--users",
            "40",
            "--groups",
            "2",
            "--read-lag",
            "0s",
            "--index-lag",
            "0s",
        ],
    );
    let dir = temp("exact");
    write_manifests(&dir, 10);
    let synced = synced_contoso(&emu.url);
    assert!(synced.len() >= 4, "{synced:?}");

    // Every selected object and its action, in JSON; the text stays short.
    let (code, json, err) = run(&emu, &dir, &["plan", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let reports: Value = serde_json::from_str(&json).unwrap();
    let conversion = reports
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "CloudUserConversion")
        .unwrap();
    let objects = conversion["objects"].as_array().unwrap();
    assert_eq!(objects.len(), synced.len(), "{conversion}");
    for o in objects {
        assert_eq!(o["action"], "convert", "{o}");
        assert!(synced.contains(&o["id"].as_str().unwrap().to_string()));
    }
    let (_, text, _) = run(&emu, &dir, &["plan"]);
    assert!(!text.contains(&synced[0]), "the text lists no ids: {text}");

    // Saved, then the manifests edited: refused, nothing written.
    let plan = dir.join("plan.json");
    let plan_arg = plan.to_str().unwrap();
    let (code, _, err) = run(&emu, &dir, &["plan", "--out", plan_arg]);
    assert_eq!(code, 0, "{err}");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert!(
        saved["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["approval"]
                .as_str()
                .unwrap_or_default()
                .starts_with("convert:users=")),
        "{saved}"
    );
    assert!(
        !saved.to_string().contains("emulator-client-secret"),
        "no secret in the plan"
    );
    write_manifests(&dir, 20);
    let (code, out, err) = run(
        &emu,
        &dir,
        &["apply", "--plan", plan_arg, "--timeout", "60s"],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("the manifests changed since the plan was saved")
            && err.contains("CloudUserConversion identity/contoso-wave: spec edited"),
        "{err}"
    );
    assert_eq!(accepted_writes(&emu.url), 0);

    // The manifests as planned, but a selected user left sync scope since: the selection
    // no longer matches the saved plan, so the conversion stalls with nothing written.
    write_manifests(&dir, 10);
    control(
        &emu.url,
        "POST",
        &format!("users/{}/scope", synced[0]),
        Some(json!({"inScope": false})),
    );
    control(&emu.url, "POST", "sync/cycle", None);
    let (code, out, err) = run(
        &emu,
        &dir,
        &[
            "apply",
            "--plan",
            plan_arg,
            "--timeout",
            "60s",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("PlanChanged"), "{out}");
    assert_eq!(accepted_writes(&emu.url), 0);

    // Planned again and applied: exactly that plan runs, to the end.
    let (code, _, err) = run(&emu, &dir, &["plan", "--out", plan_arg]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(
        &emu,
        &dir,
        &[
            "apply",
            "--plan",
            plan_arg,
            "--timeout",
            "120s",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(accepted_writes(&emu.url) > 0);
    let (code, json, err) = run(&emu, &dir, &["plan", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let reports: Value = serde_json::from_str(&json).unwrap();
    let conversion = reports
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "CloudUserConversion")
        .unwrap();
    let objects = conversion["objects"].as_array().unwrap();
    assert_eq!(objects.len(), synced.len() - 1, "{conversion}");
    assert!(
        objects.iter().all(|o| o["action"] == "none"),
        "{conversion}"
    );
}

#[test]
fn a_plan_that_could_not_plan_everything_is_not_saved() {
    let emu = EmulatorProcess::start(BIN, &["--latency", "0", "--users", "10", "--groups", "1"]);
    let dir = temp("incomplete");
    write_manifests(&dir, 10);
    // The secret is wrong: the tenant can't be read.
    std::fs::write(
        dir.join("manifests/tenant.yaml"),
        CONTOSO.replace("emulator-client-secret", "wrong-secret"),
    )
    .unwrap();
    let plan = dir.join("plan.json");
    let (code, _, err) = run(&emu, &dir, &["plan", "--out", plan.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the plan was not saved"), "{err}");
    assert!(!plan.exists());
    // A file that is not a plan is refused by name.
    std::fs::write(&plan, "{\"hello\": 1}").unwrap();
    let (code, _, err) = run(&emu, &dir, &["apply", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("not a plan saved by `plan --out`"), "{err}");
}
