//! `/directory/deletedItems`: list, read, restore and purge soft-deleted objects
//! (graph-api.md §4).

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::list::{Collection, page_in, project};
use super::query::ListQuery;
use super::{GraphError, Reply, Request, optional_object, users};
use crate::emulator::model::into_map;
use crate::emulator::odata::{self, Resource};
use crate::emulator::state::{ObjectKind, RestoreError, RestoreOptions, Tenant};

/// `$skiptoken` scope of the deleted users.
pub const USER_SCOPE: &str = "deletedItems/User";
/// `$skiptoken` scope of the deleted groups.
pub const GROUP_SCOPE: &str = "deletedItems/Group";

#[rustfmt::skip]
const USER_DEFAULT: &[&str] = &[
    "businessPhones", "displayName", "givenName", "id", "jobTitle", "mail", "mobilePhone",
    "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "deletedDateTime",
];

#[rustfmt::skip]
const GROUP_DEFAULT: &[&str] = &[
    "id", "displayName", "description", "mail", "mailEnabled", "mailNickname", "securityEnabled",
    "groupTypes", "createdDateTime", "proxyAddresses", "onPremisesSyncEnabled",
    "onPremisesLastSyncDateTime", "onPremisesSecurityIdentifier", "onPremisesSamAccountName",
    "onPremisesDomainName", "onPremisesNetBiosName", "onPremisesProvisioningErrors",
    "deletedDateTime",
];

fn defaults(kind: ObjectKind) -> &'static [&'static str] {
    match kind {
        ObjectKind::User => USER_DEFAULT,
        ObjectKind::Group => GROUP_DEFAULT,
    }
}

fn resource(kind: ObjectKind) -> Resource {
    match kind {
        ObjectKind::User => Resource::User,
        ObjectKind::Group => Resource::Group,
    }
}

/// `GET /directory/deletedItems/microsoft.graph.{user|group}`.
pub fn list(tenant: &Tenant, kind: ObjectKind, q: &ListQuery, req: &Request<'_>) -> Reply {
    match kind {
        ObjectKind::User => page_in(
            &tenant.deleted_users,
            q,
            req,
            Collection {
                context: "directoryObjects/microsoft.graph.user",
                link: "directory/deletedItems/microsoft.graph.user",
                defaults: USER_DEFAULT,
            },
        ),
        ObjectKind::Group => page_in(
            &tenant.deleted_groups,
            q,
            req,
            Collection {
                context: "directoryObjects/microsoft.graph.group",
                link: "directory/deletedItems/microsoft.graph.group",
                defaults: GROUP_DEFAULT,
            },
        ),
    }
}

/// Keeps the selected properties that exist on `kind` (a `$select` over users and groups).
fn own_properties(kind: ObjectKind, select: Option<&[String]>) -> Option<Vec<String>> {
    select.map(|props| {
        props
            .iter()
            .filter(|p| odata::parse_select(resource(kind), p).is_ok())
            .cloned()
            .collect()
    })
}

/// A directory object with its `@odata.type`, as a `directoryObjects/$entity`.
pub fn typed_entity(
    kind: ObjectKind,
    obj: &Map<String, Value>,
    select: Option<&[String]>,
    defaults: &[&str],
    req: &Request<'_>,
) -> Reply {
    let own = own_properties(kind, select);
    let mut body = into_map(project(obj, own.as_deref(), defaults));
    body.insert("@odata.type".into(), json!(kind.odata_type()));
    body.insert(
        "@odata.context".into(),
        json!(req.context("directoryObjects/$entity")),
    );
    Reply::Json(StatusCode::OK, Value::Object(body))
}

/// `GET /directory/deletedItems/{id}`.
pub fn get(
    tenant: &Tenant,
    id: &str,
    select: Option<Vec<String>>,
    req: &Request<'_>,
) -> Result<Reply, GraphError> {
    let (kind, obj) = tenant
        .deleted_json(id)
        .ok_or_else(|| GraphError::not_found(id))?;
    Ok(typed_entity(
        kind,
        &obj,
        select.as_deref(),
        defaults(kind),
        req,
    ))
}

fn options(tenant: &Tenant, req: &Request<'_>) -> Result<RestoreOptions, GraphError> {
    let body = optional_object(req.body)?;
    let mut options = RestoreOptions::default();
    for (name, value) in &body {
        match (name.as_str(), value) {
            ("newUserPrincipalName", Value::String(upn)) => {
                users::check_upn(upn, tenant, name)?;
                options.new_user_principal_name = Some(upn.clone());
            }
            ("newUserPrincipalName", Value::Null) => {}
            ("autoReconcileProxyConflict", Value::Bool(b)) => {
                options.auto_reconcile_proxy_conflict = *b;
            }
            ("newUserPrincipalName" | "autoReconcileProxyConflict", _) => {
                return Err(GraphError::bad_request(format!(
                    "Invalid value specified for parameter '{name}'."
                )));
            }
            (n, _) if n.starts_with("@odata.") => {}
            _ => {
                return Err(GraphError::bad_request(format!(
                    "The parameter '{name}' in the request payload is not a valid parameter for the operation 'restore'."
                )));
            }
        }
    }
    Ok(options)
}

/// `POST /directory/deletedItems/{id}/restore` → 200 with the restored object (same id).
pub fn restore(tenant: &mut Tenant, id: &str, req: &Request<'_>) -> Result<Reply, GraphError> {
    if tenant.deleted_kind(id).is_none() {
        return Err(GraphError::not_found(id));
    }
    let options = options(tenant, req)?;
    let kind = tenant.restore(id, &options).map_err(|e| match e {
        RestoreError::NotFound => GraphError::not_found(id),
        RestoreError::UpnConflict => users::conflict("userPrincipalName"),
        RestoreError::ProxyConflict => users::conflict("proxyAddresses"),
    })?;
    let obj = match kind {
        ObjectKind::User => tenant.users.get(id).map(|u| u.to_json()),
        ObjectKind::Group => tenant.groups.get(id).map(|g| g.to_json()),
    };
    let obj = obj.ok_or_else(|| GraphError::not_found(id))?;
    let defaults = odata::default_properties(resource(kind));
    Ok(typed_entity(kind, &obj, None, defaults, req))
}

/// `DELETE /directory/deletedItems/{id}` → 204.
pub fn purge(tenant: &mut Tenant, id: &str) -> Result<Reply, GraphError> {
    if tenant.purge(id) {
        Ok(Reply::NoContent)
    } else {
        Err(GraphError::not_found(id))
    }
}
