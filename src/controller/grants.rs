//! Credential grants: where the operator's *own* identity may act.
//!
//! A `TenantSyncPolicy` with `credentials.workloadIdentity` borrows the operator pod's
//! federated token. Any namespace user may create one, so the operator honours it only where a
//! cluster administrator granted it: the chart's `credentialGrants` value, rendered into a file
//! the controller reads at start (`--credential-grants`). Each grant names the namespaces, the
//! tenants and (optionally) the client ids; without a matching grant the policy is `Stalled`
//! (`CredentialNotGranted`) and no token is requested. Credentials held in the policy's own
//! namespace (a client secret, a certificate) need no grant: they are that namespace's own.
//!
//! ```yaml
//! grants:
//!   - namespaces: [identity]
//!     tenantIds: [3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b]
//!     clientIds: []           # empty: only the pod's own AZURE_CLIENT_ID
//!     endpointOverride: false # spec.endpoints overrides allowed with this identity
//! ```

use std::path::Path;

use serde::Deserialize;

use crate::api::common::is_uuid;

/// The most bytes a grants file may hold (it is a short list written by an administrator).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// One grant.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Grant {
    /// Namespaces whose policies may use the operator's identity; `"*"` means every watched
    /// namespace.
    pub namespaces: Vec<String>,
    /// Tenants (directory ids) they may act on.
    pub tenant_ids: Vec<String>,
    /// Application (client) ids they may name in `workloadIdentity.clientId`; empty means only
    /// the operator's own `AZURE_CLIENT_ID`.
    #[serde(default)]
    pub client_ids: Vec<String>,
    /// Whether such policies may also override `spec.endpoints` (the operator must be started
    /// with `--allow-endpoint-override` too).
    #[serde(default)]
    pub endpoint_override: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantsFile {
    #[serde(default)]
    grants: Vec<Grant>,
}

/// A grants file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GrantsError {
    /// Not readable.
    #[error("--credential-grants {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Too large.
    #[error(
        "--credential-grants {path}: larger than {MAX_FILE_BYTES} bytes; it should hold a short list of grants"
    )]
    TooLarge {
        /// The file.
        path: String,
    },
    /// Not the documented shape.
    #[error("--credential-grants {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, naming the entry and field.
        message: String,
    },
}

/// What the operator's identity was granted.
#[derive(Clone, Debug, Default)]
pub struct Grants {
    grants: Vec<Grant>,
}

/// What a policy using the operator's identity asks for.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The policy's namespace.
    pub namespace: &'a str,
    /// `spec.tenantId`.
    pub tenant_id: &'a str,
    /// The client id it would act as.
    pub client_id: &'a str,
    /// The pod's own AZURE_CLIENT_ID, if any.
    pub own_client_id: Option<&'a str>,
    /// Whether it overrides `spec.endpoints`.
    pub endpoint_override: bool,
}

impl Grants {
    /// Grants from a list (tests, and the file's content).
    pub fn new(grants: Vec<Grant>) -> Result<Self, String> {
        for (i, g) in grants.iter().enumerate() {
            let at = |f: &str| format!("grants[{i}].{f}");
            if g.namespaces.is_empty() {
                return Err(format!(
                    "{}: name at least one namespace (or \"*\")",
                    at("namespaces")
                ));
            }
            if let Some(n) = g.namespaces.iter().find(|n| !valid_namespace(n)) {
                return Err(format!(
                    "{}: {n:?} is not a namespace name",
                    at("namespaces")
                ));
            }
            if g.tenant_ids.is_empty() {
                return Err(format!("{}: name at least one tenant id", at("tenantIds")));
            }
            for (field, ids) in [("tenantIds", &g.tenant_ids), ("clientIds", &g.client_ids)] {
                if let Some(id) = ids.iter().find(|id| !is_uuid(id)) {
                    return Err(format!("{}: {id:?} is not a GUID", at(field)));
                }
            }
        }
        Ok(Grants { grants })
    }

    /// Read the file given to `--credential-grants`.
    pub fn load(path: &Path) -> Result<Self, GrantsError> {
        use std::io::Read;
        let shown = path.display().to_string();
        let read = |source| GrantsError::Read {
            path: shown.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read)?;
        let mut text = String::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(read)?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(GrantsError::TooLarge { path: shown });
        }
        let invalid = |message: String| GrantsError::Invalid {
            path: shown.clone(),
            message,
        };
        let parsed: GrantsFile = if text.trim().is_empty() {
            GrantsFile { grants: Vec::new() }
        } else {
            serde_saphyr::from_str(&text).map_err(|e| {
                invalid(format!(
                    "{e}; expected `grants:` with a list of {{namespaces, tenantIds, clientIds, endpointOverride}}"
                ))
            })?
        };
        Grants::new(parsed.grants).map_err(invalid)
    }

    /// How many grants there are.
    pub fn len(&self) -> usize {
        self.grants.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// `Ok` when some grant covers `req`, else the message of the stall, naming what an
    /// administrator must add.
    pub fn check(&self, req: Request<'_>) -> Result<(), String> {
        let client_ok = |g: &Grant| {
            if g.client_ids.is_empty() {
                req.own_client_id
                    .is_some_and(|own| own.eq_ignore_ascii_case(req.client_id))
            } else {
                g.client_ids
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(req.client_id))
            }
        };
        let covering: Vec<&Grant> = self
            .grants
            .iter()
            .filter(|g| g.namespaces.iter().any(|n| n == "*" || n == req.namespace))
            .filter(|g| {
                g.tenant_ids
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(req.tenant_id))
            })
            .filter(|g| client_ok(g))
            .collect();
        let (ns, tenant, client) = (req.namespace, req.tenant_id, req.client_id);
        if covering.is_empty() {
            let clients = match req.own_client_id {
                Some(own) if own.eq_ignore_ascii_case(client) => String::new(),
                _ => format!(", clientIds: [{client}]"),
            };
            return Err(format!(
                "the operator's own workload identity (client id {client}) is not granted to namespace {ns} for tenant {tenant}: a cluster administrator must add {{namespaces: [{ns}], tenantIds: [{tenant}]{clients}}} to the Helm value credentialGrants (the file given to the controller's --credential-grants); or use a client secret or certificate from a Secret of this namespace"
            ));
        }
        if req.endpoint_override && !covering.iter().any(|g| g.endpoint_override) {
            return Err(format!(
                "spec.endpoints overrides Microsoft's endpoints, and the credential grant of namespace {ns} for tenant {tenant} does not allow that with the operator's own identity: remove spec.endpoints, or a cluster administrator sets endpointOverride: true on that grant"
            ));
        }
        Ok(())
    }
}

/// An RFC 1123 label (a namespace name), or `*`.
fn valid_namespace(n: &str) -> bool {
    n == "*"
        || (!n.is_empty()
            && n.len() <= 63
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !n.starts_with('-')
            && !n.ends_with('-'))
}

#[cfg(test)]
#[path = "grants_tests.rs"]
mod tests;
