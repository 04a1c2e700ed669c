//! Faults switched on at run time: error rates, outages, connection resets, latency.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::Harness;

async fn add_fault(h: &Harness, spec: serde_json::Value) -> super::Answer {
    h.control(Method::POST, "/faults", Some(spec)).await
}

#[tokio::test]
async fn fault_rules_are_validated() {
    let h = Harness::small().await;
    for (spec, needle) in [
        (json!({"status": 503}), "count and rate"),
        (
            json!({"status": 503, "count": 1, "rate": 0.5}),
            "count and rate",
        ),
        (json!({"status": 503, "rate": 0.0}), "rate"),
        (json!({"status": 503, "rate": 1.5}), "rate"),
        (json!({"count": 1}), "status and reset"),
        (
            json!({"status": 503, "reset": "before", "count": 1}),
            "status and reset",
        ),
        (
            json!({"reset": "before", "count": 1, "target": "token"}),
            "Graph requests only",
        ),
        (json!({"reset": "sideways", "count": 1}), "sideways"),
        (
            json!({"status": 503, "rate": 0.5, "durationSecs": 0}),
            "durationSecs",
        ),
    ] {
        let a = add_fault(&h, spec.clone()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{spec}");
        assert!(a.message().contains(needle), "{spec}: {}", a.message());
    }
    h.emu.shutdown().await;
}

#[tokio::test]
async fn an_error_rate_fails_a_share_of_requests_until_cleared() {
    let h = Harness::small().await;
    let a = add_fault(&h, json!({"status": 500, "rate": 0.3, "path": "/users"})).await;
    assert_eq!(a.status, StatusCode::OK);
    let mut failed = 0;
    for _ in 0..200 {
        let a = h.get("/v1.0/users?$top=1").await;
        match a.status {
            StatusCode::OK => {}
            StatusCode::INTERNAL_SERVER_ERROR => {
                assert_eq!(a.code(), "generalException");
                failed += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    // 30 % of 200: far from both 0 and 200 whatever the draws.
    assert!((20..=100).contains(&failed), "{failed} of 200 failed");
    let state = h.state().await;
    assert_eq!(state["requests"]["faultsInjected"]["500"], failed);
    // Other paths are untouched; the rule stays until cleared.
    assert_eq!(h.get("/v1.0/organization").await.status, StatusCode::OK);
    h.control(Method::DELETE, "/faults", None).await;
    for _ in 0..20 {
        assert_eq!(h.get("/v1.0/users?$top=1").await.status, StatusCode::OK);
    }
    h.emu.shutdown().await;
}

#[tokio::test]
async fn a_token_endpoint_outage_ends_on_its_own() {
    let h = Harness::small().await;
    add_fault(
        &h,
        json!({"status": 503, "rate": 1.0, "durationSecs": 0.3, "target": "token"}),
    )
    .await;
    let refused = h.token_request(&h.token_form()).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    // Graph keeps answering with the token already issued.
    assert_eq!(h.get("/v1.0/organization").await.status, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let t = h.token_request(&h.token_form()).await;
        if t.status == StatusCode::OK {
            break;
        }
        assert_eq!(t.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(Instant::now() < deadline, "the outage never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let faults = h.control(Method::GET, "/faults", None).await;
    assert_eq!(faults.body["faults"], json!([]));
    assert!(faults.body["injected"]["503"].as_u64().unwrap_or(0) >= 1);
    h.emu.shutdown().await;
}

/// A user's display name through the control endpoint (no quota, no faults).
async fn display_name(h: &Harness, id: &str) -> String {
    h.object("users", id).await["displayName"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// PATCHes a display name; true when the connection was dropped instead of answered.
async fn dropped(h: &Harness, path: &str, name: &str) -> bool {
    let sent = h
        .http
        .patch(h.url(path))
        .bearer_auth(&h.token)
        .json(&json!({ "displayName": name }))
        .send()
        .await;
    match sent {
        Err(e) => !e.is_status(),
        Ok(r) => r.bytes().await.is_err(),
    }
}

#[tokio::test]
async fn a_reset_drops_the_connection_before_or_after_applying_the_request() {
    let h = Harness::small().await;
    let path = h.admin_path().await;
    let id = path.trim_start_matches("/v1.0/users/").to_string();
    let before = display_name(&h, &id).await;

    add_fault(
        &h,
        json!({"reset": "before", "count": 1, "method": "PATCH"}),
    )
    .await;
    assert!(
        dropped(&h, &path, "Renamed before").await,
        "the connection was not dropped"
    );
    assert_eq!(display_name(&h, &id).await, before);

    add_fault(&h, json!({"reset": "after", "count": 1, "method": "PATCH"})).await;
    assert!(
        dropped(&h, &path, "Renamed after").await,
        "the connection was not dropped"
    );
    assert_eq!(display_name(&h, &id).await, "Renamed after");

    // The next request on a fresh connection is served.
    assert_eq!(h.get(&path).await.status, StatusCode::OK);
    let state = h.state().await;
    assert_eq!(state["requests"]["faultsInjected"]["reset-before"], 1);
    assert_eq!(state["requests"]["faultsInjected"]["reset-after"], 1);
    assert_eq!(state["writes"]["accepted"], 1);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn latency_changes_at_run_time() {
    let h = Harness::small().await;
    let shown = h.control(Method::GET, "/latency", None).await;
    assert_eq!(shown.body["latency"], "read=0,write=0,token=0");
    let bad = h
        .control(Method::PUT, "/latency", Some(json!({"latency": "slow"})))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let set = h
        .control(
            Method::PUT,
            "/latency",
            Some(json!({"latency": "read=150ms,write=0"})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    assert_eq!(set.body["latency"], "read=150ms,write=0,token=0");
    // A lower bound only: the machine may be slower, never faster.
    let start = Instant::now();
    assert_eq!(h.get("/v1.0/organization").await.status, StatusCode::OK);
    assert!(start.elapsed() >= Duration::from_millis(150));
    h.emu.shutdown().await;
}
