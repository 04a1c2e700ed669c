//! The cluster journal's key: a Secret of the journal namespace (`--journal-key-secret`,
//! data key `key`, 32 random bytes), created at start when absent and read otherwise. It also
//! keeps each journal's chain head (`head.<journal id>`, see [`crate::journal::SecretKey`]).
//!
//! The operator needs, on that Secret in the journal namespace: `get` (read the key and the
//! heads), `create` (the first start), `patch` (keep the heads).

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tracing::info;

use crate::journal::{JournalError, JournalKey, KEY_DATA, KeyError, SecretKey, read_key_secret};

/// The journal key in `namespace`/`name`, creating the Secret with a new random key when it
/// does not exist (another replica creating it first is fine: its key is read).
pub async fn load_or_create(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<SecretKey, JournalError> {
    let secret_key = |key| SecretKey {
        key,
        secret: name.to_string(),
    };
    let needs = |e: JournalError| match e {
        JournalError::Io { path, source } => JournalError::Io {
            path,
            source: std::io::Error::other(format!(
                "reading the journal key Secret {namespace}/{name}: {source} (the operator needs get, create and patch on it)"
            )),
        },
        other => other,
    };
    if let Some(key) = read_key_secret(client.clone(), namespace, name)
        .await
        .map_err(needs)?
    {
        return Ok(secret_key(key));
    }
    let mut raw = [0u8; crate::journal::KEY_LEN];
    aws_lc_rs::rand::fill(&mut raw).map_err(|_| KeyError::Random)?;
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(
                [(
                    "app.kubernetes.io/managed-by".to_string(),
                    "entra-cloud-operator".to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some([(KEY_DATA.to_string(), ByteString(raw.to_vec()))].into()),
        ..Default::default()
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => {
            let key = JournalKey::from_bytes(&raw);
            info!(secret = %format!("{namespace}/{name}"), key_id = key.id(), "created the journal key");
            Ok(secret_key(key))
        }
        Err(kube::Error::Api(s)) if s.code == 409 => {
            match read_key_secret(client.clone(), namespace, name).await? {
                Some(key) => Ok(secret_key(key)),
                None => Err(missing(namespace, name)),
            }
        }
        Err(e) => Err(JournalError::Io {
            path: format!("secrets/{name}"),
            source: std::io::Error::other(format!(
                "creating the journal key Secret {namespace}/{name}: {e} (the operator needs get, create and patch on it)"
            )),
        }),
    }
}

fn missing(namespace: &str, name: &str) -> JournalError {
    JournalError::Io {
        path: format!("secrets/{name}"),
        source: std::io::Error::other(format!(
            "the journal key Secret {namespace}/{name} vanished while it was being created"
        )),
    }
}
