//! JSON batching over HTTP: malformed batches, per-item answers, quotas and faults per item,
//! `dependsOn` and 424, response order, per-item headers, versions and base64 bodies.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Answer, Harness, answer, config};
use crate::emulator::{BatchLimitCode, BatchOrder, EmulatorConfig};

const MISSING: &str = "00000000-0000-4000-8000-000000000000";

/// Posts `{"requests": requests}` to `/{version}/$batch`.
async fn batch(h: &Harness, version: &str, requests: Value) -> Answer {
    let path = format!("/{version}/$batch");
    h.post(&path, Some(json!({ "requests": requests }))).await
}

/// The responses of a batch answer by id.
fn by_id(a: &Answer) -> HashMap<String, Value> {
    let responses = a.body["responses"].as_array().cloned().unwrap_or_default();
    responses
        .into_iter()
        .map(|r| (r["id"].as_str().unwrap_or_default().to_string(), r))
        .collect()
}

/// The response ids in answer order.
fn order(a: &Answer) -> Vec<String> {
    let responses = a.body["responses"].as_array().cloned().unwrap_or_default();
    responses
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn get(id: &str, url: &str) -> Value {
    json!({"id": id, "method": "GET", "url": url})
}

fn patch(id: &str, url: &str, body: Value) -> Value {
    json!({"id": id, "method": "PATCH", "url": url,
        "headers": {"Content-Type": "application/json"}, "body": body})
}

/// `users/{id}` of the cloud-only admin, relative (as a batch takes it).
async fn admin(h: &Harness) -> String {
    let path = h.admin_path().await;
    path.trim_start_matches("/v1.0/").to_string()
}

fn requested_order(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

#[tokio::test]
async fn malformed_batches_answer_400_as_a_whole() {
    let h = Harness::small().await;
    let no_token = answer(
        h.http
            .post(h.url("/v1.0/$batch"))
            .json(&json!({"requests": [get("1", "/organization")]}))
            .send()
            .await
            .expect("batch"),
    )
    .await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no_token.code(), "InvalidAuthenticationToken");
    let raw = answer(
        h.http
            .post(h.url("/v1.0/$batch"))
            .bearer_auth(&h.token)
            .body("not json")
            .send()
            .await
            .expect("batch"),
    )
    .await;
    assert_eq!(
        (raw.status, raw.code()),
        (StatusCode::BAD_REQUEST, "BadRequest")
    );
    assert!(raw.body["error"]["innerError"]["request-id"].is_string());
    let no_requests = h.post("/v1.0/$batch", Some(json!({"value": []}))).await;
    assert_eq!(no_requests.message(), "Invalid batch payload format.");
    let org = get("1", "/organization");
    let depends = |id: &str, on: &str| json!({"id": id, "method": "GET", "url": "/organization", "dependsOn": [on]});
    let cases = [
        (
            json!([{"method": "GET", "url": "/organization"}]),
            "has no valid 'id'",
        ),
        (
            json!([{"id": "1", "url": "/organization"}]),
            "has no valid 'method'",
        ),
        (json!([{"id": "1", "method": "GET"}]), "has no valid 'url'"),
        (json!([org, org]), "more than once"),
        (
            json!([{"id": "1", "method": "PATCH", "url": "/organization", "body": {}}]),
            "Write request id : 1 does not contain Content-Type header or body.",
        ),
        (
            json!([org, depends("2", "9")]),
            "Invalid dependency for request Id 2",
        ),
        (
            json!([depends("1", "2"), depends("2", "1")]),
            "Invalid dependency",
        ),
        (json!([get("1", "/$batch")]), "cannot contain another batch"),
    ];
    for (requests, message) in cases {
        let a = batch(&h, "v1.0", requests.clone()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{requests}");
        assert_eq!(a.code(), "BadRequest");
        assert!(a.message().contains(message), "{}", a.message());
    }
    let many: Vec<Value> = (0..21)
        .map(|i| get(&i.to_string(), "/organization"))
        .collect();
    let a = batch(&h, "v1.0", json!(many)).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::BAD_REQUEST, "BadRequest")
    );
    assert_eq!(
        a.message(),
        "Number of requests inside batch exceeds the limit."
    );
    // Nothing ran: no batch counted, no item answered.
    let state = h.state().await;
    assert_eq!(state["requests"]["batches"], 0);
    assert_eq!(state["requests"]["batchItems"], 0);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn the_over_limit_code_is_a_switch() {
    let h = Harness::start(EmulatorConfig {
        batch_limit_code: BatchLimitCode::RequestBadRequest,
        ..config(5, 1)
    })
    .await;
    let many: Vec<Value> = (0..21)
        .map(|i| get(&i.to_string(), "/organization"))
        .collect();
    let a = batch(&h, "v1.0", json!(many)).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::BAD_REQUEST, "Request_BadRequest")
    );
    let twenty: Vec<Value> = (0..20)
        .map(|i| get(&i.to_string(), "/organization"))
        .collect();
    assert_eq!(
        batch(&h, "v1.0", json!(twenty)).await.status,
        StatusCode::OK
    );
    h.emu.shutdown().await;
}

#[tokio::test]
async fn items_answer_like_standalone_requests() {
    let h = Harness::small().await;
    let admin = admin(&h).await;
    h.grant(&["User.ReadWrite.All", "Organization.ReadWrite.All"])
        .await;
    let before = h.state().await;
    let requests = json!([
        get("read", &format!("/{admin}?$select=id,jobTitle")),
        patch(
            "write",
            &format!("/{admin}"),
            json!({"jobTitle": "Batched"})
        ),
        get("missing", &format!("/users/{MISSING}")),
        get("denied", "/groups"),
    ]);
    let a = h
        .call(
            Method::POST,
            "/v1.0/$batch",
            Some(json!({ "requests": requests })),
            &[("client-request-id", "outer-1")],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.header("client-request-id"), Some("outer-1"));
    assert_eq!(a.header("request-id").map(str::len), Some(36));
    assert_eq!(a.header("x-ms-resource-unit"), Some("0"));
    let r = by_id(&a);
    assert_eq!(r.len(), 4);
    assert_eq!(r["read"]["status"], 200);
    assert_eq!(r["read"]["headers"]["x-ms-resource-unit"], "1");
    assert_eq!(
        r["read"]["headers"]["Content-Type"],
        crate::emulator::graph::answer::JSON_CONTENT_TYPE
    );
    assert!(r["read"]["body"]["id"].is_string());
    assert_eq!(r["write"]["status"], 204);
    assert!(r["write"].get("body").is_none());
    assert_eq!(r["missing"]["status"], 404);
    let error = &r["missing"]["body"]["error"];
    assert_eq!(error["code"], "Request_ResourceNotFound");
    assert_eq!(error["innerError"]["client-request-id"], "outer-1");
    assert!(error["innerError"]["date"].is_string());
    assert_eq!(r["denied"]["status"], 403);
    assert_eq!(
        r["denied"]["body"]["error"]["code"],
        "Authorization_RequestDenied"
    );
    let after = h.state().await;
    let delta = |path: &[&str]| {
        let at = |v: &Value| path.iter().fold(v.clone(), |v, k| v[*k].clone());
        at(&after).as_u64().unwrap_or(0) - at(&before).as_u64().unwrap_or(0)
    };
    assert_eq!(delta(&["writes", "accepted"]), 1);
    assert_eq!(delta(&["writes", "byOperation", "PATCH /users"]), 1);
    assert_eq!(delta(&["requests", "batches"]), 1);
    assert_eq!(delta(&["requests", "batchItems"]), 4);
    // The batch's own answer and its four items.
    assert_eq!(delta(&["requests", "total"]), 5);
    assert_eq!(delta(&["requests", "byStatus", "403"]), 1);
    let user = h.get(&format!("/v1.0/{admin}?$select=jobTitle")).await;
    assert_eq!(user.body["jobTitle"], "Batched");
    h.emu.shutdown().await;
}

#[tokio::test]
async fn a_faulted_item_answers_429_inside_a_200() {
    let h = Harness::small().await;
    let fault = json!({"status": 429, "count": 1, "path": "/organization", "retryAfter": 3});
    let f = h.control(Method::POST, "/faults", Some(fault)).await;
    assert_eq!(f.status, StatusCode::OK);
    let a = batch(
        &h,
        "v1.0",
        json!([get("org", "/organization"), get("users", "/users?$top=1")]),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let r = by_id(&a);
    assert_eq!(r["org"]["status"], 429);
    assert_eq!(r["org"]["headers"]["Retry-After"], "3");
    assert_eq!(r["org"]["body"]["error"]["code"], "TooManyRequests");
    assert_eq!(r["users"]["status"], 200);
    // A fault on the batch's own path fails the whole batch.
    let whole = json!({"status": 503, "count": 1, "path": "$batch"});
    h.control(Method::POST, "/faults", Some(whole)).await;
    let failed = batch(&h, "v1.0", json!([get("org", "/organization")])).await;
    assert_eq!(
        (failed.status, failed.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable")
    );
    assert_eq!(h.state().await["requests"]["faulted"], 2);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn items_are_charged_one_by_one_and_the_batch_costs_nothing() {
    // A small tenant: 3,500 RU per 10 s. Emulated time barely moves, so nothing refills, and
    // a user list without $select costs 2 RU: exactly 1,750 items pass.
    let h = Harness::start(EmulatorConfig {
        time_scale: 1e-6,
        ..config(10, 1)
    })
    .await;
    let twenty: Vec<Value> = (0..20).map(|i| get(&i.to_string(), "/users")).collect();
    let (mut passed, mut warned, mut throttled) = (0, false, None);
    for _ in 0..100 {
        let a = batch(&h, "v1.0", json!(twenty)).await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        for r in by_id(&a).into_values() {
            warned |= r["headers"]["x-ms-throttle-limit-percentage"].is_string();
            match r["status"].as_u64() {
                Some(200) => passed += 1,
                Some(429) => throttled = Some(r),
                other => panic!("unexpected item status {other:?}"),
            }
        }
        if throttled.is_some() {
            break;
        }
    }
    assert_eq!(passed, 1_750);
    assert!(warned, "no item reported usage above 80 %");
    let t = throttled.expect("the quota runs out");
    let scope = format!(
        "Tenant_Application/ReadWrite/{}/{}",
        h.config.client_id, h.config.tenant_id
    );
    assert_eq!(t["headers"]["x-ms-throttle-scope"], scope.as_str());
    assert_eq!(
        t["headers"]["x-ms-throttle-information"],
        "ResourceUnitLimitExceeded"
    );
    assert!(t["headers"]["Retry-After"].is_string());
    assert_eq!(t["body"]["error"]["code"], "TooManyRequests");
    let state = h.state().await;
    assert_eq!(state["requests"]["batches"], 88);
    assert_eq!(state["requests"]["throttled"], 10);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn depends_on_orders_requests_and_fails_dependents_with_424() {
    let h = Harness::small().await;
    let admin = format!("/{}", admin(&h).await);
    let title = format!("{admin}?$select=jobTitle");
    let after = |mut item: Value, on: &str| {
        item["dependsOn"] = json!([on]);
        item
    };
    let requests = json!([
        patch("1", &admin, json!({"jobTitle": "first"})),
        after(get("2", &title), "1"),
        after(patch("3", &admin, json!({"jobTitle": "second"})), "2"),
        get("4", &format!("/users/{MISSING}")),
        after(patch("5", &admin, json!({"jobTitle": "never"})), "4"),
        after(get("6", &title), "5"),
    ]);
    let before = h.state().await["writes"]["accepted"].as_u64();
    let a = batch(&h, "v1.0", requests).await;
    assert_eq!(a.status, StatusCode::OK);
    let r = by_id(&a);
    assert_eq!(r["1"]["status"], 204);
    assert_eq!(r["2"]["body"]["jobTitle"], "first");
    assert_eq!(r["3"]["status"], 204);
    assert_eq!(r["4"]["status"], 404);
    for dependent in ["5", "6"] {
        assert_eq!(r[dependent]["status"], 424);
        assert_eq!(r[dependent]["body"]["error"]["code"], "FailedDependency");
        assert_eq!(r[dependent]["headers"]["x-ms-resource-unit"], "0");
    }
    let writes = h.state().await["writes"]["accepted"].as_u64();
    assert_eq!(writes.zip(before).map(|(a, b)| a - b), Some(2));
    assert_eq!(
        h.get(&format!("/v1.0{title}")).await.body["jobTitle"],
        "second"
    );
    // Without dependencies, requests still run in request order.
    let unordered = json!([
        patch("x", &admin, json!({"jobTitle": "x"})),
        patch("y", &admin, json!({"jobTitle": "y"})),
    ]);
    assert_eq!(batch(&h, "v1.0", unordered).await.status, StatusCode::OK);
    assert_eq!(h.get(&format!("/v1.0{title}")).await.body["jobTitle"], "y");
    h.emu.shutdown().await;
}

#[tokio::test]
async fn responses_are_shuffled_unless_the_request_order_is_asked() {
    let twenty: Vec<Value> = (0..20)
        .map(|i| get(&i.to_string(), "/organization"))
        .collect();
    let mut orders = Vec::new();
    for batch_order in [
        BatchOrder::Shuffled,
        BatchOrder::Shuffled,
        BatchOrder::Request,
    ] {
        let h = Harness::start(EmulatorConfig {
            batch_order,
            ..config(5, 1)
        })
        .await;
        let first = batch(&h, "v1.0", json!(twenty)).await;
        let second = batch(&h, "v1.0", json!(twenty)).await;
        orders.push((order(&first), order(&second)));
        h.emu.shutdown().await;
    }
    let (shuffled, again, request) = (&orders[0], &orders[1], &orders[2]);
    let mut sorted = shuffled.0.clone();
    sorted.sort_by_key(|id| id.parse::<u32>().unwrap_or(u32::MAX));
    assert_eq!(sorted, requested_order(20), "a permutation of the ids");
    assert_ne!(shuffled.0, requested_order(20));
    assert_ne!(shuffled.0, shuffled.1, "each batch is shuffled anew");
    assert_eq!(shuffled, again, "the same seed gives the same orders");
    assert_eq!(request.0, requested_order(20));
    assert_eq!(request.1, requested_order(20));
}

#[tokio::test]
async fn consistency_level_applies_to_its_item_only() {
    let h = Harness::small().await;
    let ne = "/users?$filter=onPremisesSyncEnabled ne true&$select=id&$top=999&$count=true";
    let eventual = json!({"ConsistencyLevel": "eventual"});
    let requests = json!([
        {"id": "advanced", "method": "GET", "url": ne, "headers": eventual},
        get("plain", ne),
        {"id": "count", "method": "GET", "url": "/users/$count", "headers": eventual},
    ]);
    let a = batch(&h, "v1.0", requests).await;
    assert_eq!(a.status, StatusCode::OK);
    let r = by_id(&a);
    assert_eq!(r["advanced"]["status"], 200, "{:?}", r["advanced"]);
    let listed = r["advanced"]["body"]["value"].as_array().map(Vec::len);
    let count = r["advanced"]["body"]["@odata.count"].as_u64();
    assert!(count.is_some_and(|c| c > 0));
    assert_eq!(listed.map(|n| n as u64), count);
    assert_eq!(r["plain"]["status"], 400);
    assert_eq!(
        r["plain"]["body"]["error"]["code"],
        "Request_UnsupportedQuery"
    );
    // A text answer stays a string, with its own content type.
    assert_eq!(r["count"]["status"], 200);
    assert_eq!(r["count"]["headers"]["Content-Type"], "text/plain");
    let total = h.get_eventual("/v1.0/users/$count").await.body;
    assert_eq!(r["count"]["body"], json!(total.to_string()));
    h.emu.shutdown().await;
}

#[tokio::test]
async fn items_resolve_under_the_batch_version() {
    let h = Harness::small().await;
    h.grant(super::PER_OBJECT).await;
    let flag = json!({"features": {"blockCloudObjectTakeoverThroughHardMatchEnabled": false}});
    let sync = format!(
        "/directory/onPremisesSynchronization/{}",
        h.config.tenant_id
    );
    let requests = json!([get("org", "/organization"), patch("flag", &sync, flag)]);
    let v1 = batch(&h, "v1.0", requests.clone()).await;
    let beta = batch(&h, "beta", requests).await;
    let (v1, beta) = (by_id(&v1), by_id(&beta));
    let context = |version: &str| h.url(&format!("/{version}/$metadata#organization"));
    assert_eq!(v1["org"]["body"]["@odata.context"], context("v1.0"));
    assert_eq!(beta["org"]["body"]["@odata.context"], context("beta"));
    // The v1.0 reference refuses an application this PATCH; beta takes it.
    assert_eq!(v1["flag"]["status"], 403);
    assert_eq!(beta["flag"]["status"], 204);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn a_base64_body_is_decoded() {
    let h = Harness::small().await;
    let admin = format!("/{}", admin(&h).await);
    let encoded = base64::engine::general_purpose::STANDARD.encode(r#"{"jobTitle":"Encoded"}"#);
    let requests = json!([
        {"id": "1", "method": "PATCH", "url": admin,
            "headers": {"Content-Type": "application/octet-stream"}, "body": encoded},
        {"id": "2", "method": "GET", "url": format!("{admin}?$select=jobTitle"), "dependsOn": ["1"]},
    ]);
    let a = batch(&h, "v1.0", requests).await;
    let r = by_id(&a);
    assert_eq!(r["1"]["status"], 204, "{:?}", r["1"]);
    assert_eq!(r["2"]["body"]["jobTitle"], "Encoded");
    h.emu.shutdown().await;
}

#[tokio::test]
async fn latency_applies_once_per_batch() {
    let latency = Duration::from_millis(300);
    let h = Harness::start(EmulatorConfig {
        latency: crate::emulator::LatencyProfile::uniform(crate::emulator::Dist::Fixed(latency)),
        ..config(5, 1)
    })
    .await;
    let twenty: Vec<Value> = (0..20)
        .map(|i| get(&i.to_string(), "/organization"))
        .collect();
    let started = Instant::now();
    let a = batch(&h, "v1.0", json!(twenty)).await;
    let elapsed = started.elapsed();
    assert_eq!(a.status, StatusCode::OK);
    // Per item it would take 20 × 300 ms.
    assert!(elapsed >= latency, "{elapsed:?}");
    assert!(elapsed < latency * 10, "{elapsed:?}");
    h.emu.shutdown().await;
}
