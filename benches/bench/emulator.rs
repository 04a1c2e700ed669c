//! How many simple requests per second the emulator serves (quotas off, no latency), so it is
//! never the bottleneck when the operator is measured against it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::process::{EmulatorProcess, cpu_seconds};
use crate::report::{Report, Row};

/// Issue #7's floor on this 2-core machine.
const TARGET_RPS: f64 = 5_000.0;

pub async fn run(report: &mut Report) {
    let (duration, workers, users) = if report.full {
        (Duration::from_secs(5), 32, "10000")
    } else {
        (Duration::from_millis(300), 4, "100")
    };
    let emulator = EmulatorProcess::start(&[
        "--no-quotas",
        "--latency",
        "0",
        "--users",
        users,
        "--groups",
        "10",
    ]);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(workers)
        .build()
        .expect("http client");
    let token = Arc::new(emulator.token(&http).await);
    let listed: serde_json::Value = http
        .get(format!("{}/_emulator/users", emulator.url))
        .send()
        .await
        .expect("control request")
        .json()
        .await
        .expect("users");
    let ids: Arc<Vec<String>> = Arc::new(
        listed["value"]
            .as_array()
            .expect("users")
            .iter()
            .filter_map(|u| u["id"].as_str().map(str::to_string))
            .collect(),
    );
    assert!(!ids.is_empty(), "the emulator seeded no users");

    let cpu_before = cpu_seconds(emulator.pid());
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (http, token, ids, url) = (
            http.clone(),
            Arc::clone(&token),
            Arc::clone(&ids),
            emulator.url.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failed = 0_u64;
            let mut i = w;
            while Instant::now() < deadline {
                let id = &ids[i % ids.len()];
                i += workers;
                let sent = Instant::now();
                let answer = http
                    .get(format!("{url}/v1.0/users/{id}?$select=id,displayName"))
                    .bearer_auth(token.as_str())
                    .send()
                    .await;
                let ok = match answer {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    latencies.push(sent.elapsed());
                } else {
                    failed += 1;
                }
            }
            (latencies, failed)
        }));
    }
    let mut latencies = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (l, f) = t.await.expect("worker");
        latencies.extend(l);
        failed += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = match (cpu_before, cpu_seconds(emulator.pid())) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    latencies.sort();
    let served = latencies.len();
    assert!(served > 0, "the emulator served no request");
    assert_eq!(failed, 0, "requests failed");
    let rps = served as f64 / elapsed;
    let pct = |p: f64| {
        let i = ((served as f64 * p) as usize).min(served - 1);
        latencies[i].as_secs_f64() * 1_000.0
    };
    report.row(Row {
        name: "emulator: simple GETs per second (quotas off)".into(),
        value: format!("{rps:.0}/s"),
        target: format!(">= {TARGET_RPS:.0}/s"),
        met: report.full.then_some(rps >= TARGET_RPS),
    });
    report.row(Row {
        name: "emulator: latency p50 / p99".into(),
        value: format!("{:.2} / {:.2} ms", pct(0.5), pct(0.99)),
        target: "-".into(),
        met: None,
    });
    if let Some(cpu) = cpu {
        report.row(Row {
            name: "emulator: CPU seconds per 10,000 requests".into(),
            value: format!("{:.2}", cpu / served as f64 * 10_000.0),
            target: "-".into(),
            met: None,
        });
    }
    report.set(
        "emulator",
        json!({
            "requests_per_sec": rps,
            "target_requests_per_sec": TARGET_RPS,
            "requests": served,
            "failed": failed,
            "p50_ms": pct(0.5),
            "p99_ms": pct(0.99),
            "concurrency": workers,
            "duration_secs": elapsed,
            "emulator_cpu_secs": cpu,
            "tenant_users": users,
        }),
    );
    report.set("emulator_requests_per_sec", json!(rps));
}
