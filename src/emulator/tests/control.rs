//! Control endpoints: state, seeding, time, permissions.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::Harness;

#[tokio::test]
async fn state_reports_the_documented_shape() {
    let h = Harness::small().await;
    h.get("/v1.0/users").await;
    h.get("/v1.0/nothing").await;
    let s = h.state().await;
    assert_eq!(s["tenantId"], h.config.tenant_id.as_str());
    assert!(s["now"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(s["timeScale"], 1.0);
    let org = &s["organization"];
    assert_eq!(
        (
            org["onPremisesSyncEnabled"].clone(),
            org["syncState"].clone()
        ),
        (json!(true), json!("Enabled"))
    );
    assert_eq!(
        (
            org["disableRequestedAt"].clone(),
            org["disableCompletesAt"].clone()
        ),
        (Value::Null, Value::Null)
    );
    assert_eq!(
        s["users"],
        json!({"total": 35, "synced": 30, "formerlySynced": 0, "cloudOnly": 5, "cloudManaged": 0, "withImmutableId": 30})
    );
    assert_eq!(
        s["groups"],
        json!({"total": 8, "synced": 5, "formerlySynced": 0, "cloudOnly": 3, "cloudManaged": 0})
    );
    assert_eq!(
        s["writes"],
        json!({"accepted": 0, "refused": 0, "throttled": 0, "byOperation": {}})
    );
    assert_eq!(
        s["requests"],
        json!({"total": 2, "throttled": 0, "faulted": 0, "faultsInjected": {}, "byStatus": {"200": 1, "400": 1},
            "batches": 0, "batchItems": 0})
    );
    assert_eq!(
        s["permissions"],
        json!(crate::emulator::DEFAULT_PERMISSIONS)
    );
    let users = h.all_users().await;
    let kinds = |k: &str| users.iter().filter(|u| u["kind"] == k).count();
    assert_eq!(
        (
            kinds("synced"),
            kinds("cloudOnly"),
            kinds("syncServiceAccount"),
            kinds("breakGlass")
        ),
        (30, 2, 1, 2)
    );
    assert!(
        users
            .iter()
            .all(|u| u["writes"] == 0 && u.get("onPremisesImmutableId").is_some())
    );
    h.emu.shutdown().await;
}

#[tokio::test]
async fn seeding_replaces_the_tenant_deterministically() {
    let h = Harness::small().await;
    h.get("/v1.0/users").await;
    let a = h
        .control(
            Method::POST,
            "/seed",
            Some(json!({"users": 12, "groups": 3, "seed": 7})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["users"]["total"], 12 + 5);
    assert_eq!(a.body["requests"]["total"], 0);
    assert_eq!(a.body["tenantId"], h.config.tenant_id.as_str());
    let first: Vec<Value> = h
        .all_users()
        .await
        .iter()
        .map(|u| u["id"].clone())
        .collect();
    h.control(
        Method::POST,
        "/seed",
        Some(json!({"users": 12, "groups": 3, "seed": 7})),
    )
    .await;
    let second: Vec<Value> = h
        .all_users()
        .await
        .iter()
        .map(|u| u["id"].clone())
        .collect();
    assert_eq!(first, second);
    h.control(Method::POST, "/seed", Some(json!({"seed": 8})))
        .await;
    let third = h.all_users().await;
    assert_eq!(third.len(), 30 + 5);
    // The token issued before reseeding still works.
    assert_eq!(h.get("/v1.0/organization").await.status, StatusCode::OK);
    for bad in [
        json!({"users": "many"}),
        json!({"users": 2_000_000}),
        json!({"colour": 1}),
    ] {
        let a = h.control(Method::POST, "/seed", Some(bad.clone())).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    h.emu.shutdown().await;
}

#[tokio::test]
async fn time_moves_forward_only() {
    let h = Harness::small().await;
    let before = h.state().await["now"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let after = h.advance(86_400.0).await["now"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(after > before);
    for bad in [
        json!({"seconds": -1}),
        json!({}),
        json!({"seconds": "1"}),
        json!({"seconds": 1e300}),
    ] {
        let a = h
            .control(Method::POST, "/time/advance", Some(bad.clone()))
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let p = h.control(Method::GET, "/permissions", None).await;
    assert_eq!(
        p.body["permissions"].as_array().map(Vec::len),
        Some(crate::emulator::DEFAULT_PERMISSIONS.len())
    );
    h.emu.shutdown().await;
}

/// A control request with a raw (YAML) body.
async fn post_text(h: &Harness, path: &str, body: &str) -> (StatusCode, Value) {
    let r = h
        .http
        .post(h.url(&format!("/_emulator{path}")))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_tenant_file_loads_and_a_dump_resumes_a_rehearsal() {
    let h = Harness::small().await;
    let file = "
organization: { displayName: Fabrikam, domains: [{ name: fabrikam.com }] }
users:
  - { userPrincipalName: ada@fabrikam.com, displayName: Ada Lovelace }
  - { userPrincipalName: alan@fabrikam.com }
groups:
  - { displayName: SG Finance, members: [ada@fabrikam.com, alan@fabrikam.com] }
";
    let (status, state) = post_text(&h, "/load", file).await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(state["users"]["total"], 2);
    let ada = h
        .get("/v1.0/users/ada@fabrikam.com?$select=id,onPremisesSyncEnabled")
        .await;
    assert_eq!(ada.status, StatusCode::OK);
    assert_eq!(ada.body["onPremisesSyncEnabled"], true);
    let id = ada.body["id"].as_str().unwrap().to_string();
    let switched = h
        .patch(
            &format!("/v1.0/users/{id}/onPremisesSyncBehavior"),
            json!({"isCloudManaged": true}),
        )
        .await;
    assert_eq!(switched.status, StatusCode::OK, "{:?}", switched.body);

    let dump = h.control(Method::GET, "/dump", None).await;
    assert_eq!(dump.status, StatusCode::OK);
    // A broken file is refused and leaves the tenant alone.
    let (status, error) = post_text(&h, "/load", "users: [{ userPrincipalName: nobody }]").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("users[0] (nobody): userPrincipalName must look like name@domain.com")
    );
    assert_eq!(h.state().await["users"]["cloudManaged"], 1);
    // Start over from scratch, then resume from the dump.
    h.control(
        Method::POST,
        "/seed",
        Some(json!({"users": 5, "groups": 1})),
    )
    .await;
    let (status, state) = post_text(&h, "/load", &dump.body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(state["users"]["cloudManaged"], 1);
    let behaviour = h
        .get(&format!("/v1.0/users/{id}/onPremisesSyncBehavior"))
        .await;
    assert_eq!(behaviour.body["isCloudManaged"], true);
    h.emu.shutdown().await;
}

#[tokio::test]
async fn a_tenant_file_registers_its_applications() {
    let h = Harness::small().await;
    let reader = "c0ffee00-1111-4222-8333-944444444444";
    let file = format!(
        "users: [{{ userPrincipalName: ada@contoso.com }}]\napps:\n  - {{ clientId: {reader}, secrets: [reader-secret], permissions: [User.Read.All] }}\n"
    );
    let (status, state) = post_text(&h, "/load", &file).await;
    assert_eq!(status, StatusCode::OK, "{state}");
    let token = |id: &str, secret: &str| {
        vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", id.to_string()),
            ("client_secret", secret.to_string()),
            ("scope", "https://graph.microsoft.com/.default".to_string()),
        ]
    };
    let t = h.token_request(&token(reader, "reader-secret")).await;
    assert_eq!(t.status, StatusCode::OK, "{:?}", t.body);
    let bearer = t.body["access_token"].as_str().unwrap().to_string();
    let read = |path: &'static str| {
        let (http, bearer, url) = (h.http.clone(), bearer.clone(), h.url(path));
        async move {
            http.get(url)
                .bearer_auth(bearer)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(read("/v1.0/users").await, StatusCode::OK);
    // Only what the file granted.
    assert_eq!(read("/v1.0/organization").await, StatusCode::FORBIDDEN);
    // Loading the file again replaces the application; the dump leaves applications out.
    let (status, _) = post_text(&h, "/load", &file).await;
    assert_eq!(status, StatusCode::OK);
    let dump = h.control(Method::GET, "/dump", None).await;
    assert!(dump.body.get("apps").is_none());
    assert!(!dump.body.to_string().contains("reader-secret"));
    // The default application is the command line's.
    let clash = format!(
        "apps: [{{ clientId: {}, secrets: [x] }}]\n",
        h.config.client_id
    );
    let (status, error) = post_text(&h, "/load", &clash).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("is the default application"),
        "{error}"
    );
    h.emu.shutdown().await;
}
