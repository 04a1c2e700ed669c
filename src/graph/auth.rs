//! Application tokens by the OAuth 2.0 client-credentials grant at the Entra v2.0 token
//! endpoint, cached and refreshed before they expire. The application proves its identity
//! with a client secret, a certificate (a signed client assertion, `certificate.rs`) or a
//! federated token (workload identity).

use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use tracing::{debug, warn};
use url::Url;

use super::certificate::ClientCertificate;
use super::error::AuthError;
use super::limits::{
    BodyError, Limits, bounded, json_problem, media_type, read_capped, token_lifetime,
};
use super::models::{TokenError, TokenResponse};
use super::retry::{RetryPolicy, server_retry_after};
use super::secret::SecretString;

/// How the application proves its identity.
#[derive(Clone, Debug)]
pub enum Credential {
    /// A client secret.
    ClientSecret {
        /// Application (client) id.
        client_id: String,
        /// The secret value.
        secret: SecretString,
    },
    /// A certificate registered on the application: each token request carries a client
    /// assertion signed by its private key.
    Certificate {
        /// Application (client) id.
        client_id: String,
        /// The certificate and its private key.
        certificate: ClientCertificate,
    },
    /// Workload identity federation: a token issued to the pod (a Kubernetes projected
    /// service-account token) is presented as the client assertion. The file is read on
    /// every token request because the kubelet rotates it.
    WorkloadIdentity {
        /// Application (client) id.
        client_id: String,
        /// The federated token file (`AZURE_FEDERATED_TOKEN_FILE`).
        token_file: std::path::PathBuf,
    },
}

impl Credential {
    /// The application (client) id.
    pub fn client_id(&self) -> &str {
        match self {
            Credential::ClientSecret { client_id, .. }
            | Credential::Certificate { client_id, .. }
            | Credential::WorkloadIdentity { client_id, .. } => client_id,
        }
    }
}

struct Cached {
    token: SecretString,
    refresh_at: Instant,
}

/// Fetches and caches tokens for one (tenant, application, scope).
pub struct TokenProvider {
    http: reqwest::Client,
    token_url: Url,
    scope: String,
    credential: Credential,
    retry: RetryPolicy,
    /// Largest answer read, in bytes.
    max_body: u64,
    /// One token fetch, its retries included, ends within this.
    deadline: Duration,
    // A tokio mutex: concurrent callers wait for the one refresh in flight instead of each
    // asking the token endpoint.
    cache: Mutex<Option<Cached>>,
}

impl TokenProvider {
    /// `login_root` is the authority (`https://login.microsoftonline.com` or an override);
    /// `scope` the Graph root's `/.default`. `http` must not follow redirects (the request
    /// carries the credential): [`GraphClient`](super::GraphClient) builds it with
    /// `redirect::Policy::none()`, and a 3xx is then [`AuthError::Redirect`].
    pub fn new(
        http: reqwest::Client,
        login_root: &Url,
        tenant_id: &str,
        scope: String,
        credential: Credential,
        retry: RetryPolicy,
    ) -> Result<Self, url::ParseError> {
        let base = login_root.as_str().trim_end_matches('/');
        let token_url = Url::parse(&format!("{base}/{tenant_id}/oauth2/v2.0/token"))?;
        Ok(TokenProvider {
            http,
            token_url,
            scope,
            credential,
            retry,
            max_body: Limits::default().max_token_body,
            deadline: Limits::default().deadline,
            cache: Mutex::new(None),
        })
    }

    /// The same provider within `limits` (answer size, deadline).
    pub fn with_limits(mut self, limits: &Limits) -> Self {
        self.max_body = limits.max_token_body;
        self.deadline = limits.deadline;
        self
    }

    /// The application (client) id.
    pub fn client_id(&self) -> &str {
        self.credential.client_id()
    }

    /// A valid token, from the cache or freshly fetched.
    pub async fn token(&self) -> Result<SecretString, AuthError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref()
            && Instant::now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        let (token, lifetime) = self.fetch().await?;
        // Refresh 5 minutes before expiry, or halfway through a short-lived token.
        let margin = Duration::from_secs(300).min(lifetime / 2);
        let now = Instant::now();
        *cache = Some(Cached {
            token: token.clone(),
            refresh_at: now
                .checked_add(lifetime.saturating_sub(margin))
                .unwrap_or(now),
        });
        Ok(token)
    }

    /// Drop the cached token (Graph said it is no longer valid).
    pub async fn invalidate(&self) {
        *self.cache.lock().await = None;
    }

    /// A token and its lifetime, within the deadline: the retry loop gives up rather than
    /// start a wait that would pass it, and a timeout around it bounds the rest.
    async fn fetch(&self) -> Result<(SecretString, Duration), AuthError> {
        let ends = tokio::time::Instant::now().checked_add(self.deadline);
        match tokio::time::timeout(self.deadline, self.fetch_within(ends)).await {
            Ok(fetched) => fetched,
            Err(_) => Err(AuthError::Unavailable {
                url: self.token_url.to_string(),
                detail: format!(
                    "no token within {}s, retries included",
                    self.deadline.as_secs()
                ),
            }),
        }
    }

    async fn fetch_within(
        &self,
        ends: Option<tokio::time::Instant>,
    ) -> Result<(SecretString, Duration), AuthError> {
        let client_id = self.credential.client_id().to_string();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let assertion;
            let form: Vec<(&str, &str)> = match &self.credential {
                Credential::ClientSecret { client_id, secret } => vec![
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("scope", &self.scope),
                    ("client_secret", secret.expose()),
                ],
                Credential::Certificate {
                    client_id,
                    certificate,
                } => {
                    let now = jiff::Timestamp::now().as_second();
                    assertion = certificate.assertion(client_id, self.token_url.as_str(), now)?;
                    assertion_form(client_id, &self.scope, &assertion)
                }
                Credential::WorkloadIdentity {
                    client_id,
                    token_file,
                } => {
                    assertion = read_assertion(token_file)?;
                    assertion_form(client_id, &self.scope, &assertion)
                }
            };
            let sent = self
                .http
                .post(self.token_url.clone())
                .form(&form)
                .send()
                .await;
            let (retry_in, detail) = match sent {
                Ok(resp) => match self.answer(&client_id, resp).await? {
                    Answer::Token(token, lifetime) => return Ok((token, lifetime)),
                    Answer::Retry(retry_after, detail) => (retry_after, detail),
                },
                Err(e) => (None, super::limits::describe(&e.without_url())),
            };
            let wait = retry_in
                .map(|d| self.retry.retry_after(d))
                .unwrap_or_else(|| self.retry.backoff(attempt - 1));
            let past_deadline = ends
                .is_some_and(|e| wait >= e.saturating_duration_since(tokio::time::Instant::now()));
            if attempt >= self.retry.max_attempts || past_deadline {
                return Err(AuthError::Unavailable {
                    url: self.token_url.to_string(),
                    detail,
                });
            }
            warn!(client_id = %client_id, attempt, wait_ms = wait.as_millis() as u64, %detail, "token endpoint unavailable, retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// What one answer of the token endpoint means: a token, a failure worth retrying, or
    /// an error. Never follows a redirect (the request carried the credential) and reads at
    /// most `max_body` bytes.
    async fn answer(&self, client_id: &str, resp: reqwest::Response) -> Result<Answer, AuthError> {
        let status = resp.status();
        let code = status.as_u16();
        if status.is_redirection() {
            return Err(AuthError::Redirect { status: code });
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(server_retry_after);
        let kind = media_type(
            resp.headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        );
        let retryable = status.is_server_error() || code == 429;
        let body = match read_capped(resp, self.max_body).await {
            Ok(body) => body,
            Err(BodyError::TooLarge) => {
                return Err(AuthError::TooLarge {
                    limit: self.max_body,
                });
            }
            Err(BodyError::Transport(detail)) => return Ok(Answer::Retry(None, detail)),
        };
        if retryable {
            return Ok(Answer::Retry(retry_after, format!("HTTP {code}")));
        }
        let (token, lifetime) = token_answer(code, &kind, client_id, &body)?;
        debug!(client_id = %client_id, lifetime_s = lifetime.as_secs(), "token acquired");
        Ok(Answer::Token(token, lifetime))
    }
}

/// A token endpoint's final answer (not a redirect, 429 or 5xx), read: the token and how long
/// to use it, or the endpoint's refusal. `kind` is the answer's media type as
/// [`media_type`] gives it. Errors repeat none of a success answer's bytes (which hold the
/// token) and at most a bounded first line of Entra's error description.
pub(super) fn token_answer(
    code: u16,
    kind: &str,
    client_id: &str,
    body: &[u8],
) -> Result<(SecretString, Duration), AuthError> {
    let decode = |detail: String| AuthError::Decode {
        status: code,
        detail,
    };
    if (200..300).contains(&code) {
        let answer: TokenResponse = serde_json::from_slice(body).map_err(|e| {
            decode(match e.classify() {
                serde_json::error::Category::Data => json_problem(&e),
                _ => format!("not JSON ({} bytes, {kind})", body.len()),
            })
        })?;
        let lifetime = token_lifetime(answer.expires_in.as_ref()).map_err(decode)?;
        if answer.access_token.is_empty() {
            return Err(decode("an empty access_token".into()));
        }
        return Ok((SecretString::new(answer.access_token), lifetime));
    }
    let err: TokenError = serde_json::from_slice(body).map_err(|_| {
        decode(format!(
            "not Entra's error JSON ({} bytes, {kind})",
            body.len()
        ))
    })?;
    Err(AuthError::Rejected {
        status: code,
        client_id: client_id.to_string(),
        error: bounded(&err.error),
        aadsts: err.error_codes.first().copied(),
        description: bounded(&first_line(&err.error_description)),
    })
}

/// One answer of the token endpoint, read.
enum Answer {
    /// A token and how long to use it.
    Token(SecretString, Duration),
    /// Worth another attempt: the wait the endpoint asked for, and what failed.
    Retry(Option<Duration>, String),
}

/// The form of a token request authenticated by a client assertion.
fn assertion_form<'a>(
    client_id: &'a str,
    scope: &'a str,
    assertion: &'a SecretString,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("scope", scope),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.expose()),
    ]
}

fn read_assertion(path: &std::path::Path) -> Result<SecretString, AuthError> {
    // A projected token is a few KiB; the cap keeps a wrong path (a device, a log) from being
    // read whole. The error never quotes the file's content.
    match crate::input::read_text(path, 64 * 1024) {
        Ok(t) if !t.trim().is_empty() => Ok(SecretString::new(t.trim())),
        Ok(_) => Err(AuthError::Credential {
            detail: format!("the federated token file {} is empty", path.display()),
        }),
        Err(e) => Err(AuthError::Credential {
            detail: format!("the federated token file: {:#}", anyhow::Error::from(e)),
        }),
    }
}

/// Entra's `error_description` carries trace and correlation ids and a timestamp after the
/// first line; keep only the sentence that explains the failure.
fn first_line(description: &str) -> String {
    description
        .split(['\r', '\n'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_drops_trace_ids() {
        let d =
            "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1\r\nCorrelation ID: 2";
        assert_eq!(
            first_line(d),
            "AADSTS7000215: Invalid client secret provided."
        );
    }

    #[test]
    fn an_endless_federated_token_file_is_refused_at_the_cap() {
        let e = read_assertion(std::path::Path::new("/dev/zero")).err();
        assert!(
            matches!(&e, Some(AuthError::Credential { detail }) if detail.contains("/dev/zero is larger than 65536 bytes")),
            "{e:?}"
        );
    }

    #[test]
    fn token_url_is_per_tenant_and_tolerates_trailing_slash() {
        let http = reqwest::Client::new();
        for root in [
            "https://login.microsoftonline.com",
            "https://login.microsoftonline.com/",
        ] {
            let p = TokenProvider::new(
                http.clone(),
                &Url::parse(root).unwrap_or_else(|_| unreachable!()),
                "t1",
                "https://graph.microsoft.com/.default".into(),
                Credential::ClientSecret {
                    client_id: "c".into(),
                    secret: SecretString::new("s"),
                },
                RetryPolicy::default(),
            );
            assert!(
                matches!(p, Ok(ref p) if p.token_url.as_str() == "https://login.microsoftonline.com/t1/oauth2/v2.0/token")
            );
        }
    }
}
