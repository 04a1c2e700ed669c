//! `/groups/{id}`: read one group, update it (cloud-managed, non-mail-enabled groups only) and
//! delete it.

use serde_json::Value;

use super::list::entity;
use super::users::SYNC_MASTERED;
use super::{GraphError, Reply, Request, json_object};
use crate::emulator::odata::{self, Resource};
use crate::emulator::state::{DeleteError, GroupChange, GroupUpdateError, Tenant};

/// The answer to a write on a distribution list or mail-enabled security group that directory
/// sync no longer masters: Exchange Online does (graph-api.md §3).
pub const EXCHANGE_MANAGED: &str = "Cannot Update a mail-enabled security groups and or distribution list. This group is managed in Exchange Online: update it with Exchange Online PowerShell or the Exchange admin center.";

const READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "mail",
    "mailEnabled",
    "securityEnabled",
    "groupTypes",
    "proxyAddresses",
    "onPremisesSyncEnabled",
    "onPremisesLastSyncDateTime",
    "onPremisesSecurityIdentifier",
    "onPremisesSamAccountName",
    "onPremisesDomainName",
    "onPremisesNetBiosName",
    "onPremisesProvisioningErrors",
    "deletedDateTime",
];

/// `GET /groups/{id}`.
pub fn get(
    tenant: &Tenant,
    id: &str,
    select: Option<Vec<String>>,
    req: &Request<'_>,
) -> Result<Reply, GraphError> {
    let group = tenant
        .groups
        .get(id)
        .ok_or_else(|| GraphError::not_found(id))?;
    let defaults = odata::default_properties(Resource::Group);
    Ok(entity(
        &group.to_json(),
        select.as_deref(),
        defaults,
        "groups",
        req,
    ))
}

fn change(name: &str, value: &Value) -> Result<GroupChange, GraphError> {
    let invalid = || {
        GraphError::bad_request(format!(
            "Invalid value specified for property '{name}' of resource 'Group'."
        ))
    };
    match (name, value) {
        ("displayName", Value::String(s)) if !s.trim().is_empty() => {
            Ok(GroupChange::DisplayName(s.clone()))
        }
        ("description", Value::String(s)) => Ok(GroupChange::Description(Some(s.clone()))),
        ("description", Value::Null) => Ok(GroupChange::Description(None)),
        ("displayName" | "description", _) => Err(invalid()),
        _ if READ_ONLY.contains(&name) => Err(GraphError::bad_request(format!(
            "Property '{name}' is read-only and cannot be set."
        ))),
        _ => Err(GraphError::bad_request(format!(
            "Invalid property '{name}'."
        ))),
    }
}

/// `PATCH /groups/{id}` (`displayName`, `description`): 204; refused while directory sync or
/// Exchange Online masters the group.
pub fn patch(tenant: &mut Tenant, id: &str, req: &Request<'_>) -> Result<Reply, GraphError> {
    if !tenant.groups.contains_key(id) {
        return Err(GraphError::not_found(id));
    }
    let body = json_object(req.body)?;
    let changes = body
        .iter()
        .filter(|(name, _)| !name.starts_with("@odata."))
        .map(|(name, value)| change(name, value))
        .collect::<Result<Vec<_>, _>>()?;
    tenant.update_group(id, changes).map_err(|e| match e {
        GroupUpdateError::NotFound => GraphError::not_found(id),
        GroupUpdateError::SyncMastered => GraphError::bad_request(SYNC_MASTERED),
        GroupUpdateError::ExchangeManaged => GraphError::bad_request(EXCHANGE_MANAGED),
    })?;
    Ok(Reply::NoContent)
}

/// `DELETE /groups/{id}`: a Microsoft 365 group goes to the deleted items, any other group is
/// deleted for good (204); refused for sync-mastered groups.
pub fn delete(tenant: &mut Tenant, id: &str, req: &Request<'_>) -> Result<Reply, GraphError> {
    tenant.delete_group(id, req.now).map_err(|e| match e {
        DeleteError::NotFound => GraphError::not_found(id),
        DeleteError::SyncMastered => GraphError::bad_request(SYNC_MASTERED),
    })?;
    Ok(Reply::NoContent)
}
