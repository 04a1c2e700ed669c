//! The per-object user operations for many users at once: switch the Source of Authority,
//! read it back, clear the ImmutableID and read that back. Batched or one request per user,
//! as the client is set (`batch.rs`); one answer per user, in the order given.

use serde_json::json;

use super::batch::{BatchRequest, ItemResult};
use super::client::{
    GraphClient, WriteReceipt, beta_serves_user_soa, may_lack_user_soa_route, path_segment,
};
use super::error::{GraphError, Operation};
use super::models::SyncBehavior;

fn soa_path(user_id: &str) -> String {
    format!("users/{}/onPremisesSyncBehavior", path_segment(user_id))
}

fn receipt(r: ItemResult) -> Result<WriteReceipt, GraphError> {
    r.map(|a| WriteReceipt {
        request_id: a.request_id,
    })
}

impl GraphClient {
    /// `PATCH /users/{id}/onPremisesSyncBehavior` `{isCloudManaged}` for each of `user_ids`,
    /// `in_flight` batches (or requests) at a time.
    pub async fn set_users_cloud_managed(
        &self,
        user_ids: &[String],
        cloud_managed: bool,
        in_flight: usize,
    ) -> Vec<Result<WriteReceipt, GraphError>> {
        let op = Operation::UpdateSyncBehavior;
        let body = json!({ "isCloudManaged": cloud_managed });
        let requests: Vec<BatchRequest> = user_ids
            .iter()
            .map(|id| BatchRequest::patch(op, soa_path(id), body.clone()))
            .collect();
        self.send_user_soa(&requests, in_flight)
            .await
            .into_iter()
            .map(receipt)
            .collect()
    }

    /// `GET /users/{id}/onPremisesSyncBehavior`: whether each of `user_ids` is cloud-managed.
    pub async fn users_cloud_managed(
        &self,
        user_ids: &[String],
        in_flight: usize,
    ) -> Vec<Result<bool, GraphError>> {
        let op = Operation::GetSyncBehavior;
        let requests: Vec<BatchRequest> = user_ids
            .iter()
            .map(|id| BatchRequest::get(op, format!("{}?$select=isCloudManaged", soa_path(id))))
            .collect();
        self.send_user_soa(&requests, in_flight)
            .await
            .into_iter()
            .map(|r| {
                let body = r?.body.unwrap_or_default();
                serde_json::from_value::<SyncBehavior>(body)
                    .map(|b| b.is_cloud_managed)
                    .map_err(|e| GraphError::Decode {
                        operation: op,
                        detail: e.to_string(),
                    })
            })
            .collect()
    }

    /// `PATCH /users/{id}` `{onPremisesImmutableId: null}` for each of `user_ids`.
    pub async fn clear_immutable_ids(
        &self,
        user_ids: &[String],
        in_flight: usize,
    ) -> Vec<Result<WriteReceipt, GraphError>> {
        let body = json!({ "onPremisesImmutableId": null });
        let requests: Vec<BatchRequest> = user_ids
            .iter()
            .map(|id| {
                BatchRequest::patch(
                    Operation::UpdateUser,
                    format!("users/{}", path_segment(id)),
                    body.clone(),
                )
            })
            .collect();
        self.send_all(&requests, in_flight)
            .await
            .into_iter()
            .map(receipt)
            .collect()
    }

    /// `GET /users/{id}?$select=id,onPremisesImmutableId` for each of `user_ids`: whether
    /// each reads without an ImmutableID (a user that no longer exists has none to clear).
    pub async fn immutable_ids_cleared(
        &self,
        user_ids: &[String],
        in_flight: usize,
    ) -> Vec<Result<bool, GraphError>> {
        let op = Operation::GetUser;
        let requests: Vec<BatchRequest> = user_ids
            .iter()
            .map(|id| {
                BatchRequest::get(
                    op,
                    format!(
                        "users/{}?$select=id,onPremisesImmutableId",
                        path_segment(id)
                    ),
                )
            })
            .collect();
        self.send_all(&requests, in_flight)
            .await
            .into_iter()
            .map(|r| match r {
                Ok(answer) => match answer.body {
                    Some(serde_json::Value::Object(user)) => Ok(user
                        .get("onPremisesImmutableId")
                        .is_none_or(serde_json::Value::is_null)),
                    _ => Err(GraphError::Decode {
                        operation: op,
                        detail: "the user read has no JSON object body".into(),
                    }),
                },
                Err(GraphError::Api { status: 404, .. }) => Ok(true),
                Err(e) => Err(e),
            })
            .collect()
    }

    /// User SOA requests go to `/v1.0`, or `/beta` once v1.0 showed it has no such route: the
    /// requests whose v1.0 answer may mean that (400 naming the segment, 405 inside a batch,
    /// 404) go again under `/beta`, which is used from then on if it served any of them.
    async fn send_user_soa(&self, requests: &[BatchRequest], in_flight: usize) -> Vec<ItemResult> {
        let beta = self.user_soa_on_beta();
        let mut results = self.send_all_on(beta, requests, in_flight).await;
        if beta {
            return results;
        }
        let missing: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r, Err(e) if may_lack_user_soa_route(e)))
            .map(|(i, _)| i)
            .collect();
        let Some(first) = missing
            .first()
            .and_then(|&i| results[i].as_ref().err())
            .cloned()
        else {
            return results;
        };
        let again: Vec<BatchRequest> = missing.iter().map(|&i| requests[i].clone()).collect();
        let answers = self.send_all_on(true, &again, in_flight).await;
        if answers.iter().any(beta_serves_user_soa) {
            self.switch_user_soa_to_beta(&first);
        }
        for (i, answer) in missing.into_iter().zip(answers) {
            results[i] = answer;
        }
        results
    }
}
