//! The Entra token endpoint, `POST /{tenant}/oauth2/v2.0/token` (client credentials with a
//! client secret; graph-api.md §10), and the store of tokens it issued.
//!
//! Secrets and tokens are never logged: only the client id and the outcome.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::faults::Target;
use super::latency::Operation;
use super::seed::random_guid;
use super::server::{Inner, Shared, lock};

/// Graph `.default` scopes of the four national clouds (graph-api.md §11).
pub const GRAPH_SCOPES: &[&str] = &[
    "https://graph.microsoft.com/.default",
    "https://graph.microsoft.us/.default",
    "https://dod-graph.microsoft.us/.default",
    "https://microsoftgraph.chinacloudapi.cn/.default",
];

/// Why a bearer token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// Issued here, but past its lifetime.
    Expired,
    /// Not issued here.
    Unknown,
}

/// Tokens issued by this emulator, with their (real-time) expiry.
#[derive(Default)]
pub struct TokenStore {
    issued: HashMap<String, Instant>,
}

/// Shows how many tokens there are, never the tokens.
impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("issued", &self.issued.len())
            .finish()
    }
}

impl TokenStore {
    /// Issues an opaque random token valid for `lifetime` of real time.
    pub fn issue(&mut self, lifetime: Duration) -> String {
        let now = Instant::now();
        if self.issued.len() > 10_000 {
            let grace = Duration::from_secs(3_600);
            self.issued.retain(|_, expiry| *expiry + grace > now);
        }
        let mut bytes = [0u8; 32];
        fastrand::Rng::new().fill(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        self.issued.insert(token.clone(), now + lifetime);
        token
    }

    /// Checks a bearer token.
    pub fn check(&self, token: &str) -> Result<(), TokenProblem> {
        match self.issued.get(token) {
            None => Err(TokenProblem::Unknown),
            Some(expiry) if Instant::now() >= *expiry => Err(TokenProblem::Expired),
            Some(_) => Ok(()),
        }
    }
}

/// An Entra (AADSTS) error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AadError {
    /// HTTP status.
    pub status: StatusCode,
    /// OAuth `error`.
    pub error: &'static str,
    /// AADSTS number.
    pub code: u32,
    /// Text after `AADSTS{code}: `.
    pub message: String,
}

impl AadError {
    fn new(status: StatusCode, error: &'static str, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            error,
            code,
            message: message.into(),
        }
    }

    fn missing(parameter: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900_144,
            format!("The request body must contain the following parameter: '{parameter}'."),
        )
    }

    /// Entra's error body; `timestamp` as `YYYY-MM-DD HH:MM:SSZ`.
    pub fn body(&self, timestamp: &str) -> Value {
        let trace = random_guid();
        let correlation = random_guid();
        let description = format!(
            "AADSTS{}: {}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}",
            self.code, self.message
        );
        json!({
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        })
    }

    /// The answer of an injected token-endpoint fault.
    pub fn fault(status: StatusCode) -> Self {
        match status.as_u16() {
            429 => Self::new(
                status,
                "temporarily_unavailable",
                90_055,
                "TenantThrottlingError - There are too many incoming requests. Please try again later.",
            ),
            500 => Self::new(
                status,
                "server_error",
                50_000,
                "There was an error issuing a token or an issue with our sign-in service.",
            ),
            _ => Self::new(
                status,
                "temporarily_unavailable",
                90_033,
                "A transient error has occurred. Please try again.",
            ),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn is_dns_name(s: &str) -> bool {
    s.contains('.')
        && s.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Client credentials from HTTP Basic authentication, if any.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

/// Validates a token request and issues a token.
fn issue(
    inner: &mut Inner,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, AadError> {
    let config = &inner.config;
    let known = tenant.eq_ignore_ascii_case(&config.tenant_id)
        || inner
            .tenant
            .org
            .domains
            .iter()
            .any(|d| d.name.eq_ignore_ascii_case(tenant));
    if !known {
        if is_guid(tenant) || is_dns_name(tenant) {
            return Err(AadError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                90_002,
                format!(
                    "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
                ),
            ));
        }
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900_023,
            format!(
                "Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a valid external domain."
            ),
        ));
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let basic = basic_credentials(headers);
    let grant_type = field("grant_type").ok_or_else(|| AadError::missing("grant_type"))?;
    let client_id = field("client_id")
        .or(basic.as_ref().map(|(id, _)| id.as_str()))
        .ok_or_else(|| AadError::missing("client_id"))?;
    let scope = field("scope").ok_or_else(|| AadError::missing("scope"))?;
    if grant_type != "client_credentials" {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70_003,
            format!("The app requested an unsupported grant type '{grant_type}'."),
        ));
    }
    if !client_id.eq_ignore_ascii_case(&config.client_id) {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700_016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
                config.tenant_name
            ),
        ));
    }
    if field("client_assertion").is_some() || field("client_assertion_type").is_some() {
        return Err(AadError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700_027,
            "Client assertions (certificate or federated credentials) are not supported by this emulator yet; it accepts only client secrets.",
        ));
    }
    let secret = field("client_secret")
        .or(basic.as_ref().map(|(_, secret)| secret.as_str()))
        .ok_or_else(|| AadError::new(StatusCode::UNAUTHORIZED, "invalid_client", 7_000_218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."))?;
    if !constant_time_eq(secret.as_bytes(), config.client_secret.as_bytes()) {
        return Err(AadError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7_000_215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                config.client_id
            ),
        ));
    }
    if !GRAPH_SCOPES.contains(&scope) {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70_011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
            ),
        ));
    }
    let lifetime = config.token_lifetime;
    let token = inner.tokens.issue(lifetime);
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": token,
    }))
}

/// The axum handler of `POST /{tenant}/oauth2/v2.0/token`.
pub async fn endpoint(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delay = shared.delay(Operation::Token);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let (result, timestamp) = {
        let mut inner = lock(&shared.inner);
        let timestamp = inner.clock.now().strftime("%Y-%m-%d %H:%M:%SZ").to_string();
        let fault = inner
            .faults
            .take(Target::Token, "POST", "/oauth2/v2.0/token");
        let result = match fault {
            Some(fault) => {
                inner.stats.tokens_faulted += 1;
                inner.stats.faulted += 1;
                Err((AadError::fault(fault.status), fault.retry_after))
            }
            None => issue(&mut inner, &tenant, &headers, &body).map_err(|e| (e, None)),
        };
        match &result {
            Ok(_) => inner.stats.tokens_issued += 1,
            Err(_) => inner.stats.tokens_refused += 1,
        }
        (result, timestamp)
    };
    let client_id = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let request_id = random_guid();
    let (status, body, retry_after) = match result {
        Ok(body) => {
            tracing::debug!(%client_id, outcome = "issued", "token request");
            (StatusCode::OK, body, None)
        }
        Err((e, retry_after)) => {
            tracing::debug!(%client_id, outcome = e.error, aadsts = e.code, "token request refused");
            (e.status, e.body(&timestamp), retry_after)
        }
    };
    let mut response = (status, axum::Json(body)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-ms-request-id", v);
    }
    if let Some(v) = retry_after.and_then(|r| HeaderValue::from_str(&r).ok()) {
        h.insert(header::RETRY_AFTER, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_in_constant_time_and_correctly() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    #[test]
    fn recognises_tenant_identifier_shapes() {
        assert!(is_guid("3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"));
        assert!(!is_guid("3f9a1c2e5b7d4e8f9a0b1c2d3e4f5a6b"));
        assert!(is_dns_name("fabrikam.com"));
        assert!(!is_dns_name("not a tenant"));
        assert!(!is_dns_name("contoso"));
    }

    #[test]
    fn expired_and_unknown_tokens_are_told_apart() {
        let mut store = TokenStore::default();
        let live = store.issue(Duration::from_secs(60));
        let dead = store.issue(Duration::ZERO);
        assert_eq!(store.check(&live), Ok(()));
        assert_eq!(store.check(&dead), Err(TokenProblem::Expired));
        assert_eq!(store.check("nope"), Err(TokenProblem::Unknown));
    }
}
