//! Switches for the per-object behaviours Microsoft leaves UNCONFIRMED (graph-api.md §3, §4, §5,
//! §13): each can be rehearsed both ways. Defaults follow the most likely reading.

use serde::{Deserialize, Serialize};

/// What a successful `PATCH …/onPremisesSyncBehavior` answers (the beta reference shows
/// 200 with a body; some SDK code tolerates 204).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SoaPatchResponse {
    /// `200 OK` with `{"@odata.type","id","isCloudManaged"}` (earlier revisions of the page).
    Body,
    /// `204 No Content` (default: the newest `onpremisessyncbehavior-update` page, §14).
    NoContent,
}

/// What a Source of Authority PATCH does on an object that was never synchronised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SoaOnCloudObject {
    /// `400 Request_BadRequest`: the object is not synchronised from on-premises (default).
    Refuse,
    /// `200`, nothing changes (`isCloudManaged` stays `false`).
    Accept,
}

/// Whether `onPremisesImmutableId` may be changed or cleared on a user switched by SOA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImmutableIdAfterSoa {
    /// Accepted like on any cloud-managed user (default).
    Allow,
    /// `400 Request_BadRequest`.
    Refuse,
}

/// Whether an application (app-only token) may `PATCH /v1.0/directory/onPremisesSynchronization/{id}`.
/// The current v1.0 reference says application: not supported, an older one listed it; beta
/// always accepts the application permission (the SOA how-to uses beta).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HardMatchFlagAppOnly {
    /// v1.0 accepts it too.
    Allow,
    /// v1.0 answers `403 Authorization_RequestDenied` even with the permission (default).
    Deny,
}

/// Whether a user restored from the deleted items keeps its `onPremisesImmutableId`
/// (community reports say it does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImmutableIdOnRestore {
    /// The anchor survives the restore (default).
    Keep,
    /// The restore clears it.
    Clear,
}

/// Whether owners can be added to (or removed from) a group directory sync still masters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OwnerAddOnSyncedGroup {
    /// `400 Request_BadRequest` with the synced-object message (default).
    Refuse,
    /// Owners are cloud-only references: accepted.
    Allow,
}

/// Which API versions serve `/users/{id}/onPremisesSyncBehavior`. The how-to calls v1.0, the
/// API reference is still beta, and the beta user cmdlet has no v1.0 twin (graph-api.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserSoaApi {
    /// `/v1.0` and `/beta` (default: the v1.0 metadata lists it since 2025-12-23, §14).
    Both,
    /// `/beta` only: on `/v1.0` the segment is unknown (`400 BadRequest` "Resource not found
    /// for the segment 'onPremisesSyncBehavior'."), and inside a `/v1.0/$batch` the item
    /// answers `405 Request_BadRequest` "Specified HTTP method is not allowed for the request
    /// target." (the batching page's example of a beta-only request in a v1.0 batch).
    BetaOnly,
    /// `/beta` only, and `/v1.0` answers `404 Request_ResourceNotFound` for the segment
    /// (UNCONFIRMED: the other answer a gateway gives an unknown route), in a batch too.
    BetaOnlyNotFound,
}

/// What `GET /users/delta` costs before the `$select` modifier: the throttling table does not
/// list it (graph-api.md §6, §13), so it may be "any other identity read" or the user list's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UsersDeltaCost {
    /// 1 RU, as any identity path the table does not list (default).
    Other,
    /// 2 RU, as `GET /users`.
    List,
}

impl UsersDeltaCost {
    /// The base cost in resource units.
    pub fn base(self) -> u32 {
        match self {
            UsersDeltaCost::Other => 1,
            UsersDeltaCost::List => 2,
        }
    }
}

/// `error.code` of the `400` a JSON batch of more than 20 requests answers (the message,
/// "Number of requests inside batch exceeds the limit.", is documented; the code is not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BatchLimitCode {
    /// `BadRequest`, the code of Graph's other batch validation errors (default).
    BadRequest,
    /// `Request_BadRequest`, the directory's usual code.
    RequestBadRequest,
}

impl BatchLimitCode {
    /// The `error.code` text.
    pub fn code(self) -> &'static str {
        match self {
            BatchLimitCode::BadRequest => "BadRequest",
            BatchLimitCode::RequestBadRequest => "Request_BadRequest",
        }
    }
}

/// Whether `DELETE /groups/{id}/owners/{id}/$ref` may remove a group's last owner. Graph's
/// reference: "Once owners are assigned to a group, the last owner (a user object) of the group
/// cannot be removed" (`group-delete-owners`); the answer is `400 Request_BadRequest` "The group
/// must have at least one owner, hence this owner cannot be removed." (reported in
/// microsoftgraph/microsoft-graph-docs#12054 and hashicorp/terraform-provider-azuread#1435).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LastOwnerRemoval {
    /// Refused with Graph's `400` (default).
    Refuse,
    /// Removed like any other owner (the emulator's former behaviour).
    Allow,
}

/// What `GET /groups/{id}/owners` answers for a group directory sync masters or Exchange
/// Online masters (a distribution list or mail-enabled security group): Graph's reference says
/// owners "are currently not available" for them (`group-list-owners`) without saying how.
/// UNCONFIRMED: an empty list is reported for mail-enabled groups
/// (microsoftgraph/microsoft-graph-docs#6481); an error is the other plausible reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnavailableOwners {
    /// `400 Request_BadRequest` (message UNCONFIRMED), the harsher reading (default).
    Refuse,
    /// `200` with an empty `value`, whatever owners the group has.
    Empty,
    /// Listed like any group's owners (the emulator's former behaviour).
    List,
}

/// Value an object reports for `onPremisesSyncEnabled` where Microsoft's answer is
/// UNCONFIRMED: `false` ("was synced, no longer") or `null`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AfterDisable {
    /// Report `false`.
    False,
    /// Report `null`.
    Null,
}
