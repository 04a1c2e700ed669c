//! Conformance against Microsoft's own client (issue #7): Microsoft's Python Graph SDK
//! (msgraph-sdk with azure-identity, pinned in hack/sdk-conformance/) runs the seeds' flows
//! against `entra-cloud-operator emulator --tls` as its own process. The SDK's request code
//! runs unmodified; hack/sdk-conformance/flows.py only configures its base URL, credential
//! authority, allowed hosts and trusted CA, and prints what happened as JSON.
//!
//! The virtualenv comes from `make sdk-venv` (hack/sdk-conformance/setup.sh), which `make
//! test` runs first. Without it a plain `cargo test` says so and skips; with
//! `SDK_CONFORMANCE=required` (set by `make test`) a missing venv fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_entra-cloud-operator");
const TENANT: &str = "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b";
/// A recognisable test credential, passed through the environment only.
const SECRET: &str = "Sdk-Conformance-Canary-5d2e";
/// Bound on each child process (the flows take about 10 s).
const TIMEOUT: Duration = Duration::from_secs(180);
const SYNCED_USERS: usize = 30;
/// `$top` flows.py pages with.
const PAGE_SIZE: u64 = 7;
/// The flows run in this branch.
// The seeds' flows through Microsoft's SDK, plus one `$batch` and one delta round. (The SDK
// requests `GET /v1.0/users/delta()`, with parentheses, which Graph accepts like
// `/users/delta`.)
const FLOWS: &str =
    "organization,soa,restore,disable-sync,list-users,clear-immutable-ids,batch,delta";

/// A child process killed (and reaped) on drop.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's python if `make sdk-venv` made it, else where it was looked for.
fn venv_python() -> Result<PathBuf, PathBuf> {
    let tools = std::env::var_os("TOOLS_DIR").map_or_else(|| root().join(".tools"), PathBuf::from);
    let python = tools.join("sdk-venv/bin/python");
    if python.exists() {
        Ok(python)
    } else {
        Err(python)
    }
}

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "eco-sdk-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Starts the emulator over TLS; returns the process, its URL and the CA file.
fn emulator(dir: &Path) -> (Reaped, String, PathBuf) {
    let ca = dir.join("emulator-ca.pem");
    let users = SYNCED_USERS.to_string();
    let mut child = Command::new(BIN)
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--tls",
            "--tls-cert-out",
        ])
        .arg(&ca)
        // Cycles only when the flows ask for one (the seed-002 restore); default propagation.
        .args(["--users", &users, "--groups", "3", "--sync-interval", "0s"])
        // The switch's 200-with-body answer, whose shape the SDK must parse (the default 204
        // has no body to check).
        .args(["--soa-patch-response", "body"])
        // The seeds' flows read right after they write (Microsoft's samples assume it):
        // reads consistent at once here; the lag has tests of its own.
        .args(["--read-lag", "0s", "--index-lag", "0s"])
        .env("EMULATOR_CLIENT_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    // Keep draining: a closed pipe would end the emulator at its next line.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let url = first
        .trim()
        .strip_prefix("emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    (Reaped(child), url, ca)
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut out = String::new();
        let _ = pipe.read_to_string(&mut out);
        out
    })
}

/// Runs flows.py to completion (or kills it after [`TIMEOUT`]); returns its report.
fn run_flows(python: &Path, url: &str, ca: &Path) -> Value {
    let script = root().join("hack/sdk-conformance/flows.py");
    let mut child = Reaped(
        Command::new(python)
            .arg(&script)
            .args(["--url", url, "--flows", FLOWS, "--ca"])
            .arg(ca)
            .env("EMULATOR_CLIENT_SECRET", SECRET)
            // The CA is passed explicitly: no ambient trust store or proxy settles the result.
            .env_remove("REQUESTS_CA_BUNDLE")
            .env_remove("SSL_CERT_FILE")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = drain(child.0.stdout.take().unwrap());
    let stderr = drain(child.0.stderr.take().unwrap());
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            drop(child);
            panic!(
                "flows.py did not finish within {TIMEOUT:?}; stderr:\n{}",
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = stdout.join().unwrap();
    let err = stderr.join().unwrap();
    assert!(!err.contains(SECRET), "the secret leaked to stderr");
    let report: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("flows.py printed no JSON ({e}), {status}; stderr:\n{err}"));
    assert!(
        status.success() && report["ok"] == true,
        "flows.py failed ({status}):\n{}\nstderr:\n{err}",
        serde_json::to_string_pretty(&report["flows"]).unwrap()
    );
    report
}

/// A control-plane read, with the emulator's CA.
fn control(url: &str, ca: &Path, path: &str) -> Value {
    let pem = std::fs::read(ca).unwrap();
    let roots = reqwest::Certificate::from_pem_bundle(&pem).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .tls_certs_only(roots)
            .build()
            .unwrap();
        http.get(format!("{url}/_emulator{path}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

#[test]
fn microsofts_python_graph_sdk_runs_the_seed_flows() {
    let python = match venv_python() {
        Ok(python) => python,
        Err(missing) => {
            let message = format!(
                "{} is missing: run `make sdk-venv` to install Microsoft's Python Graph SDK \
                 (`make test` does it first)",
                missing.display()
            );
            if std::env::var("SDK_CONFORMANCE").as_deref() == Ok("required") {
                panic!("{message}; SDK_CONFORMANCE=required");
            }
            eprintln!("SKIPPED sdk_conformance: {message}");
            return;
        }
    };
    let dir = temp_dir();
    let (_emulator, url, ca) = emulator(&dir);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let report = run_flows(&python, &url, &ca);
    let flows = &report["flows"];

    assert_eq!(report["versions"]["msgraph-sdk"], "1.65.0");
    assert_eq!(report["versions"]["azure-identity"], "1.27.0");

    // Every Graph request went over https to the emulator and succeeded.
    let requests = report["requests"].as_array().unwrap();
    assert!(requests.len() > 40, "{}", requests.len());
    for r in requests {
        let target = r["url"].as_str().unwrap();
        assert!(target.starts_with(&format!("{url}/v1.0/")), "{target}");
        let status = r["status"].as_u64().unwrap();
        assert!(status == 200 || status == 204, "{r}");
        let headers: Vec<&str> = r["requestHeaders"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(headers.contains(&"authorization"), "{r}");
    }

    let org = &flows["organization"];
    assert_eq!(org["id"], TENANT);
    assert_eq!(org["count"], 1);
    assert_eq!(org["onPremisesSyncEnabled"], true);
    assert_eq!(
        org["verifiedDomains"],
        serde_json::json!(["contoso.com", "contoso.onmicrosoft.com"])
    );
    assert!(org["context"].as_str().unwrap().starts_with("https://"));

    let soa = &flows["soa"];
    assert_eq!(soa["before"], false);
    assert_eq!(soa["patchReturned"], true);
    assert_eq!(
        soa["patchOdataType"],
        "#microsoft.graph.onPremisesSyncBehavior"
    );
    assert_eq!(soa["userSyncEnabledAfter"], Value::Null);

    let restore = &flows["restore"];
    assert_eq!(restore["softDeletedByCycle"], true);
    assert_eq!(restore["restoredId"], restore["id"]);
    assert_eq!(restore["restoredType"], "User");
    assert_eq!(restore["restoredOdataType"], "#microsoft.graph.user");
    assert_eq!(restore["syncEnabledAfter"], Value::Null);
    assert_eq!(restore["immutableIdAfter"], Value::Null);
    assert_eq!(restore["sdkDeleteListed"], true);
    assert_eq!(restore["sdkRestoredId"], soa["id"]);

    // Two synced users left synchronisation per user before the tenant-wide cutover.
    let disable = &flows["disable-sync"];
    assert_eq!(disable["syncedBefore"], SYNCED_USERS - 2);
    assert_eq!(disable["orgSyncEnabledRightAfter"], false);
    assert_eq!(disable["emulatorSyncState"], "Disabled");
    assert_eq!(disable["syncedAfter"], 0);

    let users = control(&url, &ca, "/users");
    let all = users["value"].as_array().unwrap();
    let total = all.len() as u64;
    let list = &flows["list-users"];
    assert_eq!(list["count"], total);
    assert_eq!(list["items"], total);
    assert_eq!(list["distinct"], total);
    assert_eq!(list["firstPageSize"], PAGE_SIZE);
    assert_eq!(list["pages"], total.div_ceil(PAGE_SIZE));
    assert_eq!(list["nextLinksFollowed"], total.div_ceil(PAGE_SIZE) - 1);
    assert_eq!(list["allHttps"], true);

    // seed-001's last step: no user keeps an ImmutableID (the restored one lost it earlier).
    let clear = &flows["clear-immutable-ids"];
    assert_eq!(clear["cleared"], SYNCED_USERS - 1);
    assert_eq!(clear["remainingAmongChecked"], 0);
    assert!(all.iter().all(|u| u["onPremisesImmutableId"].is_null()));
    assert!(all.iter().all(|u| u["onPremisesSyncEnabled"] != true));

    let state = control(&url, &ca, "/state");
    assert_eq!(state["organization"]["syncState"], "Disabled");
    assert_eq!(state["users"]["withImmutableId"], 0);
    assert_eq!(state["users"]["synced"], 0);
    // MSAL caches its token: one token for the whole run.
    assert_eq!(state["tokens"]["issued"], 1);
    assert_eq!(state["tokens"]["refused"], 0);
    // Every HTTP request the SDK made, plus the three requests inside its batch.
    assert_eq!(state["requests"]["batches"], 1);
    assert_eq!(state["requests"]["batchItems"], 3);
    assert_eq!(state["requests"]["total"], requests.len() as u64 + 3);
    assert_eq!(state["writes"]["refused"], 0);
    batch_and_delta(flows);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `$batch` and delta flows.
fn batch_and_delta(flows: &Value) {
    let statuses = &flows["batch"]["statuses"];
    assert_eq!(statuses["1"], 200, "{statuses}");
    assert_eq!(statuses["2"], 200, "{statuses}");
    assert_eq!(statuses["3"], 204, "{statuses}");
    let delta = &flows["delta"];
    assert_eq!(delta["deltaLinkHttps"], true);
    assert_eq!(delta["changedSeen"], true);
    assert_eq!(delta["secondRoundDeltaLink"], true);
}
