//! The soak scenario: a tenant, a CloudUserConversion with exclusions, the operator run as its
//! own process and killed with SIGKILL at seeded points (journal growth), restarted on the same
//! journal, while the chaos injects faults; then one last run to the end.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use entra_cloud_operator::emulator::{DEFAULT_CLIENT_ID, DEFAULT_TENANT_ID};
use serde_json::{Value, json};

use super::chaos::{self, ChaosLog};
use super::procs::{Emulator, LineCounter, Operator, run, temp_dir};

/// A recognisable client secret for the run (the emulator is started with it).
pub const SECRET: &str = "soak-client-secret-4d1f";
/// Journal lines a selected user costs when nothing fails: intent and outcome, two steps.
const LINES_PER_USER: u64 = 4;

/// The size and randomness of a run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Synchronised users in the tenant.
    pub users: usize,
    /// SIGKILLs before the last run.
    pub kills: usize,
    /// Seeds the tenant, the exclusions, the kill points and the chaos.
    pub seed: u64,
    /// Emulated seconds per real second (emulator and operator alike), so that the write quota
    /// (3,000 per 150 s) does not make a large run last an hour.
    pub time_scale: f64,
    /// `rollout.waveSize`.
    pub wave_size: i64,
}

impl Config {
    /// From `SOAK_USERS`, `SOAK_KILLS` and `SOAK_SEED`, with `users` by default.
    pub fn from_env(users: usize) -> Config {
        let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
        let users = env("SOAK_USERS").map_or(users, |u| u as usize);
        Config {
            users,
            kills: env("SOAK_KILLS").map_or(3, |k| k as usize),
            seed: env("SOAK_SEED").unwrap_or_else(|| fastrand::u64(..)),
            time_scale: (users as f64 / 1000.0).clamp(1.0, 50.0),
            wave_size: if users > 2000 { 500 } else { 100 },
        }
    }
}

/// A kill: which run, at how many journal lines, how long after the start of that run.
#[derive(Debug, Clone)]
pub struct Kill {
    pub run: usize,
    pub journal_lines: u64,
    pub after: Duration,
}

/// What the run left, for the checks.
pub struct Outcome {
    pub emu: Arc<Emulator>,
    pub dir: PathBuf,
    pub journal: PathBuf,
    /// `/_emulator/users` before the run.
    pub before: Vec<Value>,
    /// UPNs excluded by name (lowercase).
    pub excluded_upns: BTreeSet<String>,
    /// Object ids excluded through the excluded group.
    pub excluded_group_members: BTreeSet<String>,
    /// The CloudUserConversion as the last run printed it.
    pub resource: Value,
    pub kills: Vec<Kill>,
    pub chaos: Arc<ChaosLog>,
    pub elapsed: Duration,
}

/// Sets the tenant up, runs the operator through the kills and to the end.
pub async fn run_soak(cfg: &Config) -> Outcome {
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(cfg.seed);
    let dir = temp_dir("soak");
    let groups = (cfg.users / 20).max(10).to_string();
    let scale = cfg.time_scale.to_string();
    let emu = Arc::new(Emulator::start(&[
        "--users",
        &cfg.users.to_string(),
        "--groups",
        &groups,
        "--seed",
        &(cfg.seed % 1_000_000).to_string(),
        "--time-scale",
        &scale,
        "--latency",
        chaos::BASELINE_LATENCY,
        "--client-secret",
        SECRET,
    ]));
    let before = emu.users().await;

    // Exclusions: the break-glass accounts, ~3 % of the synced users by name, and the members
    // of the smallest synced group with at least two user members.
    let synced: Vec<&Value> = before.iter().filter(|u| u["kind"] == "synced").collect();
    let mut excluded_upns: BTreeSet<String> = before
        .iter()
        .filter(|u| u["kind"] == "breakGlass")
        .map(upn)
        .collect();
    assert_eq!(excluded_upns.len(), 2, "two break-glass accounts");
    let by_name = (synced.len() * 3 / 100).max(3);
    for _ in 0..by_name {
        excluded_upns.insert(upn(synced[rng.usize(..synced.len())]));
    }
    let user_ids: BTreeSet<&str> = before.iter().filter_map(|u| u["id"].as_str()).collect();
    let group = emu.get("groups").await["value"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|g| g["kind"] == "synced")
        .map(|g| {
            let members: BTreeSet<String> = g["members"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m.as_str())
                .filter(|m| user_ids.contains(m))
                .map(str::to_string)
                .collect();
            (g["id"].as_str().unwrap_or_default().to_string(), members)
        })
        .filter(|(_, m)| m.len() >= 2)
        .min_by_key(|(id, m)| (m.len(), id.clone()))
        .expect("a synced group with user members");

    let manifests = dir.join("manifests");
    let selected_max = before.len() as i64;
    let wave = cfg.wave_size;
    write_manifests(
        &manifests.join("soak.yaml"),
        json!({
            "tenantRef": {"name": "contoso"},
            "mode": "Apply",
            "method": "SourceOfAuthority",
            "clearImmutableId": true,
            "selector": {"domains": ["contoso.com", "contoso.onmicrosoft.com"]},
            "exclude": {
                "userPrincipalNames": excluded_upns,
                "groups": [{"id": group.0}]
            },
            // A wave may lose users to faults that outlast the client's retries: they stay
            // pending and go in a later wave instead of halting the rollout.
            "rollout": {"maxObjects": selected_max, "canary": 5, "waveSize": wave,
                        "pauseBetweenWaves": "0s", "maxFailuresPerWave": wave}
        }),
    );
    let journal = dir.join("journal.jsonl");
    let extra = ["--time-scale", scale.as_str()];

    // The chaos runs from the first process to the end of the last.
    chaos::steady(&emu).await;
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(ChaosLog::default());
    let chaos_task = tokio::spawn(chaos::run(
        emu.clone(),
        cfg.seed ^ 0x5eed,
        stop.clone(),
        log.clone(),
    ));

    // Kill points: journal line counts, well inside the run (it writes at least
    // LINES_PER_USER per selected user), seeded; one restart meets a token outage.
    let expected = (synced.len() - by_name) as u64 * LINES_PER_USER;
    let mut points: Vec<u64> = (0..cfg.kills)
        .map(|_| (expected as f64 * (0.08 + 0.62 * rng.f64())) as u64 + 1)
        .collect();
    points.sort_unstable();
    let outage_before = if cfg.kills > 1 { 1 } else { 0 };
    let mut counter = LineCounter::new(&journal);
    let mut kills = Vec::new();
    for (run_no, point) in points.iter().enumerate() {
        if run_no == outage_before {
            chaos::token_outage(&emu, 3.0).await;
        }
        // Each run gets at least one journal line of its own before it dies.
        let point = (*point).max(counter.update() + 1);
        let mut op = Operator::apply(&emu, &manifests, &journal, &dir, run_no, &extra);
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(1800);
        let mut stormed = run_no > 0;
        loop {
            assert!(
                Instant::now() < deadline,
                "run {run_no}: the journal did not reach {point} lines (at {})\n{}",
                counter.lines,
                op.logs()
            );
            if let Some(status) = op.exited() {
                panic!(
                    "run {run_no} exited ({status}) before its kill point ({point} lines, at {})\n{}",
                    counter.lines,
                    op.logs()
                );
            }
            let lines = counter.update();
            if lines >= point {
                break;
            }
            if !stormed && lines > 0 {
                // The first wave is going out: a 429 storm is sure to meet requests.
                chaos::storm_now(&emu, &log).await;
                stormed = true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Anywhere from at once (between a journal append and the requests it announces) to a
        // quarter second later (requests in flight, answers on their way).
        tokio::time::sleep(Duration::from_millis(rng.u64(0..250))).await;
        op.kill9();
        kills.push(Kill {
            run: run_no,
            journal_lines: counter.update(),
            after: t0.elapsed(),
        });
        // What a crash leaves verifies (an append it cut short is reported, not an error).
        let (code, out, err) = run(&["journal", "verify", "--journal", path(&journal)]);
        assert_eq!(code, 0, "after kill {run_no}: {out}{err}");
    }

    // The last run, to the end, still under chaos.
    let mut last = Operator::apply(&emu, &manifests, &journal, &dir, cfg.kills, &extra);
    let status = last.wait(Duration::from_secs(1800)).await;
    stop.store(true, Ordering::Relaxed);
    let _ = chaos_task.await;
    emu.clear_faults().await;
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "the last run ends Ready (exit 0)\n{}",
        last.logs()
    );
    let printed: Value = serde_json::from_str(&std::fs::read_to_string(&last.stdout).unwrap())
        .unwrap_or_else(|e| panic!("the last run prints JSON: {e}\n{}", last.logs()));
    let resource = printed["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["kind"] == "CloudUserConversion")
        .cloned()
        .expect("the conversion is printed");
    Outcome {
        emu,
        dir,
        journal,
        before,
        excluded_upns,
        excluded_group_members: group.1,
        resource,
        kills,
        chaos: log,
        elapsed: started.elapsed(),
    }
}

pub fn upn(u: &Value) -> String {
    u["userPrincipalName"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A Secret, a TenantSyncPolicy that only observes, and a CloudUserConversion with `spec`.
pub fn write_manifests(file: &Path, spec: Value) {
    let docs = [
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "graph-credentials", "namespace": "identity"},
            "stringData": {"clientSecret": SECRET}
        }),
        json!({
            "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "TenantSyncPolicy",
            "metadata": {"name": "contoso", "namespace": "identity"},
            "spec": {
                "tenantId": DEFAULT_TENANT_ID,
                "credentials": {"clientSecret": {"clientId": DEFAULT_CLIENT_ID,
                    "secretRef": {"name": "graph-credentials", "key": "clientSecret"}}},
                "directorySync": "Unmanaged"
            }
        }),
        json!({
            "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
            "metadata": {"name": "soak", "namespace": "identity"},
            "spec": spec
        }),
    ];
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let text: Vec<String> = docs.iter().map(|d| d.to_string()).collect();
    std::fs::write(file, text.join("\n---\n") + "\n").unwrap();
}
