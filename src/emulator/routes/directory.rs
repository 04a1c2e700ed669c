//! `/directory/onPremisesSynchronization`: the tenant's directory synchronisation
//! configuration and features (graph-api.md §1.2, §3 rollback).

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::list::{context_fragment, entity, project};
use super::{GraphError, Reply, Request, Version, json_object};
use crate::emulator::model::into_map;
use crate::emulator::state::{Features, Tenant};
use crate::emulator::switches::HardMatchFlagAppOnly;

const PROPERTIES: &[&str] = &["id", "configuration", "features"];
const SEGMENT: &str = "directory/onPremisesSynchronization";

/// Validates a `$select` of `onPremisesDirectorySynchronization`.
pub fn parse_select(raw: &str) -> Result<Vec<String>, GraphError> {
    let mut out: Vec<String> = Vec::new();
    for item in raw.split(',').map(str::trim) {
        let Some(name) = PROPERTIES.iter().find(|p| p.eq_ignore_ascii_case(item)) else {
            return Err(GraphError::bad_request(format!(
                "Could not find a property named '{item}' on type 'microsoft.graph.onPremisesDirectorySynchronization'."
            )));
        };
        if !out.iter().any(|o| o == name) {
            out.push((*name).to_string());
        }
    }
    Ok(out)
}

/// An ISO 8601 duration (`PT30M`), as Graph writes `synchronizationInterval`.
pub fn iso_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::from("PT");
    if h > 0 {
        out.push_str(&format!("{h}H"));
    }
    if m > 0 {
        out.push_str(&format!("{m}M"));
    }
    if s > 0 || out.len() == 2 {
        out.push_str(&format!("{s}S"));
    }
    out
}

fn to_json(tenant: &Tenant) -> Map<String, Value> {
    let interval = tenant.behaviour.sync_interval;
    into_map(json!({
        "id": tenant.org.id,
        "configuration": {
            "accidentalDeletionPrevention": match tenant.behaviour.accidental_delete_threshold {
                Some(n) => json!({"synchronizationPreventionType": "enabledForCount", "alertThreshold": n}),
                None => json!({"synchronizationPreventionType": "disabled", "alertThreshold": 0}),
            },
            "anchorAttribute": "mS-DS-ConsistencyGuid",
            "applicationId": null,
            "synchronizationClientVersion": "2.5.79.0",
            "synchronizationInterval": iso_duration(interval),
            "customerRequestedSynchronizationInterval": null,
            "currentExportData": null,
            "writebackConfiguration": null,
        },
        "features": tenant.features.to_json(),
    }))
}

/// `GET /directory/onPremisesSynchronization`: a collection of one.
pub fn list(tenant: &Tenant, select: Option<Vec<String>>, req: &Request<'_>) -> Reply {
    let obj = project(&to_json(tenant), select.as_deref(), PROPERTIES);
    let fragment = context_fragment(SEGMENT, select.as_deref());
    Reply::Json(
        StatusCode::OK,
        json!({ "@odata.context": req.context(&fragment), "value": [obj] }),
    )
}

/// `GET /directory/onPremisesSynchronization/{id}` (the id is the tenant's).
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
        SEGMENT,
        req,
    ))
}

fn forbidden() -> GraphError {
    GraphError::new(
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

/// `PATCH /directory/onPremisesSynchronization/{id} {"features": {…}}` → 204. On v1.0 an
/// application is refused unless `hard_match_flag_app_only` allows it.
pub fn patch(tenant: &mut Tenant, id: &str, req: &Request<'_>) -> Result<Reply, GraphError> {
    if req.version == Version::V1
        && tenant.behaviour.hard_match_flag_app_only == HardMatchFlagAppOnly::Deny
    {
        return Err(forbidden());
    }
    if !id.eq_ignore_ascii_case(&tenant.org.id) {
        return Err(GraphError::not_found(id));
    }
    let body = json_object(req.body)?;
    let mut changes: Vec<(String, bool)> = Vec::new();
    for (name, value) in &body {
        match (name.as_str(), value) {
            ("features", Value::Object(features)) => {
                for (feature, v) in features {
                    if !Features::knows(feature) {
                        return Err(GraphError::bad_request(format!(
                            "Invalid property '{feature}'."
                        )));
                    }
                    let Value::Bool(b) = v else {
                        return Err(GraphError::bad_request(format!(
                            "Invalid value specified for property '{feature}' of resource 'OnPremisesDirectorySynchronizationFeature'."
                        )));
                    };
                    changes.push((feature.clone(), *b));
                }
            }
            ("features", _) => {
                return Err(GraphError::bad_request(
                    "Invalid value specified for property 'features' of resource 'OnPremisesDirectorySynchronization'.",
                ));
            }
            ("id", _) => {
                return Err(GraphError::bad_request(
                    "Property 'id' is read-only and cannot be set.",
                ));
            }
            ("configuration", _) => {
                return Err(GraphError::bad_request(
                    "emulator: updating 'configuration' is not emulated; only 'features' can be changed.",
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
    for (feature, value) in changes {
        // Known names only (checked above).
        let _ = tenant.features.set(&feature, value);
    }
    Ok(Reply::NoContent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_iso_durations() {
        assert_eq!(iso_duration(Duration::from_secs(1800)), "PT30M");
        assert_eq!(iso_duration(Duration::from_secs(5400)), "PT1H30M");
        assert_eq!(iso_duration(Duration::from_secs(0)), "PT0S");
        assert_eq!(iso_duration(Duration::from_secs(61)), "PT1M1S");
    }
}
