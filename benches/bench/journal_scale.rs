//! Issue #18: the controller at scale in a cluster. The operator's `controller` runs as its own
//! process against the Kubernetes API stand-in (in this process) with the journal in
//! ConfigMaps, converting a large tenant on the emulator (its own process, quotas on a scaled
//! clock). Measured: the controller's peak RSS for the whole conversion, and the bytes the
//! stand-in serves it in a pass once everything is converted (a steady pass).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::process::{EmulatorProcess, peak_rss_kib};
use crate::report::{Report, Row};

use crate::fake_apiserver::{FakeApiServer, Options};

const NS: &str = "bench";
/// Where the controller keeps its journal (and the journal key Secret).
const JOURNAL_NS: &str = "operator";
/// Steady passes measured (their bytes averaged).
const PASSES: u64 = 3;

/// The controller process, killed on drop.
struct ControllerProcess(Child);

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "eco-bench-journal-scale-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The tenant policy, its credentials and a conversion of every user in one wave.
fn seed(api: &FakeApiServer, url: &str, users: usize) {
    use entra_cloud_operator::emulator::{
        DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT_ID,
    };
    api.put_object(
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "graph-credentials", "namespace": NS},
               "stringData": {"clientSecret": DEFAULT_CLIENT_SECRET}}),
    );
    api.put_object(
        "tenantsyncpolicies",
        json!({"apiVersion": "cloudidentity.dev/v1alpha1", "kind": "TenantSyncPolicy",
               "metadata": {"name": "contoso", "namespace": NS, "generation": 1},
               "spec": {"tenantId": DEFAULT_TENANT_ID,
                        "endpoints": {"graph": url, "login": url},
                        "credentials": {"clientSecret": {"clientId": DEFAULT_CLIENT_ID,
                            "secretRef": {"name": "graph-credentials", "key": "clientSecret"}}},
                        "directorySync": "Unmanaged",
                        "quota": {"tenantSize": "Large", "headroomPercent": 99, "batch": true}}}),
    );
    api.put_object(
        "clouduserconversions",
        json!({"apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
               "metadata": {"name": "wave", "namespace": NS, "generation": 1},
               "spec": {"tenantRef": {"name": "contoso"}, "mode": "Apply",
                        "method": "SourceOfAuthority", "clearImmutableId": false,
                        "selector": {"domains": ["contoso.com"]},
                        "rollout": {"maxObjects": users, "waveSize": users, "canary": 0,
                                    "pauseBetweenWaves": "0s"}}}),
    );
}

fn kubeconfig(dir: &std::path::Path, server: &str) -> PathBuf {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: stand-in\n  cluster: {{server: \"{server}\"}}\nusers:\n- name: bench\n  user: {{}}\ncontexts:\n- name: bench\n  context: {{cluster: stand-in, user: bench, namespace: {JOURNAL_NS}}}\ncurrent-context: bench\n"
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text).expect("kubeconfig");
    path
}

fn start_controller(kubeconfig: &std::path::Path, scale: f64) -> ControllerProcess {
    let child = Command::new(env!("CARGO_BIN_EXE_entra-cloud-operator"))
        .arg("controller")
        .args(["--namespaces", NS, "--metrics-addr", "127.0.0.1:0"])
        .args(["--journal-namespace", JOURNAL_NS, "--no-leader-election"])
        .arg("--allow-endpoint-override")
        // The controller's (and the chart's) default: 16 batches in flight cost about 4 MiB
        // more at the peak (docs/scaling.md).
        .args(["--concurrency", "8", "--time-scale", &scale.to_string()])
        .env("KUBECONFIG", kubeconfig)
        .env("POD_NAMESPACE", JOURNAL_NS)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the controller starts");
    ControllerProcess(child)
}

/// The last shard of the conversion's journal (its path), once one exists.
fn last_shard_path(api: &FakeApiServer) -> Option<String> {
    api.objects("configmaps")
        .iter()
        .filter_map(|c| c["metadata"]["name"].as_str())
        .filter(|n| n.starts_with("journal-clouduserconversion-"))
        .max()
        .map(|n| format!("/api/v1/namespaces/{JOURNAL_NS}/configmaps/{n}"))
}

pub async fn bench(report: &mut Report) {
    // Full: 100,000 users, the quota 100× faster; short (under cargo test): proves it runs.
    // `JOURNAL_SCALE_USERS` sets another size (the keys keep their names; `journal_scale.users`
    // says which).
    let (users, scale, limit) = if report.full {
        (100_000, 100.0, Duration::from_secs(7_200))
    } else {
        (500, 100.0, Duration::from_secs(600))
    };
    let users = std::env::var("JOURNAL_SCALE_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(users);
    let users_text = users.to_string();
    let scale_text = scale.to_string();
    let emulator = EmulatorProcess::start(&[
        "--users",
        &users_text,
        "--groups",
        "10",
        "--time-scale",
        &scale_text,
        "--latency",
        "0",
        "--sync-interval",
        "0s",
        "--background-write-share",
        "0",
        "--burst-window",
        "0s",
    ]);
    // The request log would keep every shard written; a short watch log keeps the store small.
    let api = FakeApiServer::start_with(Options {
        keep_requests: false,
        event_log_capacity: 256,
        ..Default::default()
    })
    .await;
    seed(&api, &emulator.url, users);
    let dir = temp_dir();
    let controller = start_controller(&kubeconfig(&dir, &api.url()), scale);
    let pid = controller.0.id();

    // The conversion: until every user is converted, sampling the peak RSS (it only grows).
    let started = Instant::now();
    let mut rss = None;
    let mut status = Value::Null;
    while started.elapsed() < limit {
        if let Some(k) = peak_rss_kib(pid) {
            rss = Some(k);
        }
        status = api
            .get("clouduserconversions", NS, "wave")
            .map(|w| w["status"].clone())
            .unwrap_or(Value::Null);
        if status["converted"].as_u64() == Some(users as u64) && status["pending"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let converted = status["converted"].as_u64().unwrap_or(0);
    let elapsed = started.elapsed().as_secs_f64();
    assert!(
        converted > 0,
        "the controller converted no user; status: {status}"
    );

    // Steady passes: the bytes served from one metadata read of the last shard to the next
    // (one per pass), averaged over a few passes.
    let shard = last_shard_path(&api).expect("the journal is in ConfigMaps");
    let shards = api
        .objects("configmaps")
        .iter()
        .filter(|c| {
            c["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("journal-clouduserconversion-"))
        })
        .count();
    let passes = |api: &FakeApiServer| api.served().get(&shard).map_or(0, |s| s.requests);
    let wait_pass = async |api: &FakeApiServer, n: u64| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while passes(api) < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        passes(api) >= n
    };
    api.reset_served();
    let mut per_pass = None;
    if wait_pass(&api, 1).await {
        api.reset_served();
        if wait_pass(&api, PASSES).await {
            per_pass = Some(api.bytes_served("") / PASSES);
        }
    }
    if let Some(k) = peak_rss_kib(pid) {
        rss = Some(k);
    }
    drop(controller);
    let _ = std::fs::remove_dir_all(&dir);
    api.shutdown().await;

    let rss_mib = rss.map(|k| k as f64 / 1024.0);
    report.row(Row {
        name: format!("controller: peak RSS converting {users} users (ConfigMap journal)"),
        value: rss_mib.map_or("n/a".into(), |m| format!("{m:.1} MiB")),
        target: "<= 64 MiB".into(),
        met: report.full.then(|| rss_mib.is_some_and(|m| m <= 64.0)),
    });
    report.row(Row {
        name: format!("controller: API server bytes per steady pass ({shards} shards)"),
        value: per_pass.map_or("n/a".into(), |b| format!("{b} B")),
        target: "<= 1 MB".into(),
        met: report
            .full
            .then(|| per_pass.is_some_and(|b| b <= 1_000_000)),
    });
    report.set("controller_peak_rss_mib_100k", json!(rss_mib));
    report.set("apiserver_bytes_per_steady_pass_100k", json!(per_pass));
    report.set(
        "journal_scale",
        json!({"users": users, "converted": converted, "time_scale": scale,
               "conversion_secs": elapsed, "journal_shards": shards}),
    );
    assert!(
        per_pass.is_some(),
        "no steady pass was seen after the conversion"
    );
}
