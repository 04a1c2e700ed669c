//! `/{users|groups|contacts}/{id}/onPremisesSyncBehavior`: read and switch the Source of
//! Authority (graph-api.md §3).

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::list::context_fragment;
use super::{GraphError, Reply, Request, Version, json_object};
use crate::emulator::state::{BLOCK_HARD_MATCH, SoaError, SoaKind, Tenant};
use crate::emulator::switches::{SoaPatchResponse, UserSoaApi};

const PROPERTIES: &[&str] = &["id", "isCloudManaged"];

/// Validates a `$select` of `onPremisesSyncBehavior`.
pub fn parse_select(raw: &str) -> Result<Vec<String>, GraphError> {
    let mut out: Vec<String> = Vec::new();
    for item in raw.split(',').map(str::trim) {
        let Some(name) = PROPERTIES.iter().find(|p| p.eq_ignore_ascii_case(item)) else {
            return Err(GraphError::bad_request(format!(
                "Could not find a property named '{item}' on type 'microsoft.graph.onPremisesSyncBehavior'."
            )));
        };
        if !out.iter().any(|o| o == name) {
            out.push((*name).to_string());
        }
    }
    Ok(out)
}

/// Refuses a user's SOA route on `/v1.0` when the switch says only beta serves it, as
/// Graph answers it: directly, or as an item of a `/v1.0/$batch`.
fn check_version(tenant: &Tenant, kind: SoaKind, req: &Request<'_>) -> Result<(), GraphError> {
    if kind != SoaKind::User || req.version != Version::V1 {
        return Ok(());
    }
    match tenant.behaviour.user_soa_api {
        UserSoaApi::Both => Ok(()),
        UserSoaApi::BetaOnly if req.in_batch => Err(GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )),
        UserSoaApi::BetaOnly => Err(GraphError::unknown_segment("onPremisesSyncBehavior")),
        UserSoaApi::BetaOnlyNotFound => Err(GraphError::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            "Resource not found for the segment 'onPremisesSyncBehavior'.",
        )),
    }
}

/// `GET …/onPremisesSyncBehavior`: `{"@odata.context","id","isCloudManaged"}` (the id is
/// always there, as Graph returns the key).
pub fn get(
    tenant: &Tenant,
    kind: SoaKind,
    segment: &str,
    key: &str,
    select: Option<Vec<String>>,
    req: &Request<'_>,
) -> Result<Reply, GraphError> {
    check_version(tenant, kind, req)?;
    let (id, value) = tenant
        .cloud_managed(kind, key)
        .ok_or_else(|| GraphError::not_found(key))?;
    let behaviour = context_fragment("onPremisesSyncBehavior", select.as_deref());
    let context = req.context(&format!("{segment}('{id}')/{behaviour}/$entity"));
    Ok(Reply::Json(
        StatusCode::OK,
        json!({ "@odata.context": context, "id": id, "isCloudManaged": value }),
    ))
}

/// Graph's answer (UNCONFIRMED, the emulator's wording) to an SOA PATCH on a never-synced
/// object when `soa_on_cloud_object` refuses.
pub fn not_synced(id: &str) -> String {
    format!(
        "Object '{id}' is not synchronized from on-premises Active Directory: its source of authority is already the cloud."
    )
}

/// The answer to a user SOA rollback while takeover by hard match is blocked.
pub fn rollback_blocked() -> String {
    format!(
        "The source of authority of a user cannot be rolled back to on-premises while the directory synchronization feature '{BLOCK_HARD_MATCH}' is enabled. Disable it first (PATCH /beta/directory/onPremisesSynchronization/{{id}})."
    )
}

/// `PATCH …/onPremisesSyncBehavior {"isCloudManaged": bool}`.
pub fn patch(
    tenant: &mut Tenant,
    kind: SoaKind,
    key: &str,
    req: &Request<'_>,
) -> Result<Reply, GraphError> {
    check_version(tenant, kind, req)?;
    if tenant.cloud_managed(kind, key).is_none() {
        return Err(GraphError::not_found(key));
    }
    let body = json_object(req.body)?;
    let mut wanted = None;
    for (name, value) in &body {
        match (name.as_str(), value) {
            ("isCloudManaged", Value::Bool(b)) => wanted = Some(*b),
            ("isCloudManaged", _) => {
                return Err(GraphError::bad_request(format!(
                    "Invalid value specified for property '{name}' of resource 'OnPremisesSyncBehavior'."
                )));
            }
            ("id", _) => {
                return Err(GraphError::bad_request(
                    "Property 'id' is read-only and cannot be set.",
                ));
            }
            (n, _) if n.starts_with("@odata.") => {}
            _ => {
                return Err(GraphError::bad_request(format!(
                    "Invalid property '{name}'."
                )));
            }
        }
    }
    let (id, value) = match wanted {
        Some(value) => tenant
            .set_cloud_managed(kind, key, value)
            .map_err(|e| match e {
                SoaError::NotFound => GraphError::not_found(key),
                SoaError::NotSynced => GraphError::bad_request(not_synced(key)),
                SoaError::RollbackBlocked => GraphError::bad_request(rollback_blocked()),
            })?,
        None => tenant
            .cloud_managed(kind, key)
            .ok_or_else(|| GraphError::not_found(key))?,
    };
    Ok(match tenant.behaviour.soa_patch_response {
        SoaPatchResponse::NoContent => Reply::NoContent,
        SoaPatchResponse::Body => Reply::Json(
            StatusCode::OK,
            json!({
                "@odata.type": "#microsoft.graph.onPremisesSyncBehavior",
                "id": id,
                "isCloudManaged": value,
            }),
        ),
    })
}
