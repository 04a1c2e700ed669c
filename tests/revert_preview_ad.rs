//! The plan of a revert with an AD connection, against the machine's Samba DC: after
//! `afterConversion: Disable`, the preview (reads only) names the ImmutableID restore, the
//! switch back and the account to re-enable; after the revert it names nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ad_support;
mod common;

use std::time::Duration;

use ad_support::*;
use common::samba::{random_guid, samba_dc};
use common::*;
use entra_cloud_operator::emulator::active_directory::AdSourceConfig;
use entra_cloud_operator::reconcile::RevertOutcome;
use entra_cloud_operator::reconcile::user::revert::preview;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_names_the_account_to_enable_and_nothing_once_reverted() {
    let Some(dc) = samba_dc() else { return };
    let ous = dc.fresh_ous("preview").await;
    let a = dc.add_user(&ous.synced, "PrevA", Some(random_guid())).await;
    let mut source = AdSourceConfig::new(&dc.ldaps_url, &dc.bind_dn, &dc.password, &dc.base_dn);
    source.ca_pem = Some(std::fs::read_to_string(&dc.ca_pem).unwrap());
    source.synced_ous = vec![ous.synced.clone()];
    let mut cfg = consistent_config(0, 0);
    cfg.active_directory = Some(source);
    cfg.domain = common::samba::UPN_SUFFIX.into();
    cfg.sync_interval = Duration::from_secs(1800);
    let emu = start(cfg).await;
    control_post(&emu, "sync/cycle", json!({})).await;
    control_put(
        &emu,
        "permissions",
        json!({"permissions": ["Organization.Read.All", "User.ReadWrite.All", "Group.Read.All",
            "GroupMember.Read.All", "User-OnPremisesSyncBehavior.ReadWrite.All"]}),
    )
    .await;
    let tenant = tenant_with_ad(ad_spec(dc, &ous));
    let conn = connection(&tenant, &dc.password);
    let obj = cuc(json!({"tenantRef": {"name": "contoso"}, "mode": "Apply",
        "method": "SourceOfAuthority", "clearImmutableId": true, "afterConversion": "Disable",
        "onDelete": "Revert", "selector": {"userPrincipalNames": [a.upn]},
        "rollout": {"canary": 0, "pauseBetweenWaves": "0s"}}));
    let mut h = ad_harness(&emu, obj, tenant, conn);
    for _ in 0..6 {
        h.pass().await.unwrap();
        if dc
            .user(&a.dn)
            .await
            .is_some_and(|u| u.user_account_control & 2 != 0)
        {
            break;
        }
    }
    assert_eq!(dc.user(&a.dn).await.unwrap().user_account_control & 2, 2);
    control_post(
        &emu,
        "directory/features",
        json!({"blockCloudObjectTakeoverThroughHardMatchEnabled": false}),
    )
    .await;

    let writes = state(&emu).await["writes"]["accepted"].clone();
    let plan = preview(&h.ctx()).await.unwrap();
    assert_eq!(
        state(&emu).await["writes"]["accepted"],
        writes,
        "preview wrote"
    );
    assert!(plan.refused.0.is_empty(), "{:?}", plan.refused);
    let actions: Vec<&str> = plan.steps.iter().map(|s| s.action.as_str()).collect();
    assert_eq!(actions.len(), 3, "{actions:?}");
    assert!(
        actions[0].starts_with("restore ImmutableID "),
        "{actions:?}"
    );
    assert_eq!(actions[1], "switch back to AD (isCloudManaged=false)");
    assert_eq!(actions[2], "re-enable its AD account (userAccountControl)");
    assert!(
        plan.steps
            .iter()
            .all(|s| s.name.eq_ignore_ascii_case(&a.upn))
    );
    assert_eq!(
        dc.user(&a.dn).await.unwrap().user_account_control & 2,
        2,
        "still disabled"
    );

    let outcome = h.revert().await;
    assert!(matches!(outcome, RevertOutcome::Done(_)), "{outcome:?}");
    assert_eq!(dc.user(&a.dn).await.unwrap().user_account_control & 2, 0);
    let plan = preview(&h.ctx()).await.unwrap();
    assert!(plan.steps.is_empty(), "{:?}", plan.steps);
}
