//! Issue #18: what guarding many tenants costs one operator. The controller runs as its own
//! process (the binary's `controller` subcommand) on the Kubernetes API stand-in, which runs in
//! this process; the emulator serves every tenant from one process of its own
//! (`emulator --tenants N`). Each tenant gets a TenantSyncPolicy observing it
//! (`directorySync: Unmanaged`: Ready once observed, then guarded through delta queries).
//!
//! Time runs faster (`--time-scale` on both) so the five-minute guard interval lasts seconds.
//! The controller's peak RSS is its `VmHWM`; its CPU is read from `/proc/PID/stat` over several
//! guard intervals, per guard pass (its `/metrics` counts the passes), and given as the share
//! of one core it would take at the real interval: CPU per pass × tenants / 300 s.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::fake_apiserver::FakeApiServer;
use entra_cloud_operator::emulator::tenants::tenant_id;
use entra_cloud_operator::emulator::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT_ID};
use entra_cloud_operator::reconcile::GUARD_INTERVAL;
use serde_json::{Value, json};

use crate::process::{EmulatorProcess, cpu_seconds, peak_rss_kib};
use crate::report::{Report, Row};

/// Guard intervals the CPU is averaged over.
const INTERVALS: u32 = 4;
const RSS_TARGET_MIB: f64 = 128.0;
const CPU_TARGET: f64 = 0.05;

/// The controller process, killed on drop.
struct ControllerProcess {
    child: Child,
    metrics: String,
    _dir: TempDir,
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

fn start_controller(api: &FakeApiServer, scale: f64) -> ControllerProcess {
    let dir = std::env::temp_dir().join(format!(
        "eco-bench-tenants-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kubeconfig = dir.join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: fake, cluster: {{server: '{}'}}}}]\nusers: [{{name: u, user: {{}}}}]\ncontexts: [{{name: c, context: {{cluster: fake, user: u}}}}]\ncurrent-context: c\n",
            api.url()
        ),
    )
    .expect("kubeconfig");
    let metrics = format!("127.0.0.1:{}", free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_entra-cloud-operator"))
        .args([
            "controller",
            "--no-leader-election",
            "--allow-endpoint-override",
            "--journal-namespace",
            "operator",
            "--metrics-addr",
            &metrics,
            "--time-scale",
            &scale.to_string(),
            // Every tenant in one namespace: three workers let two of its passes run at once
            // (a namespace's share), one per tenant (controller/fairness.rs).
            "--workers",
            "3",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("POD_NAMESPACE", "operator")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the controller starts");
    ControllerProcess {
        child,
        metrics: format!("http://{metrics}/metrics"),
        _dir: TempDir(dir),
    }
}

/// Guard (and other) passes of TenantSyncPolicies so far, from the controller's `/metrics`.
async fn passes(http: &reqwest::Client, url: &str) -> Option<f64> {
    let text = http.get(url).send().await.ok()?.text().await.ok()?;
    let sum = text
        .lines()
        .filter(|l| {
            l.starts_with("entra_cloud_operator_reconciles_total{")
                && l.contains("kind=\"TenantSyncPolicy\"")
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    Some(sum)
}

fn ready(obj: &Value) -> bool {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

pub struct Figures {
    pub tenants: usize,
    pub guarded: usize,
    pub rss_mib: f64,
    /// At the real guard interval.
    pub cpu_share: f64,
    /// At the accelerated interval the run used.
    pub cpu_share_scaled: f64,
    pub cpu_ms_per_pass: f64,
    pub scale: f64,
    pub converge_secs: f64,
}

pub async fn measure(tenants: usize, scale: f64) -> Figures {
    let emulator = EmulatorProcess::start(&[
        "--tenants",
        &tenants.to_string(),
        "--users",
        "5",
        "--groups",
        "1",
        "--time-scale",
        &scale.to_string(),
        "--latency",
        "0",
        "--sync-interval",
        "0s",
    ]);
    let api = FakeApiServer::start().await;
    api.put_object(
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "graph-credentials", "namespace": "msp"},
               "stringData": {"clientSecret": DEFAULT_CLIENT_SECRET}}),
    );
    for n in 1..=tenants {
        api.put_object(
            "tenantsyncpolicies",
            json!({
                "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "TenantSyncPolicy",
                "metadata": {"name": format!("tenant-{n}"), "namespace": "msp"},
                "spec": {
                    "tenantId": tenant_id(DEFAULT_TENANT_ID, n),
                    "credentials": {"clientSecret": {"clientId": DEFAULT_CLIENT_ID,
                        "secretRef": {"name": "graph-credentials", "key": "clientSecret"}}},
                    "directorySync": "Unmanaged",
                    "endpoints": {"graph": emulator.url, "login": emulator.url},
                }
            }),
        );
    }
    let started = Instant::now();
    let controller = start_controller(&api, scale);
    let pid = controller.child.id();
    let count_ready = || {
        api.objects("tenantsyncpolicies")
            .iter()
            .filter(|o| ready(o))
            .count()
    };
    let interval = Duration::from_secs_f64(GUARD_INTERVAL.as_secs_f64() / scale);
    let deadline = started + Duration::from_secs(900) + interval * 4;
    while count_ready() < tenants && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let converge_secs = started.elapsed().as_secs_f64();
    // One more interval: every tenant's first guarded pass takes its delta links.
    tokio::time::sleep(interval).await;
    let http = reqwest::Client::new();
    let (p0, c0) = (
        passes(&http, &controller.metrics).await.unwrap_or(0.0),
        cpu_seconds(pid).unwrap_or(0.0),
    );
    let t0 = Instant::now();
    tokio::time::sleep(interval * INTERVALS).await;
    let (p1, c1) = (
        passes(&http, &controller.metrics).await.unwrap_or(0.0),
        cpu_seconds(pid).unwrap_or(0.0),
    );
    let wall = t0.elapsed().as_secs_f64();
    let guarded = count_ready();
    let rss_mib = peak_rss_kib(pid).unwrap_or(0) as f64 / 1024.0;
    let cpu = c1 - c0;
    let per_pass = if p1 > p0 { cpu / (p1 - p0) } else { 0.0 };
    drop(controller);
    api.shutdown().await;
    drop(emulator);
    Figures {
        tenants,
        guarded,
        rss_mib,
        cpu_share: per_pass * tenants as f64 / GUARD_INTERVAL.as_secs_f64(),
        cpu_share_scaled: cpu / wall,
        cpu_ms_per_pass: per_pass * 1_000.0,
        scale,
        converge_secs,
    }
}

pub async fn bench(report: &mut Report) {
    let (tenants, scale) = if report.full {
        (1_000, 20.0)
    } else {
        (5, 600.0)
    };
    // `GUARD_TENANTS=N` measures another size (the per-tenant slope between two sizes).
    let tenants = std::env::var("GUARD_TENANTS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| (1..=entra_cloud_operator::emulator::tenants::MAX_TENANTS).contains(n))
        .unwrap_or(tenants);
    let f = measure(tenants, scale).await;
    // Under `cargo test`, prove only that it works.
    assert_eq!(f.guarded, f.tenants, "every tenant Ready and guarded");
    assert!(f.cpu_ms_per_pass > 0.0, "guard passes were counted");
    report.row(Row {
        name: "guard: tenants guarded by one controller".into(),
        value: format!(
            "{} of {} (all Ready in {:.0} s)",
            f.guarded, f.tenants, f.converge_secs
        ),
        target: "1000".into(),
        met: Some(f.guarded >= 1_000),
    });
    report.row(Row {
        name: format!("guard: controller peak RSS, {} tenants", f.tenants),
        value: format!("{:.1} MiB", f.rss_mib),
        target: format!("<= {RSS_TARGET_MIB} MiB"),
        met: Some(f.rss_mib <= RSS_TARGET_MIB),
    });
    report.row(Row {
        name: format!("guard: controller CPU share, {} tenants", f.tenants),
        value: format!(
            "{:.4} of a core at the 5 min interval ({:.2} ms/pass; {:.3} at time scale {})",
            f.cpu_share, f.cpu_ms_per_pass, f.cpu_share_scaled, f.scale
        ),
        target: format!("< {CPU_TARGET}"),
        met: Some(f.cpu_share < CPU_TARGET),
    });
    report.set("guard_tenants", json!(f.guarded));
    if report.full && f.tenants == 1_000 {
        report.set("guard_rss_mib_1000_tenants", json!(f.rss_mib));
        report.set("guard_cpu_share_1000_tenants", json!(f.cpu_share));
    }
    report.set(
        "guard_tenants_run",
        json!({
            "tenants": f.tenants, "time_scale": f.scale, "users_per_tenant": 5,
            "intervals_measured": INTERVALS, "cpu_ms_per_pass": f.cpu_ms_per_pass,
            "cpu_share_at_time_scale": f.cpu_share_scaled, "seconds_to_ready": f.converge_secs,
            "measured": "controller process (binary `controller` on the API stand-in)",
        }),
    );
}
