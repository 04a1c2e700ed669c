//! The on-premises side: the AD bind password (right and wrong) never reaches statuses,
//! Events, the journal, `plan` output or `Debug`, through a link audit, a wave that moves AD
//! objects, a refused bind and a revert against the machine's Samba DC.

use entra_cloud_operator::ad::anchor::immutable_id;
use serde_json::json;

use super::ad_support::*;
use super::common::samba::samba_dc;
use super::common::*;

/// A wrong bind password, recognisable in any output.
pub const WRONG_BIND: &str = "Wr0ng-B1nd-Canary-8e2f";

/// Runs the flows; returns everything they produced, and the DC's real bind password (to be
/// searched for too), or `None` where the machine cannot run the DC.
pub async fn run() -> Option<(String, String)> {
    let dc = samba_dc()?;
    let ous = dc.fresh_ous("secrets").await;
    let u = dc.add_user(&ous.synced, "Secret", None).await;
    let emu = start(config(0, 0)).await;
    control_post(
        &emu,
        "load",
        json!({"users": [{"userPrincipalName": u.upn,
            "onPremises": {"immutableId": immutable_id(&u.object_guid), "distinguishedName": u.dn}}]}),
    )
    .await;
    let tenant = tenant_with_ad(ad_spec(dc, &ous));
    let spec = json!({"tenantRef": {"name": "contoso"}, "mode": "Apply",
        "method": "RestoreDeleted", "onDelete": "Revert",
        "selector": {"userPrincipalNames": [u.upn]}});
    let mut out = String::new();
    // The audit and a move out of sync scope, then the revert moving it back.
    let conn = connection(&tenant, &dc.password);
    out.push_str(&format!("{conn:?}\n"));
    let mut h = ad_harness(&emu, cuc(spec.clone()), tenant.clone(), conn);
    h.pass().await.unwrap();
    let moved = dc.user(&u.guid_string()).await.unwrap();
    assert!(
        moved.dn.ends_with(&ous.unsynced),
        "the wave moved it: {}",
        moved.dn
    );
    out.push_str(&format!("{:?}\n{:?}\n", h.status(), h.events));
    out.push_str(&format!("{:?}\n", h.revert().await));
    let back = dc.user(&u.guid_string()).await.unwrap();
    assert!(
        back.dn.eq_ignore_ascii_case(&u.dn),
        "the revert moved it back: {}",
        back.dn
    );
    out.push_str(&std::fs::read_to_string(&h.journal_path).unwrap());
    // A refused bind.
    let conn = connection(&tenant, WRONG_BIND);
    out.push_str(&format!("{conn:?}\n"));
    let mut h = ad_harness(&emu, cuc(spec), tenant, conn);
    h.pass().await.unwrap();
    out.push_str(&format!("{:?}\n{:?}\n", h.status(), h.events));
    assert!(
        out.contains("DirectoryBindFailed"),
        "the bind was refused: {out}"
    );
    Some((out, dc.password.clone()))
}
