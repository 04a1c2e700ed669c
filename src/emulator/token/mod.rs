//! The Entra token endpoint, `POST /{tenant}/oauth2/v2.0/token` (client credentials grant,
//! graph-api.md §10), and the store of the tokens it issued.
//!
//! A client authenticates as one of the registered applications (`apps.rs`) with a client
//! secret (form field or HTTP Basic) or a client assertion: a JWT signed by one of its
//! certificates, or an external token matching one of its federated identity credentials
//! (`assertion.rs`). The token it gets is bound to that application, whose permissions and
//! quotas apply on Graph: a JWT naming the permissions granted when it was issued (`roles`),
//! or an opaque string (`access.rs`, [`EmulatorConfig::access_token_format`]).
//!
//! [`EmulatorConfig::access_token_format`]: super::EmulatorConfig::access_token_format
//!
//! Secrets, assertions and tokens are never logged: only the client id, the method and the
//! outcome.

mod aad;
mod access;
mod assertion;
mod jwt;
pub(super) mod store;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::faults::Target;
use super::latency::Operation;
use super::shared::Shared;
use super::state::Tenant;

pub use aad::AadError;
pub use access::AccessTokenFormat;
pub use assertion::{AssertionAlgorithms, JWT_BEARER};

/// Graph `.default` scopes of the four national clouds (graph-api.md §11).
pub const GRAPH_SCOPES: &[&str] = &[
    "https://graph.microsoft.com/.default",
    "https://graph.microsoft.us/.default",
    "https://dod-graph.microsoft.us/.default",
    "https://microsoftgraph.chinacloudapi.cn/.default",
];

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

/// The tenant's identifiers a request may name: its id and its domains.
fn tenant_identifiers(tenant_id: &str, tenant: &Tenant) -> Vec<String> {
    std::iter::once(tenant_id.to_string())
        .chain(tenant.org.domains.iter().map(|d| d.name.clone()))
        .collect()
}

fn check_tenant(tenants: &[String], tenant: &str) -> Result<(), AadError> {
    if tenants.iter().any(|t| t.eq_ignore_ascii_case(tenant)) {
        return Ok(());
    }
    if is_guid(tenant) || is_dns_name(tenant) {
        return Err(AadError::invalid_request(
            90_002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        ));
    }
    Err(AadError::invalid_request(
        900_023,
        format!(
            "Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a valid external domain."
        ),
    ))
}

/// A token issued: the body and how the client authenticated.
struct Issued {
    body: Value,
    method: &'static str,
}

/// Validates a token request for `tenant`, one of `tenants` (the tenant's identifiers), and
/// issues a token.
fn issue(
    shared: &Shared,
    tenants: &[String],
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Issued, AadError> {
    check_tenant(tenants, tenant)?;
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
    let apps = shared.apps();
    let Some(app) = apps.get(client_id) else {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700_016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
                shared.config.tenant_name
            ),
        ));
    };
    let method = match (field("client_assertion"), field("client_assertion_type")) {
        (None, None) => {
            let secret = field("client_secret")
                .or(basic.as_ref().map(|(_, secret)| secret.as_str()))
                .ok_or_else(|| AadError::invalid_client(7_000_218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."))?;
            if !app.secret_matches(secret) {
                return Err(AadError::invalid_client(
                    7_000_215,
                    format!(
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                        app.client_id
                    ),
                ));
            }
            "secret"
        }
        (None, Some(_)) => return Err(AadError::missing("client_assertion")),
        (Some(_), None) => return Err(AadError::missing("client_assertion_type")),
        (Some(_), Some(kind)) if kind != JWT_BEARER => return Err(AadError::malformed()),
        (Some(jwt), Some(_)) => {
            let ctx = assertion::Context {
                tenants,
                host: headers.get(header::HOST).and_then(|v| v.to_str().ok()),
                algorithms: shared.config.assertion_algorithms,
                now: jiff::Timestamp::now().as_second(),
            };
            assertion::verify(app, jwt, &ctx)?.name()
        }
    };
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
    let subject = access::Subject {
        tenant_id: &shared.config.tenant_id,
        client_id: &app.client_id,
        app_name: &app.display_name,
        roles: &app.permissions,
        scope,
    };
    let lifetime = shared.config.token_lifetime;
    let now = jiff::Timestamp::now().as_second();
    let token = access::mint(shared.config.access_token_format, &subject, now, lifetime);
    let client_id = app.client_id.clone();
    drop(apps);
    let token = shared.tokens().issue(token, &client_id, lifetime);
    Ok(Issued {
        body: json!({
            "token_type": "Bearer",
            "expires_in": lifetime.as_secs(),
            "ext_expires_in": lifetime.as_secs(),
            "access_token": token,
        }),
        method,
    })
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
    let (timestamp, tenants) = {
        let t = shared.tenancy();
        let timestamp = t.clock.now().strftime("%Y-%m-%d %H:%M:%SZ").to_string();
        (
            timestamp,
            tenant_identifiers(&shared.config.tenant_id, &t.tenant),
        )
    };
    let fault = shared
        .faults()
        .take(Target::Token, "POST", "/oauth2/v2.0/token");
    let faulted = fault.is_some();
    let result = match fault {
        Some(fault) => Err((AadError::fault(fault.status), fault.retry_after)),
        None => issue(&shared, &tenants, &tenant, &headers, &body).map_err(|e| (e, None)),
    };
    {
        let mut stats = shared.stats();
        if faulted {
            stats.tokens_faulted += 1;
            stats.faulted += 1;
        }
        match &result {
            Ok(_) => stats.tokens_issued += 1,
            Err(_) => stats.tokens_refused += 1,
        }
    }
    let client_id = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let request_id = crate::guid::random();
    let (status, body, retry_after) = match result {
        Ok(issued) => {
            tracing::debug!(%client_id, method = issued.method, outcome = "issued", "token request");
            (StatusCode::OK, issued.body, None)
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
    fn recognises_tenant_identifier_shapes() {
        assert!(is_guid("3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"));
        assert!(!is_guid("3f9a1c2e5b7d4e8f9a0b1c2d3e4f5a6b"));
        assert!(is_dns_name("fabrikam.com"));
        assert!(!is_dns_name("not a tenant"));
        assert!(!is_dns_name("contoso"));
    }
}
