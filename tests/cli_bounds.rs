//! The command line's bounds: no flag value and no file or folder makes it panic or run away
//! (each bad input ends at once with a clear one-line error naming the flag or the file), and
//! `apply --timeout` ends a run whose pass is stuck on an endless server, with exit code 2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const BIN: &str = env!("CARGO_BIN_EXE_entra-cloud-operator");
/// Every invocation ends well within this on a loaded machine, or the test fails.
const BOUND: Duration = Duration::from_secs(60);

const TENANT: &str = "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b";
const TSP: &str = r#"apiVersion: cloudidentity.dev/v1alpha1
kind: TenantSyncPolicy
metadata: {name: contoso, namespace: identity}
spec:
  tenantId: 3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b
  credentials:
    clientSecret:
      clientId: 0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e
      secretRef: {name: graph-credentials, key: clientSecret}
  directorySync: Disabled
---
apiVersion: v1
kind: Secret
metadata: {name: graph-credentials, namespace: identity}
stringData: {clientSecret: "Bounds-Secret-Canary-5e1f"}
"#;
const USER_CONVERSION: &str = include_str!("../examples/user-canary.yaml");

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "eco-cli-bounds-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Kills the child on drop: a failed assertion never leaves a process behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the binary with `args` in `dir`, waiting at most [`BOUND`] (then it is killed and
/// the test fails): the output and the time it took.
fn run_bounded(dir: &Path, args: &[&str]) -> (Output, Duration) {
    run_bounded_with(dir, args, |_| {})
}

/// [`run_bounded`], the command changed by `tweak` first (its environment).
fn run_bounded_with(
    dir: &Path,
    args: &[&str],
    tweak: impl FnOnce(&mut Command),
) -> (Output, Duration) {
    let started = Instant::now();
    let mut command = Command::new(BIN);
    tweak(&mut command);
    let child = command
        .args(args)
        .current_dir(dir)
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_FEDERATED_TOKEN_FILE")
        .env_remove("EMULATOR_CLIENT_SECRET")
        .env("KUBECONFIG", dir.join("no-such-kubeconfig"))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    // Readers drain the pipes so that a chatty child never blocks on a full one.
    let mut out = running.0.stdout.take().unwrap();
    let mut err = running.0.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut b).map(|_| b)
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut b).map(|_| b)
    });
    let status = loop {
        if let Some(s) = running.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < BOUND,
            "{args:?} still running after {BOUND:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    let output = Output {
        status,
        stdout: out.join().unwrap().unwrap(),
        stderr: err.join().unwrap().unwrap(),
    };
    (output, took)
}

/// The fixtures the corpus names, in one directory: the run's working directory.
fn fixtures() -> PathBuf {
    let dir = temp("corpus");
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    std::fs::create_dir_all(dir.join("no-tenant")).unwrap();
    std::fs::write(dir.join("no-tenant/user.yaml"), USER_CONVERSION).unwrap();
    std::fs::create_dir_all(dir.join("binary")).unwrap();
    let noise: Vec<u8> = (0..4096).map(|_| fastrand::u8(..)).chain([0xff]).collect();
    std::fs::write(dir.join("binary/noise.yaml"), noise).unwrap();
    // A directory named like a manifest, where a file is expected.
    std::fs::create_dir_all(dir.join("dir.yaml")).unwrap();
    std::fs::write(dir.join("tenant.yaml"), TSP).unwrap();
    std::os::unix::fs::symlink(dir.join("tenant.yaml"), dir.join("link.pem")).unwrap();
    std::fs::write(dir.join("scalar.yaml"), "42\n").unwrap();
    std::fs::write(dir.join("list.json"), "[1, 2, 3]\n").unwrap();
    std::fs::write(dir.join("broken.yaml"), "kind: [unclosed\n").unwrap();
    // One byte over the cap of a manifest file (8 MiB), as YAML comment lines.
    let line = format!("#{}\n", "x".repeat(1023));
    std::fs::write(dir.join("huge.yaml"), line.repeat(8 * 1024) + "#").unwrap();
    dir
}

/// Invocations that must each end at once with exit code 1 and an error naming what is wrong
/// (`expect`: a text the error must contain).
const CORPUS: &[(&[&str], &str)] = &[
    // Numbers and durations out of range on every numeric flag.
    (
        &["apply", "-f", "tenant.yaml", "--timeout", "1e19"],
        "--timeout",
    ),
    (
        &[
            "apply",
            "-f",
            "tenant.yaml",
            "--timeout",
            "2562047h47m16s855ms",
        ],
        "--timeout",
    ),
    (
        &["apply", "-f", "tenant.yaml", "--timeout=-5s"],
        "--timeout",
    ),
    (
        &[
            "apply",
            "-f",
            "tenant.yaml",
            "--timeout",
            "99999999999999999999h",
        ],
        "--timeout",
    ),
    (
        &["apply", "-f", "tenant.yaml", "--shutdown-grace", "1e19"],
        "--shutdown-grace",
    ),
    (
        &[
            "apply",
            "-f",
            "tenant.yaml",
            "--shutdown-grace",
            "99999999999999999999s",
        ],
        "--shutdown-grace",
    ),
    (
        &["apply", "-f", "tenant.yaml", "--concurrency", "0"],
        "--concurrency",
    ),
    (
        &["apply", "-f", "tenant.yaml", "--concurrency", "65"],
        "--concurrency",
    ),
    (
        &["apply", "-f", "tenant.yaml", "--concurrency=-1"],
        "--concurrency",
    ),
    (
        &[
            "plan",
            "-f",
            "tenant.yaml",
            "--concurrency",
            "18446744073709551616",
        ],
        "--concurrency",
    ),
    (
        &["apply", "-f", "tenant.yaml", "--time-scale", "0"],
        "--time-scale",
    ),
    (
        &["apply", "-f", "tenant.yaml", "--time-scale=-1"],
        "--time-scale",
    ),
    (
        &["apply", "-f", "tenant.yaml", "--time-scale", "1e308"],
        "--time-scale",
    ),
    (
        &["plan", "-f", "tenant.yaml", "--time-scale", "1e-300"],
        "--time-scale",
    ),
    (
        &["plan", "-f", "tenant.yaml", "--time-scale", "NaN"],
        "--time-scale",
    ),
    (
        &["plan", "-f", "tenant.yaml", "--time-scale", "inf"],
        "--time-scale",
    ),
    (&["demo", "--users", "18446744073709551616"], "--users"),
    (&["demo", "--users", "99999999999"], "--users"),
    (&["demo", "--users=-1"], "--users"),
    (&["demo", "--groups", "1e9"], "--groups"),
    (&["demo", "--time-scale", "0"], "--time-scale"),
    (&["demo", "--time-scale", "1e300"], "--time-scale"),
    (&["demo", "--propagation", "1e19"], "--propagation"),
    (&["demo", "--timeout", "9999999999999h"], "--timeout"),
    (
        &["plan", "-f", "tenant.yaml", "--timeout", "9999999999999h"],
        "--timeout",
    ),
    (&["plan", "-f", "tenant.yaml", "--timeout=-5s"], "--timeout"),
    (&["emulator", "--users", "18446744073709551615"], "--users"),
    (&["emulator", "--groups", "99999999999"], "--groups"),
    (&["emulator", "--time-scale", "1e308"], "--time-scale"),
    (&["emulator", "--time-scale=-3600"], "--time-scale"),
    (&["emulator", "--seed=-1"], "--seed"),
    (&["emulator", "--seed", "18446744073709551616"], "--seed"),
    (&["emulator", "--propagation", "1e19"], "--propagation"),
    (
        &["emulator", "--sync-interval", "2562047h47m17s"],
        "--sync-interval",
    ),
    (&["emulator", "--latency", "1e19"], "--latency"),
    (&["controller", "--workers", "0"], "--workers"),
    (
        &["controller", "--workers", "99999999999999999999"],
        "--workers",
    ),
    (&["controller", "--concurrency", "0"], "--concurrency"),
    // Files and folders: missing, empty, endless, binary, huge, a directory for a file.
    (&["apply", "-f", "no-such-file.yaml"], "no-such-file.yaml"),
    (&["apply", "-f", "empty"], "no TenantSyncPolicy"),
    (&["plan", "-f", "dir.yaml"], "no TenantSyncPolicy"),
    (
        &["apply", "-f", "/dev/zero"],
        "/dev/zero is larger than 8388608 bytes",
    ),
    (
        &["plan", "-f", "/dev/zero"],
        "/dev/zero is larger than 8388608 bytes",
    ),
    (&["apply", "-f", "/dev/null"], "no TenantSyncPolicy"),
    (&["apply", "-f", "binary"], "noise.yaml is not UTF-8 text"),
    (
        &["apply", "-f", "huge.yaml"],
        "huge.yaml is larger than 8388608 bytes",
    ),
    (
        &["apply", "-f", "scalar.yaml"],
        "scalar.yaml document 1: not a Kubernetes manifest",
    ),
    (
        &["apply", "-f", "list.json"],
        "list.json document 1: not a Kubernetes manifest",
    ),
    (
        &["plan", "-f", "broken.yaml"],
        "broken.yaml: not valid YAML",
    ),
    (
        &["demo", "--examples", "no-tenant"],
        "no TenantSyncPolicy among the manifests",
    ),
    (&["demo", "--examples", "empty"], "no TenantSyncPolicy"),
    (
        &["demo", "--examples", "/dev/zero"],
        "/dev/zero is larger than",
    ),
    (&["demo", "--examples", "binary"], "not UTF-8 text"),
    (&["demo", "--examples", "no-such-dir"], "no-such-dir"),
    (
        &["emulator", "--tenant-file", "/dev/zero"],
        "/dev/zero is larger than",
    ),
    (
        &["emulator", "--tenant-file", "empty"],
        "empty is a directory",
    ),
    (
        &["emulator", "--tenant-file", "binary/noise.yaml"],
        "not UTF-8 text",
    ),
    (
        &["emulator", "--tenant-file", "scalar.yaml"],
        "--tenant-file",
    ),
    (&["emulator", "--apps", "/dev/zero"], "--apps"),
    (&["emulator", "--apps", "list.json"], "--apps"),
    (
        &["emulator", "--client-certificate", "empty"],
        "empty is a directory",
    ),
    (
        &["emulator", "--client-certificate", "tenant.yaml"],
        "--client-certificate",
    ),
    // Written by a rename: a directory or a symlink (it could point at a device) is refused.
    (
        &["emulator", "--tls", "--tls-cert-out", "empty"],
        "--tls-cert-out empty exists and is not a regular file",
    ),
    (
        &["emulator", "--tls", "--tls-cert-out", "link.pem"],
        "--tls-cert-out link.pem exists and is not a regular file",
    ),
    (
        &[
            "emulator",
            "--ad-url",
            "ldap://127.0.0.1:9",
            "--ad-bind-dn",
            "CN=x",
            "--ad-base-dn",
            "DC=x",
            "--ad-synced-ou",
            "OU=s,DC=x",
            "--ad-password-file",
            "/dev/zero",
        ],
        "--ad-password-file",
    ),
    (
        &[
            "emulator",
            "--ad-url",
            "ldap://127.0.0.1:9",
            "--ad-bind-dn",
            "CN=x",
            "--ad-base-dn",
            "DC=x",
            "--ad-synced-ou",
            "OU=s,DC=x",
            "--ad-password-file",
            "empty",
        ],
        "--ad-password-file",
    ),
];

/// The controller runs with glibc's malloc set to give memory back (it executes itself again
/// with `GLIBC_TUNABLES`, its arguments kept), and keeps what a deployment set instead.
#[test]
fn the_controller_sets_the_allocator_once_and_keeps_a_deployments_own() {
    use entra_cloud_operator::controller::allocator::GLIBC_TUNABLES;
    let dir = temp("allocator");
    // Without a cluster the controller ends at once, after saying its settings.
    let args = ["controller", "--namespaces", "bounds-ns"];
    let said = |tweak: &dyn Fn(&mut Command)| {
        let (out, _) = run_bounded_with(&dir, &args, |c| tweak(c));
        assert!(!out.status.success(), "no cluster: the controller fails");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let set = said(&|c| {
        c.env_remove("GLIBC_TUNABLES");
    });
    assert_eq!(
        set.matches("memory allocator settings").count(),
        1,
        "said once, by the process executed again: {set}"
    );
    assert!(
        set.contains(&format!("GLIBC_TUNABLES={GLIBC_TUNABLES}")),
        "{set}"
    );
    assert!(set.contains("kubeconfig"), "the same arguments ran: {set}");
    let own = "glibc.malloc.arena_max=4";
    let kept = said(&|c| {
        c.env("GLIBC_TUNABLES", own);
    });
    assert!(
        kept.lines()
            .any(|l| l.ends_with(&format!("GLIBC_TUNABLES={own}"))),
        "the deployment's own value is kept: {kept}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without a cluster to talk to, the controller and a cluster journal command say so once,
/// with what was tried and the fix (kube's causes repeat its message: not printed after it).
#[test]
fn without_a_cluster_the_error_is_said_once_with_the_fix() {
    let dir = temp("no-cluster");
    for args in [
        &["controller", "--namespaces", "bounds-ns"][..],
        &["journal", "verify", "--resource", "CloudUserConversion/a/b"][..],
    ] {
        let (out, _) = run_bounded(&dir, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {err}");
        assert_eq!(
            err.matches("no-such-kubeconfig").count(),
            1,
            "{args:?}: the kubeconfig tried is named once: {err}"
        );
        assert!(
            err.contains("no Kubernetes API server") && err.contains("point KUBECONFIG at"),
            "{args:?}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_flag_value_or_folder_panics_and_each_error_is_one_clear_line() {
    let dir = fixtures();
    let mut failures = Vec::new();
    for (args, expect) in CORPUS {
        let (out, _) = run_bounded(&dir, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let code = out.status.code();
        let ok = code == Some(1)
            && !stderr.contains("panicked")
            && first.starts_with("error: ")
            && stderr.contains(expect)
            && !stderr.contains("Bounds-Secret-Canary");
        if !ok {
            failures.push(format!("{args:?}: exit {code:?}, stderr:\n{stderr}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} invocations failed:\n{}",
        failures.len(),
        CORPUS.len(),
        failures.join("\n---\n")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A server on 127.0.0.1 that answers tokens at once and every Graph request with a body
/// that trickles a byte every 50 ms, forever: a pass against it never ends on its own.
async fn endless_server(requests: Arc<AtomicUsize>) -> String {
    let app = Router::new().fallback(move |req: Request| {
        let token = req.uri().path().ends_with("/oauth2/v2.0/token");
        if !token {
            requests.fetch_add(1, Ordering::SeqCst);
        }
        async move {
            if token {
                return axum::Json(serde_json::json!({
                    "token_type": "Bearer", "expires_in": 3599, "access_token": "Bounds-Token"
                }))
                .into_response();
            }
            let drip = futures::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some((Ok::<_, Infallible>(Bytes::from_static(b" ")), ()))
            });
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(drip))
                .unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_cuts_a_pass_stuck_on_an_endless_server_with_exit_2() {
    let requests = Arc::new(AtomicUsize::new(0));
    let url = endless_server(requests.clone()).await;
    let dir = temp("timeout");
    std::fs::write(dir.join("tenant.yaml"), TSP).unwrap();
    let args = [
        "apply",
        "-f",
        "tenant.yaml",
        "--graph-url",
        &url,
        "--login-url",
        &url,
        "--journal",
        "journal.jsonl",
        "--progress",
        "plain",
        "--timeout",
        "2s",
        "-o",
        "yaml",
    ];
    let args: Vec<String> = args.iter().map(|a| (*a).to_string()).collect();
    let cwd = dir.clone();
    let (out, took) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_bounded(&cwd, &args)
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The client's own limits (a 60 s request timeout, retries, a 10-minute deadline) would
    // hold this pass for minutes: ending within the bound is the run's deadline at work.
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(took < BOUND, "took {took:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("timed out (--timeout): pass in flight abandoned"),
        "{stderr}"
    );
    assert!(
        requests.load(Ordering::SeqCst) >= 1,
        "the pass reached the endless server"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(TENANT),
        "the resources are printed: {stdout}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_has_a_timeout_too_and_says_nothing_was_written() {
    let requests = Arc::new(AtomicUsize::new(0));
    let url = endless_server(requests.clone()).await;
    let dir = temp("plan-timeout");
    std::fs::write(dir.join("tenant.yaml"), TSP).unwrap();
    let args: Vec<String> = [
        "plan",
        "-f",
        "tenant.yaml",
        "--graph-url",
        &url,
        "--login-url",
        &url,
        "--timeout",
        "2s",
    ]
    .iter()
    .map(|a| (*a).to_string())
    .collect();
    let cwd = dir.clone();
    let (out, took) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_bounded(&cwd, &args)
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Without the deadline the client's own limits would hold the read for minutes.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(took < BOUND, "took {took:?}");
    assert!(
        stderr.contains("plan timed out after --timeout 2s")
            && stderr.contains("nothing was written"),
        "{stderr}"
    );
    assert!(
        requests.load(Ordering::SeqCst) >= 1,
        "the plan reached the server"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
