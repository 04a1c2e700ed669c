//! `/groups/delta` over HTTP: `members@delta` in full, then only the members added and
//! removed; membership tracked only when `members` is selected; group updates and removals.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::delta::{item, round};
use super::{Harness, PER_OBJECT, config, nth_of_kind};

fn group_named(groups: &[Value], name: &str) -> String {
    groups
        .iter()
        .find(|g| g["displayName"] == name)
        .and_then(|g| g["id"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn member(kind: &str, id: &str) -> Value {
    json!({ "@odata.type": format!("#microsoft.graph.{kind}"), "id": id })
}

fn removed(id: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.user",
        "id": id,
        "@removed": { "reason": "deleted" },
    })
}

#[tokio::test]
async fn the_first_round_lists_every_member_then_only_the_changes() {
    let h = Harness::start(config(40, 6)).await;
    h.grant(PER_OBJECT).await;
    let groups = h.all_groups().await;
    let users = h.all_users().await;
    let first = round(&h, "/v1.0/groups/delta?$select=displayName,members", &[]).await;
    assert_eq!(first.items.len(), groups.len());
    for g in &groups {
        let id = g["id"].as_str().unwrap_or_default();
        let got = item(&first.items, id).cloned().unwrap_or_default();
        let expected: Vec<Value> = g["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|m| {
                let nested = groups.iter().any(|x| x["id"] == m);
                member(if nested { "group" } else { "user" }, m)
            })
            .collect();
        let listed = got["members@delta"].as_array().cloned().unwrap_or_default();
        assert_eq!(listed, expected, "{id}");
        assert_eq!(got["displayName"], g["displayName"]);
        assert!(got.get("mailNickname").is_none(), "not selected");
    }
    let wave = group_named(&groups, "Migration Wave 1");
    let wave_members: Vec<String> = groups
        .iter()
        .find(|g| g["id"] == wave.as_str())
        .and_then(|g| g["members"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str().map(str::to_string))
        .collect();
    let leaving = wave_members[0].clone();
    let joining = (0..40)
        .map(|n| nth_of_kind(&users, "synced", n))
        .find(|u| !wave_members.contains(u))
        .unwrap_or_default();
    let add = h
        .post(
            &format!("/v1.0/groups/{wave}/members/$ref"),
            Some(json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{joining}") })),
        )
        .await;
    assert_eq!(add.status, StatusCode::NO_CONTENT, "{:?}", add.body);
    let remove = h
        .delete(&format!("/v1.0/groups/{wave}/members/{leaving}/$ref"))
        .await;
    assert_eq!(remove.status, StatusCode::NO_CONTENT, "{:?}", remove.body);
    let next = round(&h, &first.delta, &[]).await;
    assert_eq!(next.items.len(), 1, "{:?}", next.items);
    let g = &next.items[0];
    assert_eq!(g["id"], wave.as_str());
    assert_eq!(
        g["displayName"], "Migration Wave 1",
        "unchanged, current value"
    );
    let mut expected = vec![member("user", &joining), removed(&leaving)];
    expected.sort_by_key(|m| m["id"].as_str().map(str::to_string));
    assert_eq!(g["members@delta"], Value::Array(expected));
    let minimal = round(&h, &first.delta, &[("Prefer", "return=minimal")]).await;
    let g = &minimal.items[0];
    assert!(g.get("displayName").is_none(), "{g}");
    assert_eq!(g["members@delta"].as_array().map(Vec::len), Some(2));
    assert!(round(&h, &next.delta, &[]).await.items.is_empty());
    h.emu.shutdown().await;
}

#[tokio::test]
async fn membership_surfaces_a_group_only_when_members_is_selected() {
    let h = Harness::start(config(20, 3)).await;
    h.grant(PER_OBJECT).await;
    let groups = h.all_groups().await;
    let admins = group_named(&groups, "Cloud Admins");
    let names = round(&h, "/v1.0/groups/delta?$select=displayName", &[]).await;
    assert!(names.items.iter().all(|g| g.get("members@delta").is_none()));
    let bare = round(&h, "/v1.0/groups/delta", &[]).await;
    let listed = item(&bare.items, &admins).cloned().unwrap_or_default();
    assert!(
        listed["members@delta"].is_array(),
        "members by default: {listed}"
    );
    assert!(listed["securityEnabled"].is_boolean(), "{listed}");
    // A user leaving by deletion changes the group's members, not its name.
    let users = h.all_users().await;
    let cloud = nth_of_kind(&users, "cloudOnly", 1);
    assert_eq!(
        h.delete(&format!("/v1.0/users/{cloud}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(round(&h, &names.delta, &[]).await.items.is_empty());
    let with_members = round(&h, &bare.delta, &[]).await;
    let changed = item(&with_members.items, &admins)
        .cloned()
        .unwrap_or_default();
    assert_eq!(changed["members@delta"], json!([removed(&cloud)]));
    // A rename surfaces the group for both.
    let p = h
        .patch(
            &format!("/v1.0/groups/{admins}"),
            json!({"displayName": "Admins"}),
        )
        .await;
    assert_eq!(p.status, StatusCode::NO_CONTENT, "{:?}", p.body);
    let renamed = round(&h, &names.delta, &[]).await;
    assert_eq!(
        renamed.items,
        vec![json!({"id": admins, "displayName": "Admins"})]
    );
    h.emu.shutdown().await;
}

#[tokio::test]
async fn deleted_groups_are_removed_changed_or_deleted() {
    let h = Harness::start(config(10, 2)).await;
    h.grant(PER_OBJECT).await;
    let groups = h.all_groups().await;
    let (unified, security) = (
        group_named(&groups, "All Company"),
        group_named(&groups, "Migration Wave 1"),
    );
    let first = round(&h, "/beta/groups/delta?$select=displayName", &[]).await;
    for id in [&unified, &security] {
        let d = h.delete(&format!("/v1.0/groups/{id}")).await;
        assert_eq!(d.status, StatusCode::NO_CONTENT, "{:?}", d.body);
    }
    let next = round(&h, &first.delta, &[]).await;
    assert_eq!(next.items.len(), 2);
    let reason = |id: &str| item(&next.items, id).map(|i| i["@removed"]["reason"].clone());
    assert_eq!(reason(&unified), Some(json!("changed")));
    assert_eq!(reason(&security), Some(json!("deleted")));
    let r = h
        .post(
            &format!("/v1.0/directory/deletedItems/{unified}/restore"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let back = round(&h, &next.delta, &[]).await;
    assert_eq!(
        back.items,
        vec![json!({"id": unified, "displayName": "All Company"})]
    );
    h.emu.shutdown().await;
}
