//! Registered applications: the control endpoints, and per-application tokens, permissions
//! and quotas on Graph.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::assertions::{APP_CRT, APP_KEY, ISSUER_PUB, sign};
use super::{Answer, Harness, config};
use crate::emulator::EmulatorConfig;
use crate::emulator::apps::Certificate;

const B: &str = "b0b0b0b0-1111-4222-8333-944444444444";
const B_SECRET: &str = "B-app-Secret-Canary-5c1e";

impl Harness {
    async fn register(&self, body: Value) -> Answer {
        self.control(Method::POST, "/apps", Some(body)).await
    }

    /// A token for `client_id` by client secret.
    async fn token_for(&self, client_id: &str, secret: &str) -> String {
        let a = self
            .token_request(&[
                ("grant_type", "client_credentials".into()),
                ("client_id", client_id.into()),
                ("client_secret", secret.into()),
                ("scope", "https://graph.microsoft.com/.default".into()),
            ])
            .await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        a.body["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn get_as(&self, token: &str, path: &str) -> Answer {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("graph request");
        super::answer(r).await
    }
}

fn app_b(permissions: &[&str]) -> Value {
    json!({
        "clientId": B,
        "displayName": "Least-privilege rehearsal",
        "secrets": [B_SECRET],
        "certificates": [APP_CRT],
        "federatedCredentials": [{"issuer": "https://oidc.example", "subject": "system:serviceaccount:a:b",
                                  "signingKey": ISSUER_PUB}],
        "permissions": permissions,
    })
}

#[tokio::test]
async fn apps_register_and_never_show_their_secrets() {
    let h = Harness::small().await;
    let list = h.control(Method::GET, "/apps", None).await;
    assert_eq!(list.status, StatusCode::OK);
    let default = &list.body["value"][0];
    assert_eq!(default["clientId"], h.config.client_id.as_str());
    assert_eq!(default["default"], true);
    assert_eq!(default["permissions"], json!(h.config.permissions));
    assert_eq!(
        default["passwordCredentials"].as_array().map(Vec::len),
        Some(1)
    );

    let a = h.register(app_b(&["User.Read.All"])).await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    let cert = Certificate::from_pem(APP_CRT).expect("certificate");
    assert_eq!(a.body["clientId"], B);
    assert_eq!(a.body["default"], false);
    assert_eq!(a.body["keyCredentials"][0]["x5t#S256"], cert.x5t_s256());
    assert_eq!(
        a.body["keyCredentials"][0]["customKeyIdentifier"],
        cert.thumbprint()
    );
    let fic = &a.body["federatedIdentityCredentials"][0];
    assert_eq!(fic["audiences"], json!(["api://AzureADTokenExchange"]));
    assert_eq!(fic["signingKey"], "publicKey");

    let conflict = h.register(json!({"clientId": B.to_uppercase()})).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT, "{:?}", conflict.body);
    for (body, wanted) in [
        (
            json!({"certificates": ["not a certificate"]}),
            "certificates[0]",
        ),
        (
            json!({"federatedCredentials": [{"issuer": "", "subject": "s"}]}),
            "federatedCredentials[0].issuer",
        ),
        (
            json!({"federatedCredentials": [{"issuer": "i", "subject": "s", "signingKey": "x"}]}),
            "signingKey",
        ),
        (json!({"clientSecret": "x"}), "unknown field"),
    ] {
        let a = h.register(body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
        assert!(a.message().contains(wanted), "{wanted}: {}", a.message());
    }
    let generated = h.register(json!({})).await;
    assert_eq!(generated.status, StatusCode::CREATED);
    assert_eq!(generated.body["clientId"].as_str().map(str::len), Some(36));

    let list = h.control(Method::GET, "/apps", None).await;
    assert_eq!(list.body["value"].as_array().map(Vec::len), Some(3));
    let shown = list.body.to_string();
    for secret in [B_SECRET, h.config.client_secret.as_str()] {
        assert!(
            !shown.contains(secret),
            "{secret} shown by GET /_emulator/apps"
        );
    }
    let p = h
        .control(Method::GET, &format!("/apps/{B}/permissions"), None)
        .await;
    assert_eq!(
        p.body,
        json!({"clientId": B, "permissions": ["User.Read.All"]})
    );
    let missing = h
        .control(
            Method::PUT,
            "/apps/nobody/permissions",
            Some(json!({"permissions": []})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn each_app_gets_its_own_permissions_on_every_route() {
    let h = Harness::small().await;
    assert_eq!(
        h.register(app_b(&["User.Read.All"])).await.status,
        StatusCode::CREATED
    );
    let b = h.token_for(B, B_SECRET).await;
    // A secret of one application does not authenticate another.
    let a = h
        .token_request(&[
            ("grant_type", "client_credentials".into()),
            ("client_id", B.into()),
            ("client_secret", h.config.client_secret.clone()),
            ("scope", "https://graph.microsoft.com/.default".into()),
        ])
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(h.get_as(&b, "/v1.0/users").await.status, StatusCode::OK);
    let denied = h.get_as(&b, "/v1.0/organization").await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(denied.code(), "Authorization_RequestDenied");
    assert_eq!(
        denied.message(),
        "Insufficient privileges to complete the operation."
    );
    assert_eq!(h.get("/v1.0/organization").await.status, StatusCode::OK);

    // /_emulator/permissions is the default application's; B keeps its own.
    h.grant(&["User.Read.All"]).await;
    assert_eq!(
        h.get("/v1.0/organization").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(h.get_as(&b, "/v1.0/users").await.status, StatusCode::OK);
    let p = h
        .control(
            Method::PUT,
            &format!("/apps/{}/permissions", B.to_uppercase()),
            Some(json!({"permissions": ["Organization.Read.All"]})),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{:?}", p.body);
    assert_eq!(
        h.get_as(&b, "/v1.0/organization").await.status,
        StatusCode::OK
    );
    assert_eq!(
        h.get_as(&b, "/v1.0/users").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(h.state().await["permissions"], json!(["User.Read.All"]));

    // B's certificate authenticates B (not only the default application has certificates).
    let token_url = h.url(&format!("/{}/oauth2/v2.0/token", h.config.tenant_id));
    let t = jiff::Timestamp::now().as_second();
    let cert = Certificate::from_pem(APP_CRT).expect("certificate");
    let assertion = sign(
        &json!({"alg": "RS256", "x5t#S256": cert.x5t_s256()}),
        &json!({"aud": token_url, "iss": B, "sub": B, "jti": "j-1", "nbf": t, "exp": t + 600}),
        APP_KEY,
    );
    let a = h
        .token_request(&[
            ("grant_type", "client_credentials".into()),
            ("client_id", B.into()),
            ("scope", "https://graph.microsoft.com/.default".into()),
            (
                "client_assertion_type",
                crate::emulator::token::JWT_BEARER.into(),
            ),
            ("client_assertion", assertion),
        ])
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let by_cert = a.body["access_token"].as_str().unwrap_or_default();
    assert_eq!(
        h.get_as(by_cert, "/v1.0/organization").await.status,
        StatusCode::OK
    );
    assert_eq!(
        h.get_as(by_cert, "/v1.0/users").await.status,
        StatusCode::FORBIDDEN
    );
    h.emu.shutdown().await;
}

#[tokio::test]
async fn resource_units_are_counted_per_application() {
    // Emulated time nearly stands still: the buckets do not refill during the test.
    let h = Harness::start(EmulatorConfig {
        time_scale: 1e-6,
        ..config(10, 2)
    })
    .await;
    assert_eq!(
        h.register(app_b(&["GroupMember.Read.All"])).await.status,
        StatusCode::CREATED
    );
    let b = h.token_for(B, B_SECRET).await;
    let group = h.all_groups().await[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let path = format!("/v1.0/groups/{group}/transitiveMembers");
    // 3,500 RU per 10 s for a small tenant, 5 RU a request: the 701st is throttled.
    let mut throttled = None;
    for _ in 0..800 {
        let a = h.get_as(&b, &path).await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some(a);
            break;
        }
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    }
    let a = throttled.expect("B's resource units run out");
    let scope = format!("Tenant_Application/ReadWrite/{B}/{}", h.config.tenant_id);
    assert_eq!(a.header("x-ms-throttle-scope"), Some(scope.as_str()));
    // The default application has its own budget.
    let own = h.get(&path).await;
    assert_eq!(own.status, StatusCode::OK, "{:?}", own.body);
    assert_eq!(own.header("x-ms-throttle-limit-percentage"), None);
    h.emu.shutdown().await;
}
