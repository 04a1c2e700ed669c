//! The HTTP clients behind the Graph clients, shared: every Graph client with the same request
//! timeout and the same extra CA certificates uses one `reqwest::Client` (its TLS
//! configuration, root certificates and connection pool). A client of its own costs about
//! 110 KiB, most of it the parsed root certificates: a controller guarding 1,000 tenants would
//! hold 1,000 copies. Requests carry their tenant's token in a header, so sharing connections
//! between tenants shares nothing else.
//!
//! At most [`KEPT`] are kept (the oldest goes first): CA bundles come from manifests, and a
//! namespace naming a new one on every edit must not grow the process. A client dropped from
//! here lives on in the Graph clients that use it.

use std::sync::Mutex;
use std::time::Duration;

/// HTTP clients kept for reuse.
const KEPT: usize = 16;

/// The request timeout, the CA bundle's digest, and the tokio runtime it was made on: a
/// client's connections live as tasks of that runtime, so one runtime's client must not serve
/// another (tests run each in a runtime of its own; the controller and the CLI have one).
type Key = (Duration, Option<String>, Option<tokio::runtime::Id>);

/// HTTP clients by their settings, the oldest first.
struct Shared(Mutex<Vec<(Key, reqwest::Client)>>);

static SHARED: Shared = Shared(Mutex::new(Vec::new()));

/// Why an HTTP client could not be had.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The CA bundle does not parse, or holds no certificate.
    #[error("ca bundle: {0}")]
    CaBundle(String),
    /// reqwest refused the configuration.
    #[error("{0}")]
    Build(String),
}

/// The HTTP client for requests that time out after `timeout`, trusting `ca_bundle`'s PEM
/// certificates besides the system's.
pub fn client(timeout: Duration, ca_bundle: Option<&str>) -> Result<reqwest::Client, HttpError> {
    SHARED.get(timeout, ca_bundle)
}

impl Shared {
    fn get(
        &self,
        timeout: Duration,
        ca_bundle: Option<&str>,
    ) -> Result<reqwest::Client, HttpError> {
        let key: Key = (
            timeout,
            ca_bundle.map(|pem| crate::journal::chain_hash("", pem.as_bytes())),
            tokio::runtime::Handle::try_current().ok().map(|h| h.id()),
        );
        let mut shared = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, c)) = shared.iter().find(|(k, _)| *k == key) {
            return Ok(c.clone());
        }
        let built = build(timeout, ca_bundle)?;
        if shared.len() >= KEPT {
            shared.remove(0);
        }
        shared.push((key, built.clone()));
        Ok(built)
    }

    #[cfg(test)]
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

fn build(timeout: Duration, ca_bundle: Option<&str>) -> Result<reqwest::Client, HttpError> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        // Token requests carry the credential and Graph requests the bearer token: a
        // redirect is an answer to report, never a request to repeat elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("entra-cloud-operator/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = ca_bundle {
        let roots = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| HttpError::CaBundle(e.to_string()))?;
        if roots.is_empty() {
            return Err(HttpError::CaBundle("no PEM certificate in it".into()));
        }
        builder = builder.tls_certs_merge(roots);
    }
    builder.build().map_err(|e| HttpError::Build(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const PEM: &str = include_str!("../../tests/data/app.crt");

    #[test]
    fn one_http_client_per_timeout_and_ca_bundle_and_never_more_than_kept() {
        let shared = Shared(Mutex::new(Vec::new()));
        let t = Duration::from_secs(60);
        shared.get(t, None).unwrap();
        shared.get(t, None).unwrap();
        assert_eq!(shared.len(), 1, "the same settings reuse the client");
        shared.get(t, Some(PEM)).unwrap();
        shared.get(t, Some(PEM)).unwrap();
        assert_eq!(shared.len(), 2, "a CA bundle gets its own, once");
        assert!(matches!(
            shared.get(t, Some("not a certificate")),
            Err(HttpError::CaBundle(_))
        ));
        for i in 0..(KEPT as u64 + 4) {
            shared.get(Duration::from_millis(1_000 + i), None).unwrap();
        }
        assert_eq!(shared.len(), KEPT);
    }
}
