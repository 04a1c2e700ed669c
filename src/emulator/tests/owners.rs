//! Graph's two owner rules over HTTP, each both ways: a group's last owner cannot be removed
//! (`last_owner_removal`), and the owners of synced groups and of groups Exchange Online
//! masters are "not available" (`unavailable_owners`).

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Harness, PER_OBJECT, config, nth_of_kind, values};
use crate::emulator::routes::related::{LAST_OWNER, OWNERS_NOT_AVAILABLE};
use crate::emulator::{EmulatorConfig, LastOwnerRemoval, UnavailableOwners};

fn ids(body: &Value) -> Vec<String> {
    values(body)
        .iter()
        .filter_map(|v| v["id"].as_str().map(str::to_string))
        .collect()
}

fn cloud_security_group(groups: &[Value]) -> String {
    groups
        .iter()
        .find(|g| g["kind"] == "cloudOnly" && g["mailEnabled"] == false)
        .and_then(|g| g["id"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn the_last_owner_is_refused_by_default_and_removable_when_the_rule_is_off() {
    for rule in [LastOwnerRemoval::Refuse, LastOwnerRemoval::Allow] {
        let h = Harness::start(EmulatorConfig {
            last_owner_removal: rule,
            ..config(10, 3)
        })
        .await;
        h.grant(PER_OBJECT).await;
        let group = cloud_security_group(&h.all_groups().await);
        let users = h.all_users().await;
        let added = nth_of_kind(&users, "synced", 0);
        let owners = ids(&h.get(&format!("/v1.0/groups/{group}/owners")).await.body);
        assert_eq!(owners.len(), 1, "the seeded cloud group has one owner");
        let body =
            json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/users/{added}") });
        let a = h
            .post(&format!("/v1.0/groups/{group}/owners/$ref"), Some(body))
            .await;
        assert_eq!(a.status, StatusCode::NO_CONTENT);
        // Another owner remains: the seeded owner can go.
        let a = h
            .delete(&format!("/v1.0/groups/{group}/owners/{}/$ref", owners[0]))
            .await;
        assert_eq!(a.status, StatusCode::NO_CONTENT, "{rule:?}");
        // The added owner is now the last.
        let a = h
            .delete(&format!("/v1.0/groups/{group}/owners/{added}/$ref"))
            .await;
        let left = ids(&h.get(&format!("/v1.0/groups/{group}/owners")).await.body);
        match rule {
            LastOwnerRemoval::Refuse => {
                assert_eq!(a.status, StatusCode::BAD_REQUEST);
                assert_eq!(a.code(), "Request_BadRequest");
                assert_eq!(a.message(), LAST_OWNER);
                assert_eq!(
                    a.message(),
                    "The group must have at least one owner, hence this owner cannot be removed."
                );
                assert_eq!(left, vec![added.clone()]);
            }
            LastOwnerRemoval::Allow => {
                assert_eq!(a.status, StatusCode::NO_CONTENT);
                assert!(left.is_empty());
            }
        }
        // The refusal is not a write; the removals that happened are.
        let removed = h.object("groups", &group).await["writeCounts"]["ownersRemoved"].clone();
        let expected = if rule == LastOwnerRemoval::Refuse {
            1
        } else {
            2
        };
        assert_eq!(removed, expected, "{rule:?}");
        h.emu.shutdown().await;
    }
}

#[tokio::test]
async fn owners_of_synced_and_distribution_groups_are_not_available() {
    for mode in [
        UnavailableOwners::Refuse,
        UnavailableOwners::Empty,
        UnavailableOwners::List,
    ] {
        let h = Harness::start(EmulatorConfig {
            unavailable_owners: mode,
            ..config(20, 10)
        })
        .await;
        h.grant(PER_OBJECT).await;
        let groups = h.all_groups().await;
        let synced = |mail: bool| {
            groups
                .iter()
                .find(|g| g["kind"] == "synced" && g["mailEnabled"] == mail)
                .and_then(|g| g["id"].as_str())
                .unwrap_or_default()
                .to_string()
        };
        let (dl, security) = (synced(true), synced(false));
        assert!(!dl.is_empty() && !security.is_empty());
        let cloud = cloud_security_group(&groups);
        // Switched, a distribution list is Exchange Online's: its owners stay not available;
        // a security group is the cloud's: its owners are listed.
        let switched_dl = synced_after_switch(&h, &groups).await;
        for g in [&dl, &security, &switched_dl] {
            for path in [
                format!("/v1.0/groups/{g}/owners"),
                format!("/v1.0/groups/{g}/owners/microsoft.graph.user?$select=id"),
            ] {
                let a = h.get(&path).await;
                match mode {
                    UnavailableOwners::Refuse => {
                        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}");
                        assert_eq!(a.code(), "Request_BadRequest");
                        assert_eq!(a.message(), OWNERS_NOT_AVAILABLE);
                    }
                    UnavailableOwners::Empty | UnavailableOwners::List => {
                        assert_eq!(a.status, StatusCode::OK, "{path}");
                        assert!(ids(&a.body).is_empty(), "{path}");
                    }
                }
            }
        }
        let a = h.get(&format!("/v1.0/groups/{cloud}/owners")).await;
        assert_eq!(a.status, StatusCode::OK, "{mode:?}");
        assert_eq!(ids(&a.body).len(), 1);
        // Unknown group: 404 in every mode.
        let a = h
            .get("/v1.0/groups/00000000-0000-0000-0000-000000000000/owners")
            .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        h.emu.shutdown().await;
    }
}

/// The second synced distribution list, switched to the cloud (Exchange Online masters it).
async fn synced_after_switch(h: &Harness, groups: &[Value]) -> String {
    let dl = groups
        .iter()
        .filter(|g| g["kind"] == "synced" && g["mailEnabled"] == true)
        .nth(1)
        .and_then(|g| g["id"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(!dl.is_empty(), "the seed has two synced distribution lists");
    let a = h
        .patch(
            &format!("/v1.0/groups/{dl}/onPremisesSyncBehavior"),
            json!({"isCloudManaged": true}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    dl
}
