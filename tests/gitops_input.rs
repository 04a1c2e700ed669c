//! What GitOps tools print, piped in: `kustomize build | entra-cloud-operator plan -f -`. The
//! kinds around the resources (Namespace, Kustomization, ConfigMap) are skipped with a line
//! each, the plan is printed, and nothing is written to Graph.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

#[path = "common/process.rs"]
#[allow(dead_code)]
mod process;

use process::EmulatorProcess;

const BIN: &str = env!("CARGO_BIN_EXE_entra-cloud-operator");

/// What `kustomize build` prints for an overlay holding an observe-only policy and its Secret,
/// in kustomize's order (Namespace first), with Flux's Kustomization and an empty document.
const STREAM: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: identity
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: identity-settings
  namespace: identity
data:
  owner: platform-team
---
apiVersion: v1
kind: Secret
metadata:
  name: graph-credentials
  namespace: identity
stringData:
  clientSecret: emulator-client-secret
---
---
apiVersion: cloudidentity.dev/v1alpha1
kind: TenantSyncPolicy
metadata:
  name: contoso-observer
  namespace: identity
spec:
  tenantId: 3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b
  credentials:
    clientSecret:
      clientId: 0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e
      secretRef: {name: graph-credentials, key: clientSecret}
  directorySync: Unmanaged
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: identity
  namespace: flux-system
spec:
  path: ./identity
  prune: true
"#;

/// Runs the binary with `args`, `stdin` written to its standard input, in a directory of its
/// own (so nothing lands in the working tree).
fn run(args: &[&str], stdin: &str) -> (i32, String, String) {
    let dir = std::env::temp_dir().join(format!(
        "eco-gitops-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(&dir)
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_TENANT_ID")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let text = stdin.to_string();
    // Written from a thread: a child that stops reading early must not block the test.
    let writer = std::thread::spawn(move || input.write_all(text.as_bytes()));
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    let _ = writer.join().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn state(url: &str) -> serde_json::Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reqwest::get(format!("{url}/_emulator/state"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

#[test]
fn plan_reads_a_rendered_stream_from_stdin_and_skips_other_kinds() {
    let emu = EmulatorProcess::start(BIN, &["--latency", "0", "--users", "20", "--groups", "2"]);
    let (code, out, err) = run(
        &[
            "plan",
            "-f",
            "-",
            "--graph-url",
            &emu.url,
            "--login-url",
            &emu.url,
        ],
        STREAM,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    for line in [
        "STDIN#1: skipped v1/Namespace identity (not a resource this tool reads)",
        "STDIN#2: skipped v1/ConfigMap identity-settings (not a resource this tool reads)",
        "STDIN#5: skipped kustomize.toolkit.fluxcd.io/v1/Kustomization identity (not a resource this tool reads)",
    ] {
        assert!(err.lines().any(|l| l == line), "no {line:?} in:\n{err}");
    }
    assert_eq!(err.matches("skipped").count(), 3, "{err}");
    // The Secret supplied the credentials (no AZURE_CLIENT_SECRET): the tenant was observed.
    assert!(out.contains("identity/contoso-observer"), "{out}\n{err}");
    assert!(!out.contains("emulator-client-secret") && !err.contains("emulator-client-secret"));
    let s = state(&emu.url);
    assert_eq!(s["writes"]["accepted"], 0, "plan wrote: {s}");
    assert_eq!(s["writes"]["refused"], 0, "plan wrote: {s}");
}

#[test]
fn stdin_is_read_once_and_near_misses_of_our_kinds_stop_the_run() {
    let (code, _, err) = run(&["plan", "-f", "-", "-f", "-"], STREAM);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("-f - given more than once"), "{err}");

    // A typo in one of our kinds is refused, not skipped: no request is sent.
    let typo = STREAM.replace("kind: TenantSyncPolicy", "kind: TenantSyncPolice");
    let (code, _, err) = run(&["plan", "-f", "-"], &typo);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("STDIN document 4: kind \"TenantSyncPolice\" is not served by this version"),
        "{err}"
    );
}
