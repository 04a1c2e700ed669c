//! The cluster journal's key and chain heads, in one Secret of the journal namespace: `key`
//! holds the 32-byte key, `head.<journal id>` each journal's head. Writing ConfigMaps does not
//! let anyone read the key nor move a head: that takes Secret permissions.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

use super::chain::Head;
use super::key::JournalKey;
use super::{JournalError, KeyError};

/// The data key of the journal key in its Secret.
pub const KEY_DATA: &str = "key";

/// A cluster journal's key and the Secret that holds it (and the heads).
#[derive(Clone, Debug)]
pub struct SecretKey {
    /// The key.
    pub key: JournalKey,
    /// The Secret's name (in the journal namespace).
    pub secret: String,
}

fn io(secret: &str, detail: impl std::fmt::Display) -> JournalError {
    JournalError::Io {
        path: format!("secrets/{secret}"),
        source: std::io::Error::other(detail.to_string()),
    }
}

/// The journal key in `secret` (data key `key`), or `None` when the Secret does not exist.
pub async fn read_key_secret(
    client: Client,
    namespace: &str,
    secret: &str,
) -> Result<Option<JournalKey>, JournalError> {
    let api: Api<Secret> = Api::namespaced(client, namespace);
    let Some(s) = api.get_opt(secret).await.map_err(|e| io(secret, e))? else {
        return Ok(None);
    };
    let origin = format!("Secret {namespace}/{secret} data key `{KEY_DATA}`");
    let material = s
        .data
        .as_ref()
        .and_then(|d| d.get(KEY_DATA))
        .ok_or_else(|| KeyError::Malformed {
            origin: origin.clone(),
        })?;
    Ok(Some(JournalKey::parse(&material.0, &origin)?))
}

/// The head of journal `id` kept in the Secret, if any.
pub(crate) async fn read_head(
    api: &Api<Secret>,
    secret: &str,
    id: &str,
) -> Result<Option<Head>, JournalError> {
    let Some(s) = api.get_opt(secret).await.map_err(|e| io(secret, e))? else {
        return Ok(None);
    };
    let Some(raw) = s.data.as_ref().and_then(|d| d.get(&head_key(id))) else {
        return Ok(None);
    };
    serde_json::from_slice(&raw.0)
        .map(Some)
        .map_err(|e| io(secret, format!("{}: {e}", head_key(id))))
}

/// Keep `head` as journal `id`'s head: a merge patch of its one data key, so journals of
/// different resources never conflict.
pub(crate) async fn write_head(
    api: &Api<Secret>,
    secret: &str,
    id: &str,
    head: &Head,
) -> Result<(), JournalError> {
    let bytes = serde_json::to_vec(head).map_err(|e| io(secret, e))?;
    let patch = Secret {
        data: Some(BTreeMap::from([(head_key(id), ByteString(bytes))])),
        ..Default::default()
    };
    api.patch(secret, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| io(secret, e))?;
    Ok(())
}

fn head_key(id: &str) -> String {
    format!("head.{id}")
}
