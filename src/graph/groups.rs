//! The per-object group operations (graph-api.md §3, §5): read a group and its nested groups,
//! members and owners, switch its Source of Authority, add owners.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::client::{GraphClient, ListQuery, Pager, WriteReceipt, decode, path_segment};
use super::error::{GraphError, Operation};
use super::models::SyncBehavior;

/// The group properties a group conversion needs (always requested with `$select`).
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GroupDetail {
    /// Object id.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Whether Entra Connect currently synchronises the group.
    #[serde(default)]
    pub on_premises_sync_enabled: Option<bool>,
    /// Last synchronisation time; set on every group that was ever synchronised.
    #[serde(default)]
    pub on_premises_last_sync_date_time: Option<String>,
    /// Mail-enabled: a distribution list or mail-enabled security group (or a Microsoft 365
    /// group).
    #[serde(default)]
    pub mail_enabled: Option<bool>,
    /// Security-enabled.
    #[serde(default)]
    pub security_enabled: Option<bool>,
    /// `Unified` for Microsoft 365 groups.
    #[serde(default)]
    pub group_types: Option<Vec<String>>,
}

impl GroupDetail {
    /// The `$select` list matching this model.
    pub const SELECT: &'static [&'static str] = &[
        "id",
        "displayName",
        "onPremisesSyncEnabled",
        "onPremisesLastSyncDateTime",
        "mailEnabled",
        "securityEnabled",
        "groupTypes",
    ];

    /// Currently synchronised from AD.
    pub fn is_synced(&self) -> bool {
        self.on_premises_sync_enabled == Some(true)
    }

    /// Synchronised once and no longer (cloud-managed).
    pub fn is_formerly_synced(&self) -> bool {
        !self.is_synced() && self.on_premises_last_sync_date_time.is_some()
    }

    /// A distribution list or mail-enabled security group: once cloud-managed, Exchange
    /// Online manages it and Graph refuses writes to it.
    pub fn is_exchange_managed(&self) -> bool {
        let unified = self
            .group_types
            .iter()
            .flatten()
            .any(|t| t.eq_ignore_ascii_case("Unified"));
        self.mail_enabled == Some(true) && !unified
    }

    /// The display name, or the id when the group has none.
    pub fn name(&self) -> String {
        self.display_name.clone().unwrap_or_else(|| self.id.clone())
    }
}

/// One of a user's memberships: a group, a directory role or an administrative unit.
#[derive(Deserialize)]
struct MemberOf {
    #[serde(rename = "@odata.type", default)]
    kind: Option<String>,
    #[serde(flatten)]
    group: GroupDetail,
}

/// A member or owner, by id.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DirectoryObject {
    /// Object id.
    pub id: String,
    /// `#microsoft.graph.user`, `#microsoft.graph.group`, …
    #[serde(rename = "@odata.type", default)]
    pub odata_type: Option<String>,
}

/// What an owner add did.
#[derive(Clone, Debug)]
pub enum OwnerAdded {
    /// Graph added the owner.
    Added(WriteReceipt),
    /// The user already owned the group (Graph's 400 "… already exist …"): nothing to do.
    AlreadyOwner,
}

fn group_path(id: &str, rest: &str) -> String {
    format!("groups/{}{rest}", path_segment(id))
}

fn detail_query() -> ListQuery {
    ListQuery {
        select: GroupDetail::SELECT.iter().map(|s| s.to_string()).collect(),
        top: Some(999),
        ..Default::default()
    }
}

fn ids_query() -> ListQuery {
    ListQuery {
        select: vec!["id".into()],
        top: Some(999),
        ..Default::default()
    }
}

impl GraphClient {
    /// `GET /groups/{id}` with the [`GroupDetail`] properties; `None` when it does not exist.
    pub async fn group_detail(&self, id: &str) -> Result<Option<GroupDetail>, GraphError> {
        let op = Operation::GetGroup;
        let mut url = self.url(&group_path(id, ""))?;
        url.query_pairs_mut()
            .append_pair("$select", &GroupDetail::SELECT.join(","));
        match self.send(op, Method::GET, url, None, false).await {
            Ok(resp) => decode(op, resp.body).map(Some),
            Err(GraphError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /groups?$filter=…` (advanced query) with the [`GroupDetail`] properties, page by
    /// page.
    pub fn groups_matching(&self, filter: &str) -> Result<Pager<GroupDetail>, GraphError> {
        let query = ListQuery {
            filter: Some(filter.to_string()),
            advanced: true,
            ..detail_query()
        };
        self.pager(Operation::ListGroups, "groups", &query)
    }

    /// `GET /groups/{id}/members/microsoft.graph.group`: the groups nested directly in a
    /// group, page by page.
    pub fn nested_groups(&self, id: &str) -> Result<Pager<GroupDetail>, GraphError> {
        let path = group_path(id, "/members/microsoft.graph.group");
        self.pager(Operation::ListGroupMembers, &path, &detail_query())
    }

    /// `GET /users/{id}/memberOf`: the groups the user is a direct member of, every page
    /// (directory roles and administrative units left out). Without a type cast: a cast on
    /// memberOf is an advanced query, which reads an index that lags behind writes.
    pub async fn user_groups(&self, user_id: &str) -> Result<Vec<GroupDetail>, GraphError> {
        let path = format!("users/{}/memberOf", path_segment(user_id));
        let mut pager: Pager<MemberOf> =
            self.pager(Operation::ListUserMemberOf, &path, &detail_query())?;
        let mut out = Vec::new();
        while let Some(page) = pager.next_page().await? {
            out.extend(
                page.items
                    .into_iter()
                    .filter(|m| m.kind.as_deref() == Some("#microsoft.graph.group"))
                    .map(|m| m.group),
            );
        }
        Ok(out)
    }

    /// `GET /groups/{id}/members?$select=id`: the direct members (users, groups, …) by id.
    pub fn group_member_ids(&self, id: &str) -> Result<Pager<DirectoryObject>, GraphError> {
        let path = group_path(id, "/members");
        self.pager(Operation::ListGroupMembers, &path, &ids_query())
    }

    /// `GET /groups/{id}/owners?$select=id`: the owners by id.
    pub fn group_owner_ids(&self, id: &str) -> Result<Pager<DirectoryObject>, GraphError> {
        let path = group_path(id, "/owners");
        self.pager(Operation::ListGroupOwners, &path, &ids_query())
    }

    /// `GET /groups/{id}/onPremisesSyncBehavior`: whether the group is cloud-managed.
    pub async fn group_cloud_managed(&self, id: &str) -> Result<bool, GraphError> {
        let op = Operation::GetGroupSyncBehavior;
        let mut url = self.url(&group_path(id, "/onPremisesSyncBehavior"))?;
        url.query_pairs_mut()
            .append_pair("$select", "isCloudManaged");
        let resp = self.send(op, Method::GET, url, None, false).await?;
        let b: SyncBehavior = decode(op, resp.body)?;
        Ok(b.is_cloud_managed)
    }

    /// `PATCH /groups/{id}/onPremisesSyncBehavior` `{isCloudManaged}` (200 with the object,
    /// or 204: both are success).
    pub async fn set_group_cloud_managed(
        &self,
        id: &str,
        cloud_managed: bool,
    ) -> Result<WriteReceipt, GraphError> {
        let body = json!({ "isCloudManaged": cloud_managed });
        self.patch(
            Operation::UpdateGroupSyncBehavior,
            &group_path(id, "/onPremisesSyncBehavior"),
            &body,
        )
        .await
    }

    /// `POST /groups/{id}/owners/$ref` naming `directoryObjects/{owner}` on this client's
    /// Graph root (national clouds have their own). Idempotent: an existing owner is
    /// [`OwnerAdded::AlreadyOwner`].
    pub async fn add_group_owner(
        &self,
        group_id: &str,
        owner_id: &str,
    ) -> Result<OwnerAdded, GraphError> {
        let op = Operation::AddGroupOwner;
        let target = self.url(&format!("directoryObjects/{}", path_segment(owner_id)))?;
        let body = json!({ "@odata.id": target.as_str() });
        let url = self.url(&group_path(group_id, "/owners/$ref"))?;
        match self.send(op, Method::POST, url, Some(&body), false).await {
            Ok(resp) => Ok(OwnerAdded::Added(WriteReceipt {
                request_id: resp.request_id,
            })),
            Err(e) if is_already_owner(&e) => Ok(OwnerAdded::AlreadyOwner),
            Err(e) => Err(e),
        }
    }
}

impl GraphClient {
    /// `DELETE /groups/{id}/owners/{owner}/$ref` (revert). An owner already gone is done.
    pub async fn remove_group_owner(
        &self,
        group_id: &str,
        owner_id: &str,
    ) -> Result<Option<WriteReceipt>, GraphError> {
        let op = Operation::RemoveGroupOwner;
        let url = self.url(&group_path(
            group_id,
            &format!("/owners/{}/$ref", path_segment(owner_id)),
        ))?;
        match self.send(op, Method::DELETE, url, None, false).await {
            Ok(resp) => Ok(Some(WriteReceipt {
                request_id: resp.request_id,
            })),
            Err(GraphError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Graph's answer to adding an existing owner: 400 "One or more added object references
/// already exist for the following modified properties: 'owners'."
fn is_already_owner(e: &GraphError) -> bool {
    matches!(e, GraphError::Api { status: 400, message, .. }
        if message.to_ascii_lowercase().contains("already exist"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn group_kinds() {
        let g = |v: serde_json::Value| serde_json::from_value::<GroupDetail>(v).unwrap();
        let synced = g(json!({"id": "a", "onPremisesSyncEnabled": true,
            "onPremisesLastSyncDateTime": "2026-01-01T00:00:00Z", "mailEnabled": false,
            "groupTypes": []}));
        assert!(synced.is_synced() && !synced.is_formerly_synced());
        assert!(!synced.is_exchange_managed());
        let dl = g(json!({"id": "b", "onPremisesSyncEnabled": null,
            "onPremisesLastSyncDateTime": "2026-01-01T00:00:00Z", "mailEnabled": true,
            "groupTypes": null}));
        assert!(dl.is_formerly_synced() && dl.is_exchange_managed());
        let m365 = g(json!({"id": "c", "mailEnabled": true, "groupTypes": ["Unified"]}));
        assert!(!m365.is_exchange_managed() && !m365.is_formerly_synced());
        assert_eq!(m365.name(), "c");
    }

    #[test]
    fn duplicate_owner_answers_are_recognised() {
        let e = |status, message: &str| GraphError::Api {
            operation: Operation::AddGroupOwner,
            status,
            code: "Request_BadRequest".into(),
            message: message.into(),
            request_id: None,
            retry_after: None,
        };
        assert!(is_already_owner(&e(
            400,
            "One or more added object references already exist for the following modified properties: 'owners'."
        )));
        assert!(!is_already_owner(&e(400, "Invalid object identifier 'x'.")));
        assert!(!is_already_owner(&e(404, "already exist")));
    }
}
