//! The operator against a real Active Directory (the machine's Samba DC, `hack/samba-ad.sh`)
//! and the emulated tenant: the link audit finds planted mismatches; a bad bind password and an
//! unreachable DC stall the conversion with nothing changed on either side.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ad_support;
mod common;

use ad_support::*;
use common::samba::{AdUser, random_guid, samba_dc};
use common::*;
use entra_cloud_operator::ad::anchor::immutable_id;
use entra_cloud_operator::api::TenantSyncPolicy;
use entra_cloud_operator::api::conditions as cond;
use serde_json::{Value, json};

/// A synchronised cloud twin of `u` in a tenant file, with this ImmutableID.
fn twin(u: &AdUser, immutable: &str, with_dn: bool) -> Value {
    let mut on = json!({"immutableId": immutable, "samAccountName": u.sam});
    if with_dn {
        on["distinguishedName"] = json!(u.dn);
    }
    json!({"userPrincipalName": u.upn, "displayName": u.sam, "onPremises": on})
}

async fn load(emu: &entra_cloud_operator::emulator::Emulator, users: Vec<Value>) {
    let r = control_post(emu, "load", json!({ "users": users })).await;
    assert!(r.get("error").is_none(), "load: {r}");
}

async fn writes(emu: &entra_cloud_operator::emulator::Emulator) -> (Value, Value) {
    let s = state(emu).await;
    (
        s["writes"]["accepted"].clone(),
        s["writes"]["refused"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_audit_finds_planted_mismatches() {
    let Some(dc) = samba_dc() else { return };
    let ous = dc.fresh_ous("audit").await;
    let (ga, gc) = (random_guid(), random_guid());
    let a = dc.add_user(&ous.synced, "AuditA", Some(ga)).await;
    let b = dc.add_user(&ous.synced, "AuditB", None).await;
    let c = dc.add_user(&ous.synced, "AuditC", Some(gc)).await;
    let d = dc.add_user(&ous.synced, "AuditD", None).await;
    let emu = start(config(0, 0)).await;
    let ghost = format!("ghost{}@{}", fastrand::u32(..), common::samba::UPN_SUFFIX);
    load(
        &emu,
        vec![
            // linked by the consistency GUID (joined by DN)
            twin(&a, &immutable_id(&ga), true),
            // linked by objectGUID, no consistency GUID
            twin(&b, &immutable_id(&b.object_guid), false),
            // planted: the cloud twin carries another anchor (joined by DN)
            twin(&c, &immutable_id(&random_guid()), true),
            // planted: a synchronised cloud user whose AD object does not exist
            json!({"userPrincipalName": ghost, "onPremises": {"immutableId": immutable_id(&random_guid())}}),
        ],
    )
    .await;
    // d has no cloud twin.
    let tenant = tenant_with_ad(ad_spec(dc, &ous));
    let conn = connection(&tenant, &dc.password);
    let upns = [&a.upn, &b.upn, &c.upn, &ghost];
    let obj = cuc(json!({"tenantRef": {"name": "contoso"}, "mode": "Plan",
        "selector": {"userPrincipalNames": upns}}));
    let mut h = ad_harness(&emu, obj, tenant, conn);
    h.pass().await.unwrap();
    let audit = h.status().link_audit.expect("status.linkAudit");
    assert_eq!(
        (
            audit.checked,
            audit.linked,
            audit.mismatched,
            audit.cloud_only,
            audit.ad_only
        ),
        (4, 2, 1, 1, 1),
        "{audit:#?}"
    );
    let found: Vec<(String, Option<String>)> = audit
        .findings
        .iter()
        .map(|f| (f.kind.clone(), f.user_principal_name.clone()))
        .collect();
    assert_eq!(
        found,
        [
            ("Mismatch".to_string(), Some(c.upn.clone())),
            ("CloudOnly".to_string(), Some(ghost.clone())),
            ("AdOnly".to_string(), Some(d.upn.clone())),
        ]
    );
    let m = &audit.findings[0];
    assert_eq!(m.expected.as_deref(), Some(immutable_id(&gc).as_str()));
    assert!(
        m.distinguished_name
            .as_deref()
            .unwrap()
            .eq_ignore_ascii_case(&c.dn)
    );
    assert!(
        h.events.iter().any(|e| e.reason == "LinkMismatch"),
        "{:?}",
        h.events
    );
    // The tenant policy audits every synchronised user of the tenant into its own status.
    let mut tsp: TenantSyncPolicy =
        harness::resource("contoso", serde_json::to_value(&h.tenant).unwrap());
    let guard = Default::default();
    let ctx = entra_cloud_operator::reconcile::Context {
        ad: h.ad.as_ref(),
        ..harness::context(
            harness::key::<TenantSyncPolicy>("contoso"),
            &h.graph,
            &h.journal,
            &guard,
        )
    };
    let out = harness::pass(&mut tsp, &h.tenant, &ctx).await.unwrap();
    let t = out
        .status
        .link_audit
        .expect("TenantSyncPolicy status.linkAudit");
    assert_eq!(
        (t.checked, t.linked, t.mismatched, t.cloud_only, t.ad_only),
        (4, 2, 1, 1, 1),
        "{t:#?}"
    );
    assert!(t.audited_at.is_some());
    assert_eq!(
        writes(&emu).await,
        (json!(0), json!(0)),
        "the audit only reads"
    );
}

/// A RestoreDeleted wave whose bind fails, or whose DC does not answer, stalls naming the cause
/// and the field to fix, with nothing changed in AD or Graph.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_bind_or_an_unreachable_dc_stalls_with_nothing_changed() {
    let Some(dc) = samba_dc() else { return };
    let ous = dc.fresh_ous("stall").await;
    let u = dc.add_user(&ous.synced, "Stall", None).await;
    let emu = start(config(0, 0)).await;
    load(&emu, vec![twin(&u, &immutable_id(&u.object_guid), true)]).await;
    let spec = json!({"tenantRef": {"name": "contoso"}, "mode": "Apply", "method": "RestoreDeleted",
        "selector": {"userPrincipalNames": [u.upn]}});
    let canary = "Wr0ng-Bind-Canary-5d1c";

    // Wrong password.
    let tenant = tenant_with_ad(ad_spec(dc, &ous));
    let conn = connection(&tenant, canary);
    let mut h = ad_harness(&emu, cuc(spec.clone()), tenant, conn);
    h.pass().await.unwrap();
    let (s, reason, msg) = h.condition(cond::STALLED).expect("Stalled");
    assert_eq!(
        (s.as_str(), reason.as_str()),
        ("True", "DirectoryBindFailed"),
        "{msg}"
    );
    assert!(msg.contains("passwordSecretRef"), "{msg}");
    let shown = format!("{:?} {:?}", h.status(), h.events);
    assert!(!shown.contains(canary), "the bind password leaked: {shown}");

    // An unreachable DC: a port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut ad = ad_spec(dc, &ous);
    ad["url"] = json!(format!("ldaps://127.0.0.1:{port}"));
    let tenant = tenant_with_ad(ad);
    let conn = connection(&tenant, &dc.password);
    let mut h = ad_harness(&emu, cuc(spec.clone()), tenant, conn);
    h.pass().await.unwrap();
    let (s, reason, msg) = h.condition(cond::STALLED).expect("Stalled");
    assert_eq!(
        (s.as_str(), reason.as_str()),
        ("True", "DirectoryUnreachable"),
        "{msg}"
    );
    assert!(msg.contains("spec.activeDirectory.url"), "{msg}");

    // A CA that did not sign the DC's certificate.
    let mut ad = ad_spec(dc, &ous);
    let other = rcgen_free_ca();
    ad["caBundle"] = json!({"pem": other});
    let tenant = tenant_with_ad(ad);
    let conn = connection(&tenant, &dc.password);
    let mut h = ad_harness(&emu, cuc(spec), tenant, conn);
    h.pass().await.unwrap();
    let (_, reason, msg) = h.condition(cond::STALLED).expect("Stalled");
    assert_eq!(reason, "DirectoryTlsFailed", "{msg}");

    assert_eq!(writes(&emu).await, (json!(0), json!(0)), "no Graph write");
    let now = dc.user(&u.guid_string()).await.expect("still there");
    assert!(
        now.dn.eq_ignore_ascii_case(&u.dn),
        "the AD object did not move"
    );
    assert!(h.journal_lines().is_empty(), "nothing journaled");
}

/// A self-signed CA certificate unrelated to the DC's (the harness's own CA from another
/// provisioning would do as well).
fn rcgen_free_ca() -> String {
    // A fixed, valid self-signed certificate (CN=Unrelated Test CA), generated once with
    // openssl; it signs nothing the DC presents.
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=Unrelated Test CA",
            "-keyout",
            "/dev/null",
        ])
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The operator's LDAP client over LDAPS and StartTLS (verifying the DC with the harness's CA)
/// and, only when allowed, plain LDAP; paged reads, a move and a disable read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_speaks_ldaps_starttls_and_plain_only_when_allowed() {
    use entra_cloud_operator::ad::{AdClient, Transport};
    let Some(dc) = samba_dc() else { return };
    let ous = dc.fresh_ous("client").await;
    for i in 0..7 {
        dc.add_user(&ous.synced, &format!("Page{i}"), None).await;
    }
    let settings = |url: &str, start_tls: Option<bool>, insecure: bool| {
        let mut ad = ad_spec(dc, &ous);
        ad["url"] = json!(url);
        if let Some(s) = start_tls {
            ad["startTls"] = json!(s);
        }
        ad["allowInsecure"] = json!(insecure);
        let tenant = tenant_with_ad(ad);
        connection(&tenant, &dc.password)
    };
    let ldaps = settings(&dc.ldaps_url, None, false).unwrap();
    let starttls = settings(&dc.ldap_url, None, false).unwrap();
    let plain = settings(&dc.ldap_url, Some(false), true).unwrap();
    assert_eq!(
        (ldaps.transport, starttls.transport, plain.transport),
        (Transport::Ldaps, Transport::StartTls, Transport::Plain)
    );
    let refused = settings(&dc.ldap_url, Some(false), false).unwrap_err();
    assert!(refused.to_string().contains("allowInsecure"), "{refused}");
    for s in [&ldaps, &starttls, &plain] {
        let c = AdClient::connect(s)
            .await
            .unwrap_or_else(|e| panic!("{:?}: {e}", s.transport));
        assert_eq!(
            c.users_in(&ous.synced).await.unwrap().len(),
            7,
            "{:?}",
            s.transport
        );
        c.close().await;
    }
    // A move and a disable, read back through the client.
    let c = AdClient::connect(&ldaps).await.unwrap();
    let users = c.synced_users().await.unwrap();
    let u = &users[0];
    let new_dn = c.move_to(&u.dn, &ous.unsynced).await.unwrap();
    let moved = c.user_by_guid(&u.object_guid).await.unwrap().unwrap();
    assert!(moved.dn.eq_ignore_ascii_case(&new_dn));
    assert_eq!(c.set_enabled(&moved, false).await.unwrap(), 512);
    let after = c.user_by_anchor(&u.anchor()).await.unwrap().unwrap();
    assert!(!after.enabled());
    assert!(after.sid.as_deref().unwrap().starts_with("S-1-5-21-"));
    let by_upn = c
        .user_by_upn(u.upn.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_upn.object_guid, u.object_guid);
    // A filter value that would widen the search if it were not escaped finds nobody.
    assert!(c.user_by_upn("*)(objectClass=*").await.unwrap().is_none());
}
