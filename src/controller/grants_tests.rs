#![allow(clippy::unwrap_used)]

use super::*;

const TENANT: &str = "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b";
const OTHER_TENANT: &str = "11111111-2222-3333-4444-555555555555";
const OWN: &str = "0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e";
const OTHER_APP: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

fn req<'a>(ns: &'a str, tenant: &'a str, client: &'a str) -> Request<'a> {
    Request {
        namespace: ns,
        tenant_id: tenant,
        client_id: client,
        own_client_id: Some(OWN),
        endpoint_override: false,
    }
}

fn grants(yaml: &str) -> Result<Grants, GrantsError> {
    let dir = std::env::temp_dir().join(format!(
        "grants-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("grants.yaml");
    std::fs::write(&path, yaml).unwrap();
    let g = Grants::load(&path);
    let _ = std::fs::remove_dir_all(&dir);
    g
}

#[test]
fn no_grant_means_the_operators_identity_acts_nowhere() {
    let none = Grants::default();
    let m = none.check(req("identity", TENANT, OWN)).unwrap_err();
    assert!(
        m.contains("not granted to namespace identity for tenant 3f9a1c2e")
            && m.contains("credentialGrants")
            && m.contains(
                "{namespaces: [identity], tenantIds: [3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b]}"
            ),
        "{m}"
    );
    assert!(grants("").unwrap().is_empty());
    assert!(grants("grants: []\n").unwrap().is_empty());
}

#[test]
fn a_grant_covers_its_namespaces_tenants_and_client_ids_only() {
    let g = grants(&format!(
        "grants:\n  - namespaces: [identity]\n    tenantIds: [{TENANT}]\n"
    ))
    .unwrap();
    assert_eq!(g.len(), 1);
    assert_eq!(g.check(req("identity", TENANT, OWN)), Ok(()));
    assert_eq!(
        g.check(req("identity", &TENANT.to_uppercase(), &OWN.to_uppercase())),
        Ok(())
    );
    assert!(g.check(req("team-a", TENANT, OWN)).is_err());
    assert!(g.check(req("identity", OTHER_TENANT, OWN)).is_err());
    // Another application needs naming in clientIds.
    let m = g.check(req("identity", TENANT, OTHER_APP)).unwrap_err();
    assert!(m.contains(&format!("clientIds: [{OTHER_APP}]")), "{m}");
    // Without the pod's own client id, an empty clientIds grants nothing.
    let mut r = req("identity", TENANT, OWN);
    r.own_client_id = None;
    assert!(g.check(r).is_err());

    let apps = grants(&format!(
        "grants:\n  - namespaces: ['*']\n    tenantIds: [{TENANT}]\n    clientIds: [{OTHER_APP}]\n"
    ))
    .unwrap();
    assert_eq!(apps.check(req("anywhere", TENANT, OTHER_APP)), Ok(()));
    assert!(apps.check(req("anywhere", TENANT, OWN)).is_err());
}

#[test]
fn endpoint_overrides_need_the_grant_to_say_so() {
    let plain = Grants::new(vec![Grant {
        namespaces: vec!["identity".into()],
        tenant_ids: vec![TENANT.into()],
        ..Grant::default()
    }])
    .unwrap();
    let mut r = req("identity", TENANT, OWN);
    r.endpoint_override = true;
    let m = plain.check(r).unwrap_err();
    assert!(m.contains("endpointOverride: true"), "{m}");
    let allowing = Grants::new(vec![Grant {
        namespaces: vec!["identity".into()],
        tenant_ids: vec![TENANT.into()],
        endpoint_override: true,
        ..Grant::default()
    }])
    .unwrap();
    assert_eq!(allowing.check(r), Ok(()));
}

#[test]
fn bad_files_name_the_entry_and_field() {
    let cases = [
        ("grants:\n  - tenantIds: [x]\n", "namespaces"),
        (
            "grants:\n  - namespaces: []\n    tenantIds: []\n",
            "grants[0].namespaces",
        ),
        (
            &format!("grants:\n  - namespaces: [Bad_NS]\n    tenantIds: [{TENANT}]\n"),
            "\"Bad_NS\" is not a namespace name",
        ),
        (
            "grants:\n  - namespaces: [a]\n    tenantIds: []\n",
            "grants[0].tenantIds",
        ),
        (
            "grants:\n  - namespaces: [a]\n    tenantIds: [contoso]\n",
            "\"contoso\" is not a GUID",
        ),
        (
            &format!(
                "grants:\n  - namespaces: [a]\n    tenantIds: [{TENANT}]\n    clientIds: [x]\n"
            ),
            "grants[0].clientIds",
        ),
        (
            &format!("grants:\n  - namespaces: [a]\n    tenantIds: [{TENANT}]\n    tenants: [x]\n"),
            "tenants",
        ),
        ("- just a list\n", "expected `grants:`"),
    ];
    for (yaml, wanted) in cases {
        let e = grants(yaml).unwrap_err().to_string();
        assert!(
            e.contains("--credential-grants") && e.contains(wanted),
            "{yaml:?}: {e}"
        );
    }
    let missing = Grants::load(Path::new("/nonexistent/grants.yaml")).unwrap_err();
    assert!(matches!(missing, GrantsError::Read { .. }), "{missing}");
}
