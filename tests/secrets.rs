//! Secrets never reach logs, statuses, Events, errors or the journal: every flow runs with
//! recognisable secret values while everything is logged at TRACE, then all output is
//! searched for them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use entra_cloud_operator::graph::{Credential, SecretString};
use serde_json::json;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const WRONG: &str = "Wr0ng-S3cret-Canary-41d8";

#[tokio::test]
async fn no_secret_in_logs_status_events_errors_or_journal() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let mut seen = String::new();
    let emu = start(config(40, 3)).await;

    // The whole cutover, with faults so retries and warnings are logged too.
    control_post(&emu, "faults", json!({"status": 503, "count": 3})).await;
    let mut h = Harness::new(&emu, policy("Disabled", true, "Remediate"), SECRET);
    h.until(5, |s| s.disable_requested_at.is_some()).await;
    advance(&emu, 4000.0).await;
    h.until(5, is_ready).await;
    control_post(&emu, "sync/enable", json!({})).await;
    h.pass().await.unwrap();
    seen.push_str(&serde_json::to_string(&h.status()).unwrap());
    seen.push_str(&format!("{:?}", h.events));
    seen.push_str(&std::fs::read_to_string(&h.journal_path).unwrap());

    // A token-endpoint outage: the error is returned, never the secret.
    control_post(
        &emu,
        "faults",
        json!({"status": 503, "count": 100, "target": "token"}),
    )
    .await;
    let mut fresh = Harness::new(&emu, policy("Disabled", true, "Report"), SECRET);
    let err = fresh.pass().await.unwrap_err();
    seen.push_str(&format!("{err} {err:?}"));
    reqwest::Client::new()
        .delete(format!("{}/_emulator/faults", emu.url()))
        .send()
        .await
        .unwrap();

    // A wrong secret and a missing permission: Stalled, with messages and Events.
    let mut wrong = Harness::new(&emu, policy("Disabled", true, "Report"), WRONG);
    wrong.pass().await.unwrap();
    seen.push_str(&serde_json::to_string(&wrong.status()).unwrap());
    seen.push_str(&format!("{:?}", wrong.events));
    control_put(
        &emu,
        "permissions",
        json!({"permissions": ["Organization.Read.All"]}),
    )
    .await;
    let mut denied = Harness::new(&emu, policy("Disabled", true, "Report"), SECRET);
    denied.pass().await.unwrap();
    seen.push_str(&serde_json::to_string(&denied.status()).unwrap());

    // Debug output of credentials is redacted.
    let cred = Credential::ClientSecret {
        client_id: CLIENT.into(),
        secret: SecretString::new(SECRET),
    };
    seen.push_str(&format!("{cred:?}"));
    emu.shutdown().await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.len() > 1000, "the test must actually capture logs");
    assert!(logs.contains("graph"), "Graph calls are logged");
    for (what, text) in [("logs", &logs), ("status/events/errors/journal", &seen)] {
        for secret in [SECRET, WRONG] {
            assert!(!text.contains(secret), "{secret} found in {what}");
        }
        assert!(
            !text.to_lowercase().contains("bearer "),
            "a bearer token in {what}"
        );
    }
}
