//! The on-premises side of a tenant: the Active Directory that Entra Connect synchronises,
//! reached over LDAP (`TenantSyncPolicy.spec.activeDirectory`).

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::SecretKeyRef;

/// An LDAP connection to the domain whose users Entra Connect synchronises. With it the
/// operator audits the AD ↔ Entra link (ImmutableID = base64 of `mS-DS-ConsistencyGuid`, or of
/// `objectGUID`) and, for `RestoreDeleted`, moves the AD objects out of sync scope itself.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.url.startsWith('ldaps://') || !has(self.startTls) || self.startTls || (has(self.allowInsecure) && self.allowInsecure)").message("activeDirectory: ldap:// without StartTLS sends the bind password in clear; keep startTls, use ldaps://, or set allowInsecure: true"))]
pub struct ActiveDirectoryConnection {
    /// The domain controller: `ldaps://host:636` (TLS), or `ldap://host:389` (upgraded with
    /// StartTLS unless `allowInsecure` is set).
    #[schemars(regex(pattern = r"^ldaps?://[^\s/?#]+/?$"))]
    pub url: String,
    /// On `ldap://`: upgrade with StartTLS before binding (default `true`). `false` needs
    /// `allowInsecure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_tls: Option<bool>,
    /// Allow a plain `ldap://` connection without StartTLS: the bind password then crosses
    /// the network in clear. For test directories only.
    #[serde(default)]
    pub allow_insecure: bool,
    /// The account the operator binds as (simple bind), e.g.
    /// `CN=svc-entra-op,OU=Service,DC=corp,DC=example` or `svc-entra-op@corp.example`. It needs
    /// read access to the synchronised OUs and, to move or disable users, write access.
    #[schemars(length(min = 1, max = 1024))]
    pub bind_dn: String,
    /// The Secret key holding the bind password.
    pub password_secret_ref: SecretKeyRef,
    /// CA certificates (PEM) to verify the domain controller's certificate; without it, the
    /// operator's built-in web roots are used (rarely right for an AD CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<CaBundle>,
    /// The domain's base DN, e.g. `DC=corp,DC=example`.
    #[schemars(length(min = 1, max = 1024))]
    pub base_dn: String,
    /// The OUs (DNs) Entra Connect synchronises: AD users below them are in sync scope.
    #[schemars(length(min = 1, max = 100))]
    pub synced_ous: Vec<String>,
    /// An OU (DN) Entra Connect does not synchronise: `RestoreDeleted` moves each selected
    /// user's AD object there (its previous DN journaled), and `afterConversion: Move` too.
    #[schemars(length(min = 1, max = 1024))]
    pub unsynced_ou: String,
}

/// CA certificates in PEM form: exactly one of `pem` and `secretRef`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.pem) != has(self.secretRef)").message("caBundle: give pem or secretRef, not both"))]
pub struct CaBundle {
    /// The certificates inline (`-----BEGIN CERTIFICATE-----` …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 262144))]
    pub pem: Option<String>,
    /// A Secret key holding the certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
}

/// What becomes of a converted user's AD object (`CloudUserConversion.spec.afterConversion`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AfterConversion {
    /// Leave it as it is.
    #[default]
    Keep,
    /// Disable the account (`userAccountControl` bit 2); reverted on delete with `Revert`.
    Disable,
    /// Move it to `activeDirectory.unsyncedOu` (its previous DN journaled); moved back on
    /// delete with `Revert`.
    Move,
}

/// The AD ↔ Entra link audit: for each synchronised user in scope, Entra's
/// `onPremisesImmutableId` against base64 of AD's `mS-DS-ConsistencyGuid` (or `objectGUID`
/// where that is empty). Counts, and the first findings; `plan --format markdown` lists all.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkAudit {
    /// When the audit ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audited_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// Synchronised cloud users compared with their AD object.
    pub checked: i64,
    /// Pairs whose ImmutableID and anchor agree.
    pub linked: i64,
    /// Pairs whose ImmutableID differs from the AD anchor.
    pub mismatched: i64,
    /// AD users in the synchronised OUs with no cloud twin.
    pub ad_only: i64,
    /// Synchronised cloud users with no AD object.
    pub cloud_only: i64,
    /// The first findings (at most 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<LinkFinding>,
}

/// One broken or missing link.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkFinding {
    /// `Mismatch`, `AdOnly` or `CloudOnly`.
    pub kind: String,
    /// The cloud user's UPN, or the AD user's `userPrincipalName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    /// The AD object's DN, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinguished_name: Option<String>,
    /// Entra's `onPremisesImmutableId`, when there is a cloud user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable_id: Option<String>,
    /// Base64 of the AD anchor (consistency GUID, else objectGUID), when there is an AD object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}
