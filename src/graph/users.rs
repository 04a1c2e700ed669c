//! The per-object user operations (graph-api.md §2, §3, §4): read a user, the users in a
//! group, switch a user's Source of Authority, list and restore soft-deleted users, put an
//! ImmutableID back.

use reqwest::Method;
use serde_json::json;
use url::Url;

use super::client::{
    GraphClient, ListQuery, Pager, WriteReceipt, beta_serves_user_soa, decode,
    may_lack_user_soa_route, path_segment,
};
use super::error::{GraphError, Operation};
use super::models::{SyncBehavior, User};

impl GraphClient {
    /// `GET /users/{id or UPN}` with the [`User`] properties; `None` when it does not exist.
    pub async fn user(&self, id_or_upn: &str) -> Result<Option<User>, GraphError> {
        let op = Operation::GetUser;
        let mut url = self.url(&format!("users/{}", path_segment(id_or_upn)))?;
        url.query_pairs_mut()
            .append_pair("$select", &User::SELECT.join(","));
        match self.send(op, Method::GET, url, None, false).await {
            Ok(resp) => decode(op, resp.body).map(Some),
            Err(GraphError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The users among the members (or, `transitive`, the members of nested groups too) of a
    /// group, page by page.
    pub fn group_member_users(
        &self,
        group_id: &str,
        transitive: bool,
    ) -> Result<Pager<User>, GraphError> {
        let relation = if transitive {
            "transitiveMembers"
        } else {
            "members"
        };
        let path = format!(
            "groups/{}/{relation}/microsoft.graph.user",
            path_segment(group_id)
        );
        let query = ListQuery {
            select: User::SELECT.iter().map(|s| s.to_string()).collect(),
            top: Some(999),
            ..Default::default()
        };
        self.pager(Operation::ListGroupMembers, &path, &query)
    }

    /// `/users/{id}/onPremisesSyncBehavior` under `/v1.0`, or `/beta` once v1.0 said it has
    /// no such route.
    fn user_soa_url(&self, user_id: &str, beta: bool) -> Result<Url, GraphError> {
        let path = format!("users/{}/onPremisesSyncBehavior", path_segment(user_id));
        if beta {
            self.beta_url(&path)
        } else {
            self.url(&path)
        }
    }

    /// `GET /users/{id}/onPremisesSyncBehavior`: whether the user is cloud-managed.
    pub async fn user_cloud_managed(&self, user_id: &str) -> Result<bool, GraphError> {
        let op = Operation::GetSyncBehavior;
        let url = |beta| -> Result<Url, GraphError> {
            let mut url = self.user_soa_url(user_id, beta)?;
            url.query_pairs_mut()
                .append_pair("$select", "isCloudManaged");
            Ok(url)
        };
        let resp = match self
            .send(op, Method::GET, url(self.user_soa_on_beta())?, None, false)
            .await
        {
            Err(e) if !self.user_soa_on_beta() && may_lack_user_soa_route(&e) => {
                // Every caller that met the missing route retries on beta, not only the
                // one that flipped the switch.
                let again = self.send(op, Method::GET, url(true)?, None, false).await;
                if beta_serves_user_soa(&again) {
                    self.switch_user_soa_to_beta(&e);
                }
                again?
            }
            other => other?,
        };
        let b: SyncBehavior = decode(op, resp.body)?;
        Ok(b.is_cloud_managed)
    }

    /// `PATCH /users/{id}/onPremisesSyncBehavior` `{isCloudManaged}`. Graph answers 200 with
    /// the object, or (some versions) 204; both are success.
    pub async fn set_user_cloud_managed(
        &self,
        user_id: &str,
        cloud_managed: bool,
    ) -> Result<WriteReceipt, GraphError> {
        let op = Operation::UpdateSyncBehavior;
        let body = json!({ "isCloudManaged": cloud_managed });
        let url = self.user_soa_url(user_id, self.user_soa_on_beta())?;
        match self.patch_url(op, url, &body).await {
            Err(e) if !self.user_soa_on_beta() && may_lack_user_soa_route(&e) => {
                // Every caller that met the missing route retries on beta, not only the
                // one that flipped the switch.
                let again = self
                    .patch_url(op, self.user_soa_url(user_id, true)?, &body)
                    .await;
                if beta_serves_user_soa(&again) {
                    self.switch_user_soa_to_beta(&e);
                }
                again
            }
            other => other,
        }
    }

    /// `GET /users` into the caller's own model (its `$select` in `query`), page by page:
    /// for reads that need properties [`User`] leaves out, such as the on-premises link.
    pub fn users_as<T: serde::de::DeserializeOwned>(
        &self,
        query: &ListQuery,
    ) -> Result<Pager<T>, GraphError> {
        self.pager(Operation::ListUsers, "users", query)
    }

    /// Soft-deleted users (`GET /directory/deletedItems/microsoft.graph.user`), page by page.
    pub fn deleted_users(&self) -> Result<Pager<User>, GraphError> {
        let query = ListQuery {
            select: User::SELECT.iter().map(|s| s.to_string()).collect(),
            top: Some(999),
            ..Default::default()
        };
        self.pager(
            Operation::ListDeletedUsers,
            "directory/deletedItems/microsoft.graph.user",
            &query,
        )
    }

    /// `POST /directory/deletedItems/{id}/restore`: the same object comes back, cloud-only.
    pub async fn restore_deleted_user(&self, id: &str) -> Result<WriteReceipt, GraphError> {
        let url = self.url(&format!(
            "directory/deletedItems/{}/restore",
            path_segment(id)
        ))?;
        let resp = self
            .send(
                Operation::RestoreDeletedUser,
                Method::POST,
                url,
                Some(&json!({})),
                false,
            )
            .await?;
        Ok(WriteReceipt {
            request_id: resp.request_id,
        })
    }

    /// `PATCH /users/{id}` with `onPremisesImmutableId` set back to a prior value (revert).
    pub async fn set_immutable_id(
        &self,
        user_id: &str,
        value: &str,
    ) -> Result<WriteReceipt, GraphError> {
        let path = format!("users/{}", path_segment(user_id));
        let body = json!({ "onPremisesImmutableId": value });
        self.patch(Operation::UpdateUser, &path, &body).await
    }
}
