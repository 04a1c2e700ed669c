//! Issue #5: what guarding a converged tenant costs in steady state, at two tenant sizes. The
//! tenant reconciler runs in this process (as the controller runs it) against the emulator as
//! its own process; requests are counted by the emulator, CPU is this process's.

use std::time::{Duration, Instant};

use entra_cloud_operator::api::TenantSyncPolicy;
use entra_cloud_operator::graph::{
    Credential, GraphClient, GraphConfig, RetryPolicy, SecretString,
};
use entra_cloud_operator::journal::{FileJournal, ResourceKey};
use entra_cloud_operator::reconcile::Context;
use entra_cloud_operator::reconcile::GUARD_INTERVAL;
use entra_cloud_operator::reconcile::tenant::{self, Input};
use serde_json::{Value, json};

use crate::process::{EmulatorProcess, cpu_seconds};
use crate::report::{Report, Row};

/// Guarded passes measured once the tenant has converged and the guard has its links.
const PASSES: u64 = 5;

struct Figures {
    requests_per_pass: f64,
    cpu_ms_per_pass: f64,
}

async fn requests(http: &reqwest::Client, url: &str) -> u64 {
    let state: Value = http
        .get(format!("{url}/_emulator/state"))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("state json");
    state["requests"]["total"].as_u64().unwrap_or(0)
}

async fn measure(users: usize) -> Figures {
    let scale = 1_000.0;
    let emulator = EmulatorProcess::start(&[
        "--users",
        &users.to_string(),
        "--groups",
        "50",
        "--time-scale",
        &scale.to_string(),
        "--latency",
        "0",
        "--sync-interval",
        "0s",
        "--no-quotas",
    ]);
    let graph = GraphClient::new(
        GraphConfig {
            graph_root: emulator.url.clone(),
            login_root: emulator.url.clone(),
            scope: "https://graph.microsoft.com/.default".into(),
            tenant_id: entra_cloud_operator::emulator::DEFAULT_TENANT_ID.into(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
            observer: None,
            pacing: None,
            ca_bundle: None,
        },
        Credential::ClientSecret {
            client_id: entra_cloud_operator::emulator::DEFAULT_CLIENT_ID.into(),
            secret: SecretString::new(entra_cloud_operator::emulator::DEFAULT_CLIENT_SECRET),
        },
    )
    .expect("graph client");
    let mut tsp: TenantSyncPolicy = serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1",
        "kind": "TenantSyncPolicy",
        "metadata": {"name": "contoso", "namespace": "bench", "generation": 1},
        "spec": {
            "tenantId": entra_cloud_operator::emulator::DEFAULT_TENANT_ID,
            "credentials": {"clientSecret": {
                "clientId": entra_cloud_operator::emulator::DEFAULT_CLIENT_ID,
                "secretRef": {"name": "graph-credentials", "key": "clientSecret"}}},
            "directorySync": "Disabled",
        }
    }))
    .expect("policy");
    let dir = std::env::temp_dir().join(format!(
        "eco-bench-guard-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("journal.jsonl");
    let key = entra_cloud_operator::journal::default_key(&path).expect("journal key");
    let journal = FileJournal::open(&path, key).expect("journal");
    let guard = tenant::guard::GuardCache::default();
    let http = reqwest::Client::new();
    let pass = async |tsp: &mut TenantSyncPolicy| {
        let ctx = Context {
            graph: &graph,
            journal: &journal,
            resource: ResourceKey {
                kind: "TenantSyncPolicy".into(),
                namespace: "bench".into(),
                name: "contoso".into(),
            },
            concurrency: 16,
            now: jiff::Timestamp::now(),
            guard: &guard,
            ad: None,
            selections: None,
        };
        let outcome = tenant::reconcile(
            Input {
                spec: &tsp.spec,
                generation: tsp.metadata.generation,
                status: tsp.status.as_ref(),
            },
            &ctx,
        )
        .await
        .expect("a pass");
        tsp.status = Some(outcome.status);
    };
    // Converge: the disable propagates over 30 emulated minutes (1.8 s at this scale).
    let deadline = Instant::now() + Duration::from_secs(600);
    let converged = |tsp: &TenantSyncPolicy| {
        tsp.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True" && c.reason == "Converged")
        })
    };
    while !converged(&tsp) {
        assert!(Instant::now() < deadline, "the tenant did not converge");
        pass(&mut tsp).await;
        // The disable waits for its plan to be approved: approve it, as a person would.
        if let Some(plan) = tsp.status.as_ref().and_then(|s| s.plan.clone())
            && tsp.spec.approved_plan.is_none()
        {
            tsp.spec.approved_plan = Some(plan.digest);
            tsp.metadata.generation = tsp.metadata.generation.map(|g| g + 1);
            continue;
        }
        if !converged(&tsp) {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    // The first guarded pass takes its delta links (a full round); then the steady state.
    pass(&mut tsp).await;
    let (before, cpu_before) = (requests(&http, &emulator.url).await, self_cpu());
    for _ in 0..PASSES {
        pass(&mut tsp).await;
    }
    let (after, cpu_after) = (requests(&http, &emulator.url).await, self_cpu());
    let _ = std::fs::remove_dir_all(&dir);
    Figures {
        requests_per_pass: (after - before) as f64 / PASSES as f64,
        cpu_ms_per_pass: (cpu_after - cpu_before) * 1_000.0 / PASSES as f64,
    }
}

fn self_cpu() -> f64 {
    cpu_seconds(std::process::id()).unwrap_or(0.0)
}

pub async fn bench(report: &mut Report) {
    let sizes: [usize; 2] = if report.full {
        [10_000, 100_000]
    } else {
        [100, 400]
    };
    let per_min = 60.0 / GUARD_INTERVAL.as_secs_f64();
    let small = measure(sizes[0]).await;
    let large = measure(sizes[1]).await;
    for (users, f) in [(sizes[0], &small), (sizes[1], &large)] {
        report.row(Row {
            name: if users == sizes[0] {
                "guard: requests/min, converged tenant (smaller)"
            } else {
                "guard: requests/min, converged tenant (larger)"
            }
            .into(),
            value: format!(
                "{:.2} ({users} users, {:.1} ms CPU/pass)",
                f.requests_per_pass * per_min,
                f.cpu_ms_per_pass
            ),
            target: "same at both sizes".into(),
            met: None,
        });
    }
    let independent = (small.requests_per_pass - large.requests_per_pass).abs() < 1e-9;
    report.row(Row {
        name: "guard: cost independent of tenant size".into(),
        value: if independent { "yes" } else { "no" }.into(),
        target: "yes".into(),
        met: Some(independent),
    });
    report.set(
        "guard_requests_per_min_10k",
        json!(small.requests_per_pass * per_min),
    );
    report.set(
        "guard_requests_per_min_100k",
        json!(large.requests_per_pass * per_min),
    );
    report.set(
        "guard",
        json!({
            "tenant_sizes": sizes, "guard_interval_secs": GUARD_INTERVAL.as_secs(),
            "passes_measured": PASSES,
            "requests_per_pass": [small.requests_per_pass, large.requests_per_pass],
            "cpu_ms_per_pass": [small.cpu_ms_per_pass, large.cpu_ms_per_pass],
        }),
    );
}
