//! End-to-end tests of the emulator over HTTP (127.0.0.1, port 0, reqwest).
//!
//! No test depends on timing: emulated time is moved with `/_emulator/time/advance`, and
//! every loop is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod apps;
mod assertions;
mod auth;
mod batch;
mod chaos;
mod contacts;
mod control;
mod deleted;
mod delta;
mod delta_groups;
mod lag;
mod members;
mod organization;
mod owners;
mod privileged;
mod quotas;
mod refs;
mod sdk_shapes;
mod soa;
mod sync;
mod tls;
mod users;

use std::net::SocketAddr;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Emulator, EmulatorConfig};

/// The default config, with a small tenant: reads consistent at once (these tests read what
/// they just wrote to check other behaviours; the read lag has its own, `lag.rs`) and SOA
/// switches answering 200 with the object, whose shape they check (`soa.rs` runs both).
pub fn config(users: usize, groups: usize) -> EmulatorConfig {
    EmulatorConfig {
        users,
        groups,
        soa_patch_response: crate::emulator::SoaPatchResponse::Body,
        read_lag: std::time::Duration::ZERO,
        index_lag: std::time::Duration::ZERO,
        ..EmulatorConfig::default()
    }
}

/// A running emulator, an HTTP client and a valid token.
pub struct Harness {
    pub emu: Emulator,
    pub http: reqwest::Client,
    pub token: String,
    pub config: EmulatorConfig,
}

/// An answer: status, headers and the body (JSON when it parses, else a string).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `error.code` of a Graph error.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    /// `error.message` of a Graph error.
    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        headers,
        body,
    }
}

impl Harness {
    pub async fn start(config: EmulatorConfig) -> Harness {
        let listen: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let emu = Emulator::start(config.clone(), listen)
            .await
            .expect("emulator starts");
        let http = reqwest::Client::new();
        let mut h = Harness {
            emu,
            http,
            token: String::new(),
            config,
        };
        let t = h.token_request(&h.token_form()).await;
        assert_eq!(t.status, StatusCode::OK, "{:?}", t.body);
        h.token = t.body["access_token"].as_str().expect("token").to_string();
        h
    }

    pub async fn small() -> Harness {
        Self::start(config(30, 5)).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.url())
    }

    pub fn token_form(&self) -> Vec<(&'static str, String)> {
        vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", self.config.client_id.clone()),
            ("client_secret", self.config.client_secret.clone()),
            ("scope", "https://graph.microsoft.com/.default".into()),
        ]
    }

    pub async fn token_request_at(&self, tenant: &str, form: &[(&str, String)]) -> Answer {
        let url = self.url(&format!("/{tenant}/oauth2/v2.0/token"));
        answer(
            self.http
                .post(url)
                .form(form)
                .send()
                .await
                .expect("token request"),
        )
        .await
    }

    pub async fn token_request(&self, form: &[(&str, String)]) -> Answer {
        self.token_request_at(&self.config.tenant_id.clone(), form)
            .await
    }

    /// A Graph request with the harness token and optional extra headers.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut rb = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        answer(rb.send().await.expect("graph request")).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None, &[]).await
    }

    /// GET with `ConsistencyLevel: eventual`.
    pub async fn get_eventual(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None, &[("ConsistencyLevel", "eventual")])
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(body), &[]).await
    }

    /// A control request (no auth).
    pub async fn control(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut rb = self
            .http
            .request(method, self.url(&format!("/_emulator{path}")));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        answer(rb.send().await.expect("control request")).await
    }

    pub async fn state(&self) -> Value {
        self.control(Method::GET, "/state", None).await.body
    }

    pub async fn advance(&self, seconds: f64) -> Value {
        let a = self
            .control(
                Method::POST,
                "/time/advance",
                Some(json!({ "seconds": seconds })),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        a.body
    }

    /// Every user with all properties, `kind` and `writes`.
    pub async fn all_users(&self) -> Vec<Value> {
        let a = self.control(Method::GET, "/users", None).await;
        a.body["value"].as_array().cloned().unwrap_or_default()
    }

    pub async fn all_groups(&self) -> Vec<Value> {
        let a = self.control(Method::GET, "/groups", None).await;
        a.body["value"].as_array().cloned().unwrap_or_default()
    }

    /// The first user of a kind.
    pub async fn user_of_kind(&self, kind: &str) -> Value {
        let users = self.all_users().await;
        users
            .into_iter()
            .find(|u| u["kind"] == kind)
            .expect("a user of that kind")
    }

    /// `/v1.0/users/{id}` of the cloud-only admin (writable whatever the sync state).
    pub async fn admin_path(&self) -> String {
        let admin = self
            .get("/v1.0/users/admin@contoso.onmicrosoft.com?$select=id")
            .await;
        format!(
            "/v1.0/users/{}",
            admin.body["id"].as_str().unwrap_or_default()
        )
    }

    pub fn org_path(&self) -> String {
        format!("/v1.0/organization/{}", self.config.tenant_id)
    }

    pub async fn post(&self, path: &str, body: Option<Value>) -> Answer {
        self.call(Method::POST, path, body, &[]).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, None, &[]).await
    }

    /// Replaces the app's permissions.
    pub async fn grant(&self, permissions: &[&str]) {
        let a = self
            .control(
                Method::PUT,
                "/permissions",
                Some(json!({ "permissions": permissions })),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    }

    /// Runs one sync cycle now; returns its report.
    pub async fn cycle(&self) -> Value {
        let a = self.control(Method::POST, "/sync/cycle", None).await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        a.body
    }

    /// Moves the AD twin of a user (`users`) or group (`groups`) in or out of scope.
    pub async fn scope(&self, collection: &str, id: &str, in_scope: bool) -> Value {
        let path = format!("/{collection}/{id}/scope");
        let a = self
            .control(Method::POST, &path, Some(json!({ "inScope": in_scope })))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        a.body
    }

    /// The `/_emulator/users` or `/groups` entry of an object.
    pub async fn object(&self, collection: &str, id: &str) -> Value {
        let a = self
            .control(Method::GET, &format!("/{collection}"), None)
            .await;
        let all = a.body["value"].as_array().cloned().unwrap_or_default();
        all.into_iter()
            .find(|o| o["id"] == id)
            .unwrap_or(Value::Null)
    }
}

/// Every permission the per-object routes need, and the defaults.
pub const PER_OBJECT: &[&str] = &[
    "Organization.ReadWrite.All",
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "User-OnPremisesSyncBehavior.ReadWrite.All",
    "Group-OnPremisesSyncBehavior.ReadWrite.All",
    "OnPremDirectorySynchronization.ReadWrite.All",
];

/// The values of a collection answer.
pub fn values(body: &Value) -> Vec<Value> {
    body["value"].as_array().cloned().unwrap_or_default()
}

/// The `n`-th emulator entry of a kind (`synced`, `cloudOnly`, …) in a control listing.
pub fn nth_of_kind(all: &[Value], kind: &str, n: usize) -> String {
    all.iter()
        .filter(|o| o["kind"] == kind)
        .nth(n)
        .and_then(|o| o["id"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn every_graph_answer_carries_correlation_headers() {
    let h = Harness::small().await;
    let a = h
        .call(
            Method::GET,
            "/v1.0/organization",
            None,
            &[("client-request-id", "my-id-1")],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("client-request-id"), Some("my-id-1"));
    assert_eq!(a.header("request-id").map(str::len), Some(36));
    assert_eq!(a.header("x-ms-resource-unit"), Some("1"));
    assert_eq!(
        a.header("content-type"),
        Some(super::graph::answer::JSON_CONTENT_TYPE)
    );
    let e = h
        .call(
            Method::GET,
            "/v1.0/nothing",
            None,
            &[("client-request-id", "my-id-2")],
        )
        .await;
    assert_eq!(e.status, StatusCode::BAD_REQUEST);
    assert_eq!(e.code(), "BadRequest");
    assert_eq!(e.message(), "Resource not found for the segment 'nothing'.");
    let inner = &e.body["error"]["innerError"];
    assert_eq!(inner["client-request-id"], "my-id-2");
    assert_eq!(inner["request-id"].as_str(), e.header("request-id"));
    assert!(inner["date"].is_string());
    let v = h.get("/v2.0/users").await;
    assert_eq!(
        (v.status, v.message()),
        (StatusCode::BAD_REQUEST, "Invalid version: v2.0")
    );
    let m = h.call(Method::PUT, "/v1.0/users/x", None, &[]).await;
    assert_eq!(m.status, StatusCode::METHOD_NOT_ALLOWED);
    h.emu.shutdown().await;
}
