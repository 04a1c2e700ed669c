//! A recording stand-in for the token endpoint: forwards every token request to the emulator
//! and keeps the credentials that crossed it (client assertions signed with a certificate's
//! key, federated tokens) and the access tokens handed out, so the test can look for the
//! exact values everywhere, not only for their shapes.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// Values that must never appear in any output.
#[derive(Clone, Default)]
pub struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    pub fn values(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    fn add(&self, v: &str) {
        if v.len() >= 16 {
            self.0.lock().unwrap().push(v.to_string());
        }
    }
}

#[derive(Clone)]
struct Tap {
    upstream: String,
    http: reqwest::Client,
    seen: Seen,
}

/// Starts the tap in front of `upstream` (the emulator); its URL is the login root to use.
pub async fn start(upstream: &str, seen: Seen) -> String {
    let tap = Tap {
        upstream: upstream.trim_end_matches('/').to_string(),
        http: reqwest::Client::new(),
        seen,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(forward).with_state(tap);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

async fn forward(
    State(tap): State<Tap>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    for (k, v) in url::form_urlencoded::parse(&body) {
        if k == "client_assertion" || k == "client_secret" {
            tap.seen.add(&v);
        }
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req = tap
        .http
        .request(method, format!("{}{path}", tap.upstream))
        .body(body.to_vec());
    // The client addressed the tap: the assertion's audience names it, as the emulator checks.
    for name in [header::HOST, header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(v) = headers.get(&name) {
            req = req.header(name, v);
        }
    }
    let Ok(answer) = req.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = answer.bytes().await.unwrap_or_default();
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
        && let Some(token) = v["access_token"].as_str()
    {
        tap.seen.add(token);
    }
    let mut response = (status, bytes).into_response();
    if let Some(ct) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    response
}
