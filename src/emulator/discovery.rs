//! The discovery documents Microsoft's authentication libraries read before asking for a
//! token:
//! - `GET /{tenant}/v2.0/.well-known/openid-configuration`: the tenant's OpenID Connect
//!   metadata; MSAL takes `token_endpoint` (and the tenant id) from it, so pointing MSAL or
//!   azure-identity at the emulator as their authority works unmodified;
//! - `GET /common/discovery/instance?authorization_endpoint=…&api-version=1.1`: instance
//!   discovery (authority validation), for clients configured with a custom discovery URL.
//!   MSAL Python sends this to `login.microsoftonline.com` for an unknown host, so such
//!   clients are told `disable_instance_discovery` (azure-identity's name) instead.
//!
//! Field lists follow Entra's documents for the global cloud, with every URL rewritten to the
//! emulator's own scheme and host (which also serves Graph, hence `msgraph_host`). The error
//! answers (`invalid_tenant` with AADSTS90002 / AADSTS900023, `invalid_instance` with
//! AADSTS50049) follow Entra's shape; their exact texts are UNCONFIRMED.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::clock::Clock;
use super::graph::base_url;
use super::shared::Shared;
use super::state::Tenant;
use super::token::AadError;

/// Tenant segments that are not one tenant; the issuer then carries Entra's `{tenantid}`
/// placeholder.
const MULTI_TENANT: &[&str] = &["common", "organizations"];

/// What a tenant path segment names.
#[derive(Debug, PartialEq, Eq)]
enum TenantRef {
    /// This emulator's tenant (by id or verified domain): its id.
    Known(String),
    /// `common` or `organizations`, as spelt.
    Multi(String),
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

fn resolve_tenant(id: &str, tenant: &Tenant, segment: &str) -> Result<TenantRef, AadError> {
    let by_domain = tenant
        .org
        .domains
        .iter()
        .any(|d| d.name.eq_ignore_ascii_case(segment));
    if segment.eq_ignore_ascii_case(id) || by_domain {
        return Ok(TenantRef::Known(id.to_string()));
    }
    if let Some(multi) = MULTI_TENANT
        .iter()
        .find(|m| m.eq_ignore_ascii_case(segment))
    {
        return Ok(TenantRef::Multi((*multi).to_string()));
    }
    let (code, message) = if is_guid(segment) || is_dns_name(segment) {
        (
            90_002,
            format!(
                "Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        )
    } else {
        (
            900_023,
            format!(
                "Specified tenant identifier '{segment}' is neither a valid DNS name, nor a valid external domain."
            ),
        )
    };
    Err(AadError {
        status: StatusCode::BAD_REQUEST,
        error: "invalid_tenant",
        code,
        message,
    })
}

/// The OpenID configuration of `tenant` served at `base`.
fn openid_document(base: &str, tenant: &TenantRef) -> Value {
    let (path, issuer_tenant) = match tenant {
        TenantRef::Known(id) => (id.as_str(), id.as_str()),
        TenantRef::Multi(name) => (name.as_str(), "{tenantid}"),
    };
    let host = base.split_once("://").map_or(base, |(_, host)| host);
    json!({
        "token_endpoint": format!("{base}/{path}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{path}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{base}/{issuer_tenant}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "authorization_endpoint": format!("{base}/{path}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/{path}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/{path}/oauth2/v2.0/logout"),
        "claims_supported": [
            "sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
            "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr",
            "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email",
        ],
        "kerberos_endpoint": format!("{base}/{path}/kerberos"),
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": host,
        "rbac_url": "https://pas.windows.net",
    })
}

fn timestamp(clock: &Clock) -> String {
    clock.now().strftime("%Y-%m-%d %H:%M:%SZ").to_string()
}

fn answer(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let h = response.headers_mut();
    let cache = if status.is_success() {
        "max-age=86400, private"
    } else {
        "no-store, no-cache"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub async fn openid_configuration(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let base = base_url(&headers, &shared);
    let t = shared.tenancy();
    match resolve_tenant(&shared.config.tenant_id, &t.tenant, &tenant) {
        Ok(t) => answer(StatusCode::OK, &openid_document(&base, &t)),
        Err(e) => {
            tracing::debug!(tenant, aadsts = e.code, "openid configuration refused");
            answer(e.status, &e.body(&timestamp(&t.clock)))
        }
    }
}

/// Query of the instance discovery endpoint.
#[derive(Debug, Deserialize)]
pub struct InstanceQuery {
    authorization_endpoint: Option<String>,
}

/// The authority's origin and tenant segment, when `endpoint` is an authorize URL on `base`.
fn authority_tenant(base: &str, endpoint: &str) -> Option<String> {
    let url = url::Url::parse(endpoint).ok()?;
    if !url
        .origin()
        .ascii_serialization()
        .eq_ignore_ascii_case(base)
    {
        return None;
    }
    url.path_segments()?
        .next()
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// `GET /common/discovery/instance`.
pub async fn instance(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<InstanceQuery>,
    headers: HeaderMap,
) -> Response {
    let base = base_url(&headers, &shared);
    let host = base.split_once("://").map_or(base.as_str(), |(_, h)| h);
    let t = shared.tenancy();
    let Some(endpoint) = query.authorization_endpoint.filter(|e| !e.is_empty()) else {
        let e = AadError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            code: 900_144,
            message: "The request must contain the following parameter: 'authorization_endpoint'."
                .into(),
        };
        return answer(e.status, &e.body(&timestamp(&t.clock)));
    };
    let Some(tenant) = authority_tenant(&base, &endpoint) else {
        let e = AadError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_instance",
            code: 50_049,
            message: "Unknown or invalid instance.".into(),
        };
        return answer(e.status, &e.body(&timestamp(&t.clock)));
    };
    let body = json!({
        "tenant_discovery_endpoint": format!("{base}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": host,
            "preferred_cache": host,
            "aliases": [host],
        }],
    });
    answer(StatusCode::OK, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_point_at_the_emulator() {
        let base = "https://127.0.0.1:8443";
        let tenant = TenantRef::Known("t-id".into());
        let doc = openid_document(base, &tenant);
        assert_eq!(
            doc["token_endpoint"],
            "https://127.0.0.1:8443/t-id/oauth2/v2.0/token"
        );
        assert_eq!(doc["issuer"], "https://127.0.0.1:8443/t-id/v2.0");
        assert_eq!(doc["msgraph_host"], "127.0.0.1:8443");
        let common = openid_document(base, &TenantRef::Multi("common".into()));
        assert_eq!(common["issuer"], "https://127.0.0.1:8443/{tenantid}/v2.0");
        assert_eq!(
            common["authorization_endpoint"],
            "https://127.0.0.1:8443/common/oauth2/v2.0/authorize"
        );
    }

    #[test]
    fn instance_discovery_only_knows_its_own_host() {
        let base = "https://127.0.0.1:8443";
        assert_eq!(
            authority_tenant(
                base,
                "https://127.0.0.1:8443/contoso.com/oauth2/v2.0/authorize"
            ),
            Some("contoso.com".into())
        );
        assert_eq!(
            authority_tenant(
                base,
                "https://login.microsoftonline.com/x/oauth2/v2.0/authorize"
            ),
            None
        );
        assert_eq!(authority_tenant(base, "http://127.0.0.1:8443/x"), None);
        assert_eq!(authority_tenant(base, "not a url"), None);
    }

    #[test]
    fn tenant_shapes() {
        assert!(is_guid("3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"));
        assert!(!is_guid("common"));
        assert!(is_dns_name("fabrikam.com"));
        assert!(!is_dns_name("not a tenant"));
    }
}
