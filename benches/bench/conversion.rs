//! Issue #5: a large wave of Source of Authority switches at Graph's write quota, against the
//! emulator as its own process with quotas on and realistic latency, driven by the operator's
//! own `apply` (its own process too, so its memory and CPU are its own).
//!
//! The emulator's quota windows run on emulated time: `--time-scale S` makes the write quota
//! (3,000 per 150 s) S times faster in real time, and `apply --time-scale S` makes the client
//! pace to the same scaled quota. So a 20,000-user wave runs in minutes while every ratio
//! (achieved writes against the quota, 429s) is what it would be at the real quota.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::process::{EmulatorProcess, cpu_seconds, peak_rss_kib};
use crate::report::{Report, Row};

/// Writes per emulated second the write quota allows (3,000 per 150 s).
const WRITE_RATE: f64 = 20.0;
/// The write bucket starts full: this many writes are allowed at once.
const WRITE_BURST: f64 = 3_000.0;

/// One run of `apply` on a wave.
pub struct Run {
    /// Users switched (accepted SOA PATCHes).
    pub writes: u64,
    /// Real seconds `apply` took.
    pub elapsed: f64,
    /// Real seconds from the first accepted switch to the last (polled every 100 ms).
    pub write_phase: f64,
    /// Requests the emulator answered, and how many with 429.
    pub requests: u64,
    pub throttled: u64,
    /// Write attempts the emulator saw (accepted, refused, throttled) and how many it
    /// answered 429.
    pub write_attempts: u64,
    pub writes_throttled: u64,
    /// Users the resource reported failed.
    pub failed: u64,
    /// Peak resident memory of the operator process (KiB) and its CPU seconds.
    pub peak_rss_kib: Option<u64>,
    pub cpu_secs: Option<f64>,
}

impl Run {
    /// Achieved writes per real second while writing.
    pub fn rate(&self) -> f64 {
        self.writes as f64 / self.write_phase.max(1e-3)
    }
}

fn manifests(dir: &Path, url: &str, users: usize, batch: bool) {
    let tenant = entra_cloud_operator::emulator::DEFAULT_TENANT_ID;
    let client = entra_cloud_operator::emulator::DEFAULT_CLIENT_ID;
    let secret = entra_cloud_operator::emulator::DEFAULT_CLIENT_SECRET;
    let text = format!(
        r#"apiVersion: cloudidentity.dev/v1alpha1
kind: TenantSyncPolicy
metadata: {{name: contoso, namespace: bench}}
spec:
  tenantId: {tenant}
  endpoints: {{graph: "{url}", login: "{url}"}}
  credentials:
    clientSecret: {{clientId: {client}, secretRef: {{name: graph-credentials, key: clientSecret}}}}
  directorySync: Unmanaged
  quota: {{tenantSize: Large, headroomPercent: 99, batch: {batch}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: graph-credentials, namespace: bench}}
stringData: {{clientSecret: {secret}}}
---
apiVersion: cloudidentity.dev/v1alpha1
kind: CloudUserConversion
metadata: {{name: wave, namespace: bench}}
spec:
  tenantRef: {{name: contoso}}
  mode: Apply
  method: SourceOfAuthority
  clearImmutableId: false
  selector: {{domains: [contoso.com]}}
  rollout: {{maxObjects: {users}, waveSize: {users}, canary: 0, pauseBetweenWaves: 0s}}
"#
    );
    std::fs::write(dir.join("wave.yaml"), text).expect("manifests");
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "eco-bench-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Starts an emulator of `users` synced users at `scale` (with the flags `extra`), runs `apply`
/// with `concurrency`, and reads the outcome from the emulator and from `apply`'s output.
/// `concurrency` 1 without batching is the seeds' way: one request in flight at a time.
pub async fn run_with(
    users: usize,
    scale: f64,
    latency: &str,
    concurrency: usize,
    extra: &[&str],
) -> Run {
    let users_text = users.to_string();
    let scale_text = scale.to_string();
    let mut args = vec![
        "--users",
        &users_text,
        "--groups",
        "10",
        "--time-scale",
        &scale_text,
        "--latency",
        latency,
        "--sync-interval",
        "0s",
    ];
    args.extend_from_slice(extra);
    let emulator = EmulatorProcess::start(&args);
    let dir = temp_dir("wave");
    manifests(&dir, &emulator.url, users, concurrency > 1);
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_entra-cloud-operator"))
        .arg("apply")
        // The emulator is an endpoint the manifests name.
        .arg("--allow-endpoint-override")
        .arg("-f")
        .arg(dir.join("wave.yaml"))
        .arg("--journal")
        .arg(dir.join("journal.jsonl"))
        .args(["--time-scale", &scale_text])
        .args(["--concurrency", &concurrency.to_string()])
        .args(["-o", "json", "--log-format", "json"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("apply starts");
    let pid = child.id();
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    // Peak memory and CPU, sampled until the process exits (both only grow), and when the
    // emulator saw the first and the last switch.
    let (mut rss, mut cpu) = (None, None);
    let http = reqwest::Client::new();
    let (mut first_write, mut last_write, mut seen) = (None::<Instant>, None::<Instant>, 0);
    let deadline = Instant::now() + Duration::from_secs(3_600);
    loop {
        if let Some(k) = peak_rss_kib(pid) {
            rss = Some(k);
        }
        if let Some(c) = cpu_seconds(pid) {
            cpu = Some(c);
        }
        let writes = switches(&http, &emulator.url).await;
        if writes > seen {
            let now = Instant::now();
            first_write.get_or_insert(now);
            last_write = Some(now);
            seen = writes;
        }
        if child.try_wait().expect("apply status").is_some() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let elapsed = started.elapsed().as_secs_f64();
    let out = reader.join().unwrap_or_default();
    let list: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    let failed = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["kind"] == "CloudUserConversion")
        .filter_map(|i| i["status"]["users"]["failed"].as_u64())
        .sum();
    let state: Value = http
        .get(format!("{}/_emulator/state", emulator.url))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("state json");
    let _ = std::fs::remove_dir_all(&dir);
    Run {
        writes: state["writes"]["byOperation"]["PATCH /users/onPremisesSyncBehavior"]
            .as_u64()
            .unwrap_or(0),
        elapsed,
        // A phase shorter than a few polls is not measured: the whole run stands for it.
        write_phase: match (first_write, last_write) {
            (Some(a), Some(b)) if (b - a).as_secs_f64() >= 1.0 => (b - a).as_secs_f64(),
            _ => elapsed,
        },
        requests: state["requests"]["total"].as_u64().unwrap_or(0),
        throttled: state["requests"]["throttled"].as_u64().unwrap_or(0),
        write_attempts: ["accepted", "refused", "throttled"]
            .iter()
            .filter_map(|k| state["writes"][*k].as_u64())
            .sum(),
        writes_throttled: state["writes"]["throttled"].as_u64().unwrap_or(0),
        failed,
        peak_rss_kib: rss,
        cpu_secs: cpu,
    }
}

/// Accepted user switches so far, as the emulator counts them.
async fn switches(http: &reqwest::Client, url: &str) -> u64 {
    let Ok(answer) = http.get(format!("{url}/_emulator/state")).send().await else {
        return 0;
    };
    let state: Value = answer.json().await.unwrap_or(Value::Null);
    state["writes"]["byOperation"]["PATCH /users/onPremisesSyncBehavior"]
        .as_u64()
        .unwrap_or(0)
}

/// The share of the write quota's capacity used while writing: the writes against what the
/// quota admits in that time (the full bucket plus the refill). The run's other phases
/// (start, token, reading the tenant, the final pass) are reported apart.
fn ceiling_ratio(run: &Run, scale: f64) -> f64 {
    let allowed = (WRITE_BURST + WRITE_RATE * scale * run.write_phase).max(1.0);
    run.writes as f64 / allowed
}

pub async fn bench(report: &mut Report) {
    // Full: 20,000 users with the quota 10× faster; short (under cargo test): just proves it runs.
    let (wave, scale, sequential_wave, rss_users, rss_scale) = if report.full {
        (20_000, 10.0, 300, 100_000, 50.0)
    } else {
        (60, 10.0, 10, 0, 1.0)
    };
    let latency = if report.full { "realistic" } else { "0" };
    // The ceiling is Graph's documented long windows with nothing else using the tenant: the
    // emulator's default background load and burst window off.
    let alone = ["--background-write-share", "0", "--burst-window", "0s"];
    let fast = run_with(wave, scale, latency, 8, &alone).await;
    assert!(fast.writes > 0, "no user was switched");
    let ratio = ceiling_ratio(&fast, scale);
    let throttled = fast.throttled as f64 / fast.requests.max(1) as f64;
    report.row(Row {
        name: "conversion: writes/s against the write quota".into(),
        value: format!("{:.0}/s, {:.1} %", fast.rate(), ratio * 100.0),
        target: ">= 95 %".into(),
        met: report.full.then_some(ratio >= 0.95),
    });
    report.row(Row {
        name: "conversion: answered 429".into(),
        value: format!("{:.2} %", throttled * 100.0),
        target: "< 1 %".into(),
        met: report.full.then_some(throttled < 0.01),
    });
    report.row(Row {
        name: "conversion: failed objects".into(),
        value: format!(
            "{}",
            fast.failed + (wave as u64).saturating_sub(fast.writes)
        ),
        target: "0".into(),
        met: report
            .full
            .then_some(fast.failed == 0 && fast.writes == wave as u64),
    });
    // The seeds' way: one request in flight at a time, same emulator settings.
    let slow = run_with(sequential_wave, scale, latency, 1, &alone).await;
    let speedup = fast.rate() / slow.rate().max(1e-9);
    report.row(Row {
        name: "conversion: speed-up over one at a time".into(),
        value: format!("{speedup:.1}x ({:.1}/s)", slow.rate()),
        target: ">= 4x".into(),
        met: report.full.then_some(speedup >= 4.0),
    });
    let mut rss_mib = fast.peak_rss_kib.map(|k| k as f64 / 1024.0);
    let mut cpu = fast.cpu_secs;
    if rss_users > 0 {
        let big = run_with(rss_users, rss_scale, latency, 16, &alone).await;
        rss_mib = big.peak_rss_kib.map(|k| k as f64 / 1024.0);
        cpu = big.cpu_secs;
        report.set(
            "rss_run",
            json!({"users": rss_users, "time_scale": rss_scale, "writes": big.writes,
                   "elapsed_secs": big.elapsed, "failed": big.failed}),
        );
    }
    report.row(Row {
        name: "operator: peak RSS converting the large tenant".into(),
        value: rss_mib.map_or("n/a".into(), |m| format!("{m:.1} MiB")),
        target: "<= 64 MiB".into(),
        met: report.full.then(|| rss_mib.is_some_and(|m| m <= 64.0)),
    });
    report.row(Row {
        name: "operator: CPU seconds for it".into(),
        value: cpu.map_or("n/a".into(), |c| format!("{c:.1}")),
        target: "-".into(),
        met: None,
    });
    report.set("write_ceiling_ratio", json!(ratio));
    report.set("throttled_share", json!(throttled));
    report.set("failed_objects", json!(fast.failed));
    report.set("speedup_vs_one_at_a_time", json!(speedup));
    report.set("peak_rss_mib_100k", json!(rss_mib));
    report.set(
        "conversion",
        json!({
            "wave_size": wave, "time_scale": scale, "latency": latency,
            "quota_writes_per_150s": 3000, "headroom_percent": 99, "batches_in_flight": 8,
            "writes": fast.writes, "elapsed_secs": fast.elapsed,
            "write_phase_secs": fast.write_phase, "writes_per_sec": fast.rate(),
            "requests": fast.requests, "throttled": fast.throttled,
            "one_at_a_time": {"wave_size": sequential_wave, "writes": slow.writes,
                              "elapsed_secs": slow.elapsed, "writes_per_sec": slow.rate()},
            "operator_cpu_secs": cpu,
        }),
    );
}
