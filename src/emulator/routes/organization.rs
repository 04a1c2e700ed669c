//! `/organization`: read the tenant, and turn directory sync off or on (graph-api.md §1).

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::list::{context_fragment, entity, project};
use super::{GraphError, Reply, Request, json_object};
use crate::emulator::clock::rfc3339;
use crate::emulator::model::into_map;
use crate::emulator::state::{EnableError, Tenant};

/// The organization's properties (all returned without `$select`).
const PROPERTIES: &[&str] = &[
    "id",
    "displayName",
    "verifiedDomains",
    "onPremisesSyncEnabled",
    "onPremisesLastSyncDateTime",
    "createdDateTime",
    "tenantType",
    "countryLetterCode",
    "preferredLanguage",
    "businessPhones",
    "city",
    "country",
    "postalCode",
    "state",
    "street",
    "technicalNotificationMails",
    "marketingNotificationEmails",
    "securityComplianceNotificationMails",
    "securityComplianceNotificationPhones",
    "assignedPlans",
    "provisionedPlans",
    "privacyProfile",
];

/// Validates an organization `$select` (case-insensitive, canonical names, de-duplicated).
pub fn parse_select(raw: &str) -> Result<Vec<String>, GraphError> {
    let mut out: Vec<String> = Vec::new();
    for item in raw.split(',') {
        let item = item.trim();
        let found = PROPERTIES.iter().find(|p| p.eq_ignore_ascii_case(item));
        let Some(name) = found else {
            return Err(GraphError::bad_request(format!(
                "Could not find a property named '{item}' on type 'microsoft.graph.organization'."
            )));
        };
        if !out.iter().any(|o| o == name) {
            out.push((*name).to_string());
        }
    }
    Ok(out)
}

fn to_json(tenant: &Tenant) -> Map<String, Value> {
    let org = &tenant.org;
    let domains: Vec<Value> = org.domains.iter().map(|d| d.to_json()).collect();
    let obj = json!({
        "id": org.id,
        "displayName": org.display_name,
        "verifiedDomains": domains,
        "onPremisesSyncEnabled": tenant.org_sync_enabled(),
        "onPremisesLastSyncDateTime": org.last_sync.map(rfc3339),
        "createdDateTime": rfc3339(org.created),
        "tenantType": "AAD",
        "countryLetterCode": "US",
        "preferredLanguage": "en",
        "businessPhones": [],
        "city": null,
        "country": null,
        "postalCode": null,
        "state": null,
        "street": null,
        "technicalNotificationMails": [],
        "marketingNotificationEmails": [],
        "securityComplianceNotificationMails": [],
        "securityComplianceNotificationPhones": [],
        "assignedPlans": [],
        "provisionedPlans": [],
        "privacyProfile": null,
    });
    into_map(obj)
}

/// `GET /organization`: a collection of exactly one.
pub fn list(tenant: &Tenant, select: Option<Vec<String>>, req: &Request<'_>) -> Reply {
    let obj = project(&to_json(tenant), select.as_deref(), PROPERTIES);
    let fragment = context_fragment("organization", select.as_deref());
    Reply::Json(
        StatusCode::OK,
        json!({ "@odata.context": req.context(&fragment), "value": [obj] }),
    )
}

/// `GET /organization/{id}`.
pub fn get(
    tenant: &Tenant,
    id: &str,
    select: Option<Vec<String>>,
    req: &Request<'_>,
) -> Result<Reply, GraphError> {
    if !id.eq_ignore_ascii_case(&tenant.org.id) {
        return Err(GraphError::not_found(id));
    }
    Ok(entity(
        &to_json(tenant),
        select.as_deref(),
        PROPERTIES,
        "organization",
        req,
    ))
}

/// `PATCH /organization/{id}` with `{"onPremisesSyncEnabled": bool}`.
pub fn patch(tenant: &mut Tenant, id: &str, req: &Request<'_>) -> Result<Reply, GraphError> {
    if !id.eq_ignore_ascii_case(&tenant.org.id) {
        return Err(GraphError::not_found(id));
    }
    let body = json_object(req.body)?;
    let mut wanted = None;
    for (key, value) in &body {
        // Microsoft's SDKs send `@odata.type` with every entity; Graph ignores it.
        if key.starts_with("@odata.") {
            continue;
        }
        if key == "onPremisesSyncEnabled" {
            let Value::Bool(b) = value else {
                return Err(GraphError::bad_request(format!(
                    "Invalid value specified for property '{key}' of resource 'Organization'."
                )));
            };
            wanted = Some(*b);
        } else if PROPERTIES.contains(&key.as_str()) {
            return Err(GraphError::bad_request(format!(
                "Property '{key}' is read-only and cannot be set."
            )));
        } else {
            return Err(GraphError::bad_request(format!(
                "Invalid property '{key}'."
            )));
        }
    }
    match wanted {
        Some(false) => {
            tenant.disable(req.now);
        }
        Some(true) => enable(tenant, req)?,
        None => {}
    }
    Ok(Reply::NoContent)
}

fn enable(tenant: &mut Tenant, req: &Request<'_>) -> Result<(), GraphError> {
    tenant.enable(req.now).map_err(|e| match e {
        EnableError::PendingDisable => GraphError::bad_request(PENDING_DISABLE),
    })
}

/// Graph's (UNCONFIRMED, MSOnline-era) answer to a re-enable while a disable is pending.
pub const PENDING_DISABLE: &str = "Directory Sync is currently in a pending disable state for this directory. Please wait until Directory Sync has been fully disabled before trying again.";
