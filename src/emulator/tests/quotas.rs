//! Resource-unit and write quotas, time-scale conversions, and injected faults.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{Answer, Harness, config};
use crate::emulator::EmulatorConfig;

/// Sends `path` (GET, or PATCH with `body`) from `workers` concurrent tasks until one answer is
/// a 429, at most `limit` requests in all; returns the first 429 and whether an answer before
/// it reported usage above 80 %.
async fn until_throttled(
    h: &Arc<Harness>,
    path: String,
    body: Option<serde_json::Value>,
    workers: usize,
    limit: usize,
) -> (Option<Answer>, bool) {
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (h, path, body, sent) = (Arc::clone(h), path.clone(), body.clone(), Arc::clone(&sent));
        tasks.push(tokio::spawn(async move {
            let mut warned = false;
            while sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < limit {
                let method = if body.is_some() {
                    Method::PATCH
                } else {
                    Method::GET
                };
                let a = h.call(method, &path, body.clone(), &[]).await;
                if a.status == StatusCode::TOO_MANY_REQUESTS {
                    sent.store(limit, std::sync::atomic::Ordering::SeqCst);
                    return (Some(a), warned);
                }
                assert!(a.status.is_success(), "{:?}", a.body);
                warned |= a.header("x-ms-throttle-limit-percentage").is_some();
            }
            (None, warned)
        }));
    }
    let mut first = None;
    let mut warned = false;
    for t in tasks {
        let (a, w) = t.await.expect("worker");
        warned |= w;
        first = first.or(a);
    }
    (first, warned)
}

fn assert_throttle_headers(a: &Answer, h: &Harness, scope: &str, information: &str) {
    assert_eq!(a.code(), "TooManyRequests");
    assert_eq!(a.message(), "Please retry again later.");
    assert_eq!(a.body["error"]["innerError"]["status"], "429");
    let wanted = format!("{scope}/{}/{}", h.config.client_id, h.config.tenant_id);
    assert_eq!(a.header("x-ms-throttle-scope"), Some(wanted.as_str()));
    assert_eq!(a.header("x-ms-throttle-information"), Some(information));
    assert!(
        a.header("x-ms-throttle-limit-percentage")
            .and_then(|p| p.parse::<f64>().ok())
            .is_some_and(|p| p >= 1.0)
    );
}

#[tokio::test]
async fn resource_units_run_out_and_retry_after_is_enough() {
    // 15 users: a small tenant, 3,500 RU per 10 s; a user list without $select costs 2 RU.
    let h = Arc::new(Harness::start(config(10, 1)).await);
    let (throttled, warned) = until_throttled(&h, "/v1.0/users".into(), None, 8, 20_000).await;
    let a = throttled.expect("the quota runs out");
    assert!(warned, "no x-ms-throttle-limit-percentage above 80 %");
    assert_throttle_headers(
        &a,
        &h,
        "Tenant_Application/ReadWrite",
        "ResourceUnitLimitExceeded",
    );
    // At time scale 1, whole seconds rounded up, as Graph does.
    let retry_after = a.header("retry-after").unwrap_or_default().to_string();
    assert_eq!(retry_after, "1");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let again = h.get("/v1.0/users").await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(again.header("x-ms-resource-unit"), Some("2"));
    assert!(
        h.state().await["requests"]["throttled"]
            .as_u64()
            .is_some_and(|n| n >= 1)
    );
}

#[tokio::test]
async fn resource_unit_costs_follow_the_documented_modifiers() {
    let h = Harness::small().await;
    let ru = |a: &Answer| {
        a.header("x-ms-resource-unit")
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(ru(&h.get("/v1.0/users").await), "2");
    assert_eq!(ru(&h.get("/v1.0/users?$select=id").await), "1");
    assert_eq!(ru(&h.get("/v1.0/users?$top=5").await), "1");
    assert_eq!(ru(&h.get("/v1.0/users?$top=20").await), "2");
    assert_eq!(ru(&h.get("/v1.0/groups").await), "1");
    assert_eq!(ru(&h.get("/v1.0/organization").await), "1");
    assert_eq!(
        ru(&h.get("/v1.0/users/admin@contoso.onmicrosoft.com").await),
        "1"
    );
    h.emu.shutdown().await;
}

#[tokio::test]
async fn writes_are_limited_to_3000_per_150_seconds_of_emulated_time() {
    // A slow clock (0.1 emulated ms per real second) keeps the bucket from refilling while the
    // test writes; time/advance then supplies the emulated time. The documented windows alone
    // (the burst window and background load have their own test).
    let h = Arc::new(
        Harness::start(EmulatorConfig {
            time_scale: 0.000_1,
            quota_settings: crate::emulator::quota::QuotaSettings::OFF,
            ..config(600, 2)
        })
        .await,
    );
    let path = h.admin_path().await;
    let (throttled, _) = until_throttled(
        &h,
        path.clone(),
        Some(json!({"jobTitle": "Pilot"})),
        8,
        3_100,
    )
    .await;
    let a = throttled.expect("the write quota runs out");
    assert_throttle_headers(&a, &h, "Tenant_Application/Write", "WriteLimitExceeded");
    let state = h.state().await;
    assert_eq!(state["writes"]["accepted"], 3_000);
    // 20 writes per emulated second: one write needs up to 0.05 s emulated = 500 s real at
    // 0.0001× (a little less for what the slow clock refilled meanwhile).
    let retry = a
        .header("retry-after")
        .and_then(|r| r.parse::<f64>().ok())
        .unwrap_or_default();
    assert!(retry > 450.0 && retry <= 500.0, "{retry}");
    // A throttled write changes nothing; reads still have resource units.
    let refused = h.patch(&path, json!({"jobTitle": "Throttled"})).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let read = h.get(&format!("{path}?$select=jobTitle")).await;
    assert_eq!(
        (read.status, read.body["jobTitle"].as_str()),
        (StatusCode::OK, Some("Pilot"))
    );
    h.advance(0.05).await;
    let ok = h.patch(&path, json!({"jobTitle": "After"})).await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{:?}", ok.body);
}

#[tokio::test]
async fn retry_after_is_converted_to_real_seconds_with_decimals() {
    // At 2× a one-write wait of 0.05 emulated seconds is 0.025 real seconds.
    let h = Arc::new(
        Harness::start(EmulatorConfig {
            time_scale: 2.0,
            ..config(600, 1)
        })
        .await,
    );
    let path = h.admin_path().await;
    let (throttled, _) =
        until_throttled(&h, path.clone(), Some(json!({"jobTitle": "x"})), 8, 20_000).await;
    let a = throttled.expect("the write quota runs out");
    let retry = a
        .header("retry-after")
        .and_then(|r| r.parse::<f64>().ok())
        .unwrap_or_default();
    assert!(retry > 0.0 && retry <= 0.025, "{retry}");
    let state = h.state().await;
    assert_eq!(state["timeScale"], 2.0);
}

#[tokio::test]
async fn propagation_runs_on_emulated_time() {
    let h = Harness::start(EmulatorConfig {
        time_scale: 60.0,
        propagation: Duration::from_secs(3_600),
        ..config(10, 1)
    })
    .await;
    h.patch(&h.org_path(), json!({"onPremisesSyncEnabled": false}))
        .await;
    let s = h.state().await;
    let at = |k: &str| {
        s["organization"][k]
            .as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    };
    let window = at("disableCompletesAt")
        .zip(at("disableRequestedAt"))
        .map(|(c, r)| c.duration_since(r).as_secs());
    assert_eq!(window, Some(3_600));
    h.emu.shutdown().await;
}

#[tokio::test]
async fn quotas_can_be_turned_off() {
    let h = Arc::new(
        Harness::start(EmulatorConfig {
            quotas: false,
            time_scale: 0.001,
            ..config(10, 1)
        })
        .await,
    );
    let (throttled, _) = until_throttled(&h, "/v1.0/users".into(), None, 4, 2_000).await;
    assert!(throttled.is_none());
}

#[tokio::test]
async fn injected_faults_fail_matching_requests_before_touching_state() {
    let h = Harness::small().await;
    let f = h
        .control(
            Method::POST,
            "/faults",
            Some(json!({"status": 503, "count": 2, "path": "/users"})),
        )
        .await;
    assert_eq!(f.status, StatusCode::OK);
    assert_eq!(h.get("/v1.0/organization").await.status, StatusCode::OK);
    for _ in 0..2 {
        let a = h.get("/v1.0/users").await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable")
        );
        assert!(a.body["error"]["innerError"]["request-id"].is_string());
    }
    assert_eq!(h.get("/v1.0/users").await.status, StatusCode::OK);

    h.control(
        Method::POST,
        "/faults",
        Some(json!({"status": 429, "count": 1, "method": "PATCH", "retryAfter": 2.5})),
    )
    .await;
    assert_eq!(h.get("/v1.0/organization").await.status, StatusCode::OK);
    let t = h
        .patch(&h.org_path(), json!({"onPremisesSyncEnabled": false}))
        .await;
    assert_eq!(
        (t.status, t.code()),
        (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests")
    );
    assert_eq!(t.header("retry-after"), Some("2.5"));
    assert_eq!(h.state().await["organization"]["syncState"], "Enabled");

    h.control(
        Method::POST,
        "/faults",
        Some(json!({"status": 500, "count": 5})),
    )
    .await;
    assert_eq!(
        h.control(Method::GET, "/faults", None).await.body["faults"][0]["count"],
        5
    );
    assert_eq!(h.get("/v1.0/groups").await.code(), "generalException");
    assert_eq!(
        h.control(Method::DELETE, "/faults", None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(h.get("/v1.0/groups").await.status, StatusCode::OK);
    let bad = h
        .control(
            Method::POST,
            "/faults",
            Some(json!({"status": 404, "count": 1})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let state = h.state().await;
    assert_eq!(state["requests"]["faulted"], 4);
    assert_eq!(state["requests"]["byStatus"]["503"], 2);
    assert_eq!(state["writes"]["accepted"], 0);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn background_load_and_the_burst_window_are_set_at_run_time() {
    // A slow clock: nothing refills while the test writes.
    let h = Arc::new(
        Harness::start(EmulatorConfig {
            time_scale: 0.000_1,
            ..config(600, 2)
        })
        .await,
    );
    let path = h.admin_path().await;
    let shown = h.control(Method::GET, "/quotas", None).await;
    // By default a quarter of the tenant's writes go to other applications; no burst window.
    assert_eq!(shown.body["backgroundWriteShare"], 0.25);
    assert_eq!(shown.body["burstWindowSecs"], 0.0);
    for bad in [
        json!({"backgroundWriteShare": 1.0}),
        json!({"burstWindowSecs": -1}),
        json!({"other": 1}),
    ] {
        let a = h.control(Method::PUT, "/quotas", Some(bad)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
    }
    // Other applications take 55 of the tenant's 60 writes a second; a one-second window
    // then admits 5 writes at once.
    let set = json!({"backgroundWriteShare": 55.0 / 60.0, "burstWindowSecs": 1});
    let a = h.control(Method::PUT, "/quotas", Some(set)).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let granted = a.body["grantedTenantWritesPerSec"].as_f64().unwrap_or(0.0);
    assert!((granted - 5.0).abs() < 1e-9, "{granted}");
    let body = json!({"jobTitle": "Pilot"});
    let (throttled, warned) = until_throttled(&h, path.clone(), Some(body.clone()), 1, 100).await;
    let a = throttled.expect("the burst window refuses the sixth write");
    assert!(
        warned,
        "usage near the limit was reported before the refusal"
    );
    assert_throttle_headers(&a, &h, "Tenant/Write", "WriteLimitExceeded");
    let writes = &h.state().await["writes"];
    assert_eq!(
        (&writes["accepted"], &writes["throttled"]),
        (&json!(5), &json!(1))
    );
    // Off again: the long windows alone, which admit the burst.
    let off = json!({"backgroundWriteShare": 0, "burstWindowSecs": 0});
    assert_eq!(
        h.control(Method::PUT, "/quotas", Some(off)).await.status,
        StatusCode::OK
    );
    let (throttled, _) = until_throttled(&h, path, Some(body), 4, 200).await;
    assert!(throttled.is_none());
}
