//! What an application may see of the objects Graph refuses to convert (graph-api.md §14):
//! `GET /roleManagement/directory/roleAssignments` (an assignment per object holding an
//! administrator role: the privileged marker `adminRole`) and `GET
//! /directory/administrativeUnits[/{id}/members]` (one restricted-management administrative
//! unit holding the objects marked `restrictedAu`). Objects protected by AdminSDHolder in AD
//! (`adminSdHolder`) show in neither: Graph does not expose `adminCount`.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{GraphError, Reply, Request};
use crate::emulator::state::{Privilege, Tenant};

/// The Global Administrator role's template id (the role every example assigns).
pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";
/// The id of the emulator's one restricted-management administrative unit.
pub const RESTRICTED_UNIT: &str = "4c5b6a79-8d9e-4f01-a2b3-c4d5e6f70812";

fn marked(tenant: &Tenant, privilege: Privilege) -> Vec<&String> {
    tenant
        .privileged
        .iter()
        .filter(|(_, m)| m.privilege == privilege)
        .map(|(id, _)| id)
        .collect()
}

/// `GET /roleManagement/directory/roleAssignments`.
pub fn assignments(tenant: &Tenant, req: &Request<'_>) -> Reply {
    let value: Vec<Value> = marked(tenant, Privilege::AdminRole)
        .into_iter()
        .map(|id| {
            json!({
                "id": format!("{GLOBAL_ADMINISTRATOR}-{id}"),
                "principalId": id,
                "directoryScopeId": "/",
                "roleDefinitionId": GLOBAL_ADMINISTRATOR,
            })
        })
        .collect();
    Reply::Json(
        StatusCode::OK,
        json!({
            "@odata.context": req.context("roleManagement/directory/roleAssignments"),
            "value": value,
        }),
    )
}

/// `GET /directory/administrativeUnits`: the restricted unit, when any object is in it.
pub fn admin_units(tenant: &Tenant, req: &Request<'_>) -> Reply {
    let units: Vec<Value> = if marked(tenant, Privilege::RestrictedAu).is_empty() {
        Vec::new()
    } else {
        vec![json!({
            "id": RESTRICTED_UNIT,
            "displayName": "Tier 0 (restricted management)",
            "isMemberManagementRestricted": true,
        })]
    };
    Reply::Json(
        StatusCode::OK,
        json!({
            "@odata.context": req.context("directory/administrativeUnits"),
            "value": units,
        }),
    )
}

/// `GET /directory/administrativeUnits/{id}/members`.
pub fn admin_unit_members(
    tenant: &Tenant,
    id: &str,
    req: &Request<'_>,
) -> Result<Reply, GraphError> {
    let members = marked(tenant, Privilege::RestrictedAu);
    if !id.eq_ignore_ascii_case(RESTRICTED_UNIT) || members.is_empty() {
        return Err(GraphError::not_found(id));
    }
    let value: Vec<Value> = members
        .into_iter()
        .map(|m| {
            let kind = if tenant.groups.contains_key(m) {
                "group"
            } else {
                "user"
            };
            json!({ "@odata.type": format!("#microsoft.graph.{kind}"), "id": m })
        })
        .collect();
    Ok(Reply::Json(
        StatusCode::OK,
        json!({
            "@odata.context": req.context("directoryObjects"),
            "value": value,
        }),
    ))
}
