//! Token endpoint, bearer authentication and permissions.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Answer, Harness, config};
use crate::emulator::EmulatorConfig;

fn with(
    form: &[(&'static str, String)],
    key: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    let mut f: Vec<_> = form.iter().filter(|(k, _)| *k != key).cloned().collect();
    f.push((key, value.to_string()));
    f
}

fn without(form: &[(&'static str, String)], key: &str) -> Vec<(&'static str, String)> {
    form.iter().filter(|(k, _)| *k != key).cloned().collect()
}

pub fn assert_aadsts(a: &Answer, status: StatusCode, error: &str, code: u64) {
    assert_eq!(a.status, status, "{:?}", a.body);
    assert_eq!(a.body["error"], error, "{:?}", a.body);
    assert_eq!(a.body["error_codes"], json!([code]));
    let description = a.body["error_description"].as_str().unwrap_or_default();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    assert!(description.contains("\r\nTrace ID: "), "{description}");
    assert!(
        description.contains("\r\nCorrelation ID: "),
        "{description}"
    );
    assert!(description.contains("\r\nTimestamp: "), "{description}");
    for field in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
        assert!(a.body[field].is_string(), "{field} missing: {:?}", a.body);
    }
}

#[tokio::test]
async fn token_endpoint_issues_tokens_for_every_national_cloud_and_tenant_form() {
    let h = Harness::small().await;
    let form = h.token_form();
    for scope in crate::emulator::token::GRAPH_SCOPES {
        let a = h.token_request(&with(&form, "scope", scope)).await;
        assert_eq!(a.status, StatusCode::OK, "{scope}: {:?}", a.body);
        assert_eq!(a.body["token_type"], "Bearer");
        assert_eq!(a.body["expires_in"], 3599);
        assert_eq!(a.body["ext_expires_in"], 3599);
        assert!(
            a.body["access_token"]
                .as_str()
                .is_some_and(|t| t.len() >= 32)
        );
    }
    for tenant in [
        "contoso.com",
        "contoso.onmicrosoft.com",
        "3F9A1C2E-5B7D-4E8F-9A0B-1C2D3E4F5A6B",
    ] {
        assert_eq!(
            h.token_request_at(tenant, &form).await.status,
            StatusCode::OK,
            "{tenant}"
        );
    }
    // HTTP Basic client authentication.
    let basic = without(&without(&form, "client_secret"), "client_id");
    let url = h.url(&format!("/{}/oauth2/v2.0/token", h.config.tenant_id));
    let r = h
        .http
        .post(url)
        .basic_auth(&h.config.client_id, Some(&h.config.client_secret))
        .form(&basic)
        .send()
        .await;
    assert_eq!(r.map(|r| r.status()).ok(), Some(StatusCode::OK));
    let state = h.state().await;
    assert_eq!(state["tokens"]["issued"], 9);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn token_endpoint_answers_each_aadsts_error() {
    let h = Harness::small().await;
    let form = h.token_form();
    let a = h
        .token_request(&with(&form, "client_secret", "wrong"))
        .await;
    assert_aadsts(&a, StatusCode::UNAUTHORIZED, "invalid_client", 7_000_215);
    let expected = format!(
        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.\r\n",
        h.config.client_id
    );
    assert!(
        a.body["error_description"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&expected)
    );
    let a = h
        .token_request(&with(
            &form,
            "client_id",
            "11111111-2222-3333-4444-555555555555",
        ))
        .await;
    assert_aadsts(&a, StatusCode::BAD_REQUEST, "unauthorized_client", 700_016);
    let a = h
        .token_request_at("99999999-2222-3333-4444-555555555555", &form)
        .await;
    assert_aadsts(&a, StatusCode::BAD_REQUEST, "invalid_request", 90_002);
    assert!(
        a.body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("Tenant '99999999-2222-3333-4444-555555555555' not found")
    );
    let a = h.token_request_at("fabrikam.com", &form).await;
    assert_aadsts(&a, StatusCode::BAD_REQUEST, "invalid_request", 90_002);
    let a = h.token_request_at("not_a_tenant", &form).await;
    assert_aadsts(&a, StatusCode::BAD_REQUEST, "invalid_request", 900_023);
    for scope in [
        "https://graph.microsoft.com/User.Read",
        "https://graph.microsoft.com/.default https://graph.microsoft.us/.default",
        "api://x/.default",
    ] {
        let a = h.token_request(&with(&form, "scope", scope)).await;
        assert_aadsts(&a, StatusCode::BAD_REQUEST, "invalid_scope", 70_011);
    }
    let assertion = with(
        &with(
            &without(&form, "client_secret"),
            "client_assertion",
            "eyJ.x.y",
        ),
        "client_assertion_type",
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    );
    let a = h.token_request(&assertion).await;
    assert_aadsts(&a, StatusCode::BAD_REQUEST, "invalid_request", 50_027);
    for field in ["grant_type", "client_id", "scope"] {
        let a = h.token_request(&without(&form, field)).await;
        assert_aadsts(&a, StatusCode::BAD_REQUEST, "invalid_request", 900_144);
        let wanted = format!("The request body must contain the following parameter: '{field}'.");
        assert!(
            a.body["error_description"]
                .as_str()
                .unwrap_or_default()
                .contains(&wanted)
        );
    }
    let a = h.token_request(&without(&form, "client_secret")).await;
    assert_aadsts(&a, StatusCode::UNAUTHORIZED, "invalid_client", 7_000_218);
    let a = h
        .token_request(&with(&form, "grant_type", "password"))
        .await;
    assert_aadsts(
        &a,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
        70_003,
    );
    h.emu.shutdown().await;
}

#[tokio::test]
async fn token_outage_fault_fails_the_next_requests_then_recovers() {
    let h = Harness::small().await;
    let f = h
        .control(
            Method::POST,
            "/faults",
            Some(json!({"status": 503, "count": 2, "target": "token", "retryAfter": 3})),
        )
        .await;
    assert_eq!(f.status, StatusCode::OK, "{:?}", f.body);
    // A Graph request is not affected by a token fault.
    assert_eq!(h.get("/v1.0/organization").await.status, StatusCode::OK);
    for _ in 0..2 {
        let a = h.token_request(&h.token_form()).await;
        assert_aadsts(
            &a,
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            90_033,
        );
        assert_eq!(a.header("retry-after"), Some("3"));
    }
    assert_eq!(
        h.token_request(&h.token_form()).await.status,
        StatusCode::OK
    );
    let state = h.state().await;
    assert_eq!(state["tokens"]["faulted"], 2);
    assert_eq!(state["requests"]["faulted"], 2);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn graph_requires_a_valid_bearer_token() {
    let h = Harness::small().await;
    let none = h
        .http
        .get(h.url("/v1.0/users"))
        .send()
        .await
        .expect("request");
    let none = super::answer(none).await;
    assert_eq!(
        (none.status, none.code()),
        (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken")
    );
    assert_eq!(none.message(), "Access token is empty.");
    assert!(
        none.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer"))
    );
    assert_eq!(none.header("x-ms-resource-unit"), Some("0"));
    let bad = h
        .http
        .get(h.url("/v1.0/users"))
        .bearer_auth("forged")
        .send()
        .await
        .expect("request");
    let bad = super::answer(bad).await;
    assert_eq!(
        (bad.status, bad.message()),
        (StatusCode::UNAUTHORIZED, "Invalid token.")
    );
    h.emu.shutdown().await;

    let expired = Harness::start(EmulatorConfig {
        token_lifetime: Duration::ZERO,
        ..config(10, 1)
    })
    .await;
    let a = expired.get("/v1.0/organization").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.message(),
        "Lifetime validation failed, the token is expired."
    );
    assert_eq!(expired.state().await["requests"]["byStatus"]["401"], 1);
    expired.emu.shutdown().await;
}

#[tokio::test]
async fn each_route_needs_its_permission_from_the_current_grants() {
    let h = Harness::start(EmulatorConfig {
        permissions: Vec::new(),
        ..config(10, 2)
    })
    .await;
    let user = h.user_of_kind("cloudOnly").await;
    let user_path = format!("/v1.0/users/{}", user["id"].as_str().unwrap_or_default());
    let group = h.all_groups().await[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let org = h.org_path();
    let patch_org = json!({"onPremisesSyncEnabled": true});
    let patch_user = json!({"jobTitle": "Pilot"});
    // (method, path, body, permission that grants exactly this)
    let cases = [
        (
            Method::GET,
            "/v1.0/organization".to_string(),
            None,
            "Organization.Read.All",
        ),
        (
            Method::PATCH,
            org.clone(),
            Some(patch_org.clone()),
            "Organization.ReadWrite.All",
        ),
        (
            Method::GET,
            "/v1.0/users".to_string(),
            None,
            "User.Read.All",
        ),
        (
            Method::PATCH,
            user_path.clone(),
            Some(patch_user.clone()),
            "User.ReadWrite.All",
        ),
        (
            Method::GET,
            format!("/v1.0/groups/{group}"),
            None,
            "GroupMember.Read.All",
        ),
    ];
    for (method, path, body, permission) in &cases {
        let a = h.call(method.clone(), path, body.clone(), &[]).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(a.code(), "Authorization_RequestDenied");
        assert_eq!(
            a.message(),
            "Insufficient privileges to complete the operation."
        );
        let p = h
            .control(
                Method::PUT,
                "/permissions",
                Some(json!({"permissions": [permission]})),
            )
            .await;
        assert_eq!(p.status, StatusCode::OK);
        let a = h.call(method.clone(), path, body.clone(), &[]).await;
        assert!(
            a.status.is_success(),
            "{method} {path} with {permission}: {:?}",
            a.body
        );
    }
    // Read-only directory permission: reads pass, writes do not.
    h.control(
        Method::PUT,
        "/permissions",
        Some(json!({"permissions": ["Directory.Read.All"]})),
    )
    .await;
    assert_eq!(h.get("/v1.0/users").await.status, StatusCode::OK);
    assert_eq!(h.get("/v1.0/groups").await.status, StatusCode::OK);
    assert_eq!(h.get("/v1.0/organization").await.status, StatusCode::OK);
    assert_eq!(
        h.patch(&user_path, patch_user).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(h.patch(&org, patch_org).await.status, StatusCode::FORBIDDEN);
    let state = h.state().await;
    assert_eq!(state["permissions"], json!(["Directory.Read.All"]));
    // Forbidden writes are neither accepted nor refused writes.
    assert_eq!(state["writes"]["accepted"], 2);
    assert_eq!(state["writes"]["refused"], 0);
    h.emu.shutdown().await;
}

/// Tokens are JWTs naming the application's permissions when issued (sorted, no `roles`
/// claim when none); `--access-token-format opaque` issues random strings. Graph accepts
/// both, by looking them up, and a token forged from a real one's claims is refused.
#[tokio::test]
async fn access_tokens_are_jwts_with_roles_or_opaque_and_graph_accepts_both() {
    use crate::emulator::AccessTokenFormat;
    use crate::graph::Grants;
    let h = Harness::start(EmulatorConfig {
        permissions: vec!["User.Read.All".into(), "Organization.Read.All".into()],
        ..config(5, 1)
    })
    .await;
    let claims = |token: &str| -> Value {
        let payload = token.split('.').nth(1).unwrap_or_default();
        serde_json::from_slice(&base64::Engine::decode(&URL_SAFE_NO_PAD, payload).unwrap()).unwrap()
    };
    let c = claims(&h.token);
    assert_eq!(
        c["roles"],
        json!(["Organization.Read.All", "User.Read.All"])
    );
    assert_eq!(c["aud"], "https://graph.microsoft.com");
    assert_eq!(c["tid"], h.config.tenant_id.as_str());
    assert_eq!(c["appid"], h.config.client_id.as_str());
    assert_eq!(c["azp"], h.config.client_id.as_str());
    assert_eq!(c["idtyp"], "app");
    assert!(c["iat"].is_i64() && c["nbf"] == c["iat"]);
    assert_eq!(c["exp"].as_i64(), c["iat"].as_i64().map(|t| t + 3599));
    assert_eq!(h.get("/v1.0/users").await.status, StatusCode::OK);
    // Claims are never trusted: a token with the same claims but not issued here is refused.
    let mut parts: Vec<&str> = h.token.split('.').collect();
    parts[2] = "Zm9yZ2Vk";
    let forged = h
        .http
        .get(h.url("/v1.0/users"))
        .bearer_auth(parts.join("."))
        .send()
        .await
        .expect("request");
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    // A grant changes the next token, not this one (which Graph still checks against the
    // current grants).
    h.grant(&[]).await;
    let token = h.token_request(&h.token_form()).await.body["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(Grants::of_token(&token), Grants::Known(Vec::new()));
    assert!(claims(&token).get("roles").is_none());
    h.emu.shutdown().await;

    let opaque = Harness::start(EmulatorConfig {
        access_token_format: AccessTokenFormat::Opaque,
        ..config(5, 1)
    })
    .await;
    assert_eq!(Grants::of_token(&opaque.token), Grants::Unreadable);
    assert!(!opaque.token.contains('.'));
    assert_eq!(opaque.get("/v1.0/users").await.status, StatusCode::OK);
    opaque.emu.shutdown().await;
}
