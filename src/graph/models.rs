//! The parts of Graph's resources the operator reads, and the collection and error envelopes.

use serde::Deserialize;

/// `organization` (the tenant).
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    /// The tenant id.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// `true` synchronised; `false` was synchronised, no longer; `null` never (or while a
    /// disable runs, in some tenants).
    #[serde(default)]
    pub on_premises_sync_enabled: Option<bool>,
    /// Last synchronisation time.
    #[serde(default)]
    pub on_premises_last_sync_date_time: Option<String>,
    /// The tenant's verified domains.
    #[serde(default)]
    pub verified_domains: Vec<VerifiedDomain>,
}

impl Organization {
    /// The domains whose authentication is federated (AD FS or another identity provider):
    /// Source of Authority is not supported for their users, and their cloud users need an
    /// ImmutableID to sign in.
    pub fn federated_domains(&self) -> Vec<String> {
        self.verified_domains
            .iter()
            .filter(|d| d.r#type.eq_ignore_ascii_case("Federated"))
            .map(|d| d.name.to_ascii_lowercase())
            .collect()
    }
}

/// A verified domain of the organization.
#[derive(Deserialize, Clone, Debug, PartialEq)]
pub struct VerifiedDomain {
    /// Domain name.
    #[serde(default)]
    pub name: String,
    /// `Managed` or `Federated`.
    #[serde(default)]
    pub r#type: String,
}

/// The user properties the tenant-wide flow needs (always requested with `$select`).
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Object id.
    pub id: String,
    /// UPN.
    #[serde(default)]
    pub user_principal_name: Option<String>,
    /// Whether Entra Connect currently synchronises the user.
    #[serde(default)]
    pub on_premises_sync_enabled: Option<bool>,
    /// The source anchor linking the user to its AD account.
    #[serde(default)]
    pub on_premises_immutable_id: Option<String>,
    /// Last synchronisation time; set on every user that was ever synchronised.
    #[serde(default)]
    pub on_premises_last_sync_date_time: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

impl User {
    /// The `$select` list matching this model.
    pub const SELECT: &'static [&'static str] = &[
        "id",
        "userPrincipalName",
        "displayName",
        "onPremisesSyncEnabled",
        "onPremisesImmutableId",
        "onPremisesLastSyncDateTime",
    ];

    /// Currently synchronised from AD.
    pub fn is_synced(&self) -> bool {
        self.on_premises_sync_enabled == Some(true)
    }

    /// Synchronised once and no longer: what a tenant-wide disable converts. Users created in
    /// the cloud never carry a last-sync time, even when they have an ImmutableID (federated
    /// domains require one), so they are never mistaken for converted users.
    pub fn is_formerly_synced(&self) -> bool {
        !self.is_synced() && self.on_premises_last_sync_date_time.is_some()
    }
}

/// The group properties the tenant-wide flow needs.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Object id.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Whether Entra Connect currently synchronises the group.
    #[serde(default)]
    pub on_premises_sync_enabled: Option<bool>,
    /// Last synchronisation time.
    #[serde(default)]
    pub on_premises_last_sync_date_time: Option<String>,
}

impl Group {
    /// The `$select` list matching this model.
    pub const SELECT: &'static [&'static str] = &[
        "id",
        "displayName",
        "onPremisesSyncEnabled",
        "onPremisesLastSyncDateTime",
    ];

    /// Currently synchronised from AD.
    pub fn is_synced(&self) -> bool {
        self.on_premises_sync_enabled == Some(true)
    }

    /// Synchronised once and no longer.
    pub fn is_formerly_synced(&self) -> bool {
        !self.is_synced() && self.on_premises_last_sync_date_time.is_some()
    }
}

/// `onPremisesSyncBehavior` of a user or group.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SyncBehavior {
    /// `true`: cloud-managed (AD changes no longer flow).
    #[serde(default)]
    pub is_cloud_managed: bool,
}

/// A page of a collection.
#[derive(Deserialize, Debug)]
pub(crate) struct Collection<T> {
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
    #[serde(rename = "@odata.count", default)]
    pub count: Option<u64>,
}

/// Graph's error envelope.
#[derive(Deserialize, Debug)]
pub(crate) struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Deserialize, Debug)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(rename = "innerError", default)]
    pub inner_error: Option<InnerError>,
}

#[derive(Deserialize, Debug)]
pub(crate) struct InnerError {
    #[serde(rename = "request-id", default)]
    pub request_id: Option<String>,
}

/// The token endpoint's success answer.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    /// Seconds, as a number or (Entra's v1 endpoint) a string: read by
    /// `limits::token_lifetime`, which clamps it.
    #[serde(default)]
    pub expires_in: Option<serde_json::Value>,
}

/// The token endpoint's error answer.
#[derive(Deserialize, Debug)]
pub(crate) struct TokenError {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_description: String,
    #[serde(default)]
    pub error_codes: Vec<u32>,
}
