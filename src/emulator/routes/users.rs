//! `/users/{id | userPrincipalName}`: read one user, update it (graph-api.md §2.4), delete it.

use serde_json::Value;

use super::list::entity;
use super::{GraphError, Reply, Request, Version, json_object};
use crate::emulator::odata::{self, Resource};
use crate::emulator::state::{DeleteError, Tenant, TextProp, UpdateError, UserChange};

/// Graph's answer to a write on an object directory sync masters (graph-api.md §2.4).
pub const SYNC_MASTERED: &str = "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.";

/// `GET /users/{key}`.
pub fn get(
    tenant: &Tenant,
    key: &str,
    select: Option<Vec<String>>,
    req: &Request<'_>,
) -> Result<Reply, GraphError> {
    let user = tenant.user(key).ok_or_else(|| GraphError::not_found(key))?;
    let defaults = odata::default_properties(Resource::User);
    Ok(entity(
        &user.to_json(),
        select.as_deref(),
        defaults,
        "users",
        req,
    ))
}

/// `PATCH /users/{key}`: 204 on success; refused for sync-mastered users.
pub fn patch(tenant: &mut Tenant, key: &str, req: &Request<'_>) -> Result<Reply, GraphError> {
    let id = tenant
        .user(key)
        .map(|u| u.id.clone())
        .ok_or_else(|| GraphError::not_found(key))?;
    let body = json_object(req.body)?;
    let domains: Vec<String> = tenant.org.domains.iter().map(|d| d.name.clone()).collect();
    let changes = body
        .iter()
        // Microsoft's SDKs send `@odata.type` with every entity; Graph ignores it.
        .filter(|(name, _)| !name.starts_with("@odata."))
        .map(|(name, value)| change(name, value, req.version, &domains))
        .collect::<Result<Vec<_>, _>>()?;
    tenant.update_user(&id, changes).map_err(|e| match e {
        UpdateError::NotFound => GraphError::not_found(key),
        UpdateError::SyncMastered => GraphError::bad_request(SYNC_MASTERED),
        UpdateError::UpnConflict => conflict("userPrincipalName"),
        UpdateError::AnchorAfterSoa => GraphError::bad_request(EXTERNAL_SERVICE),
    })?;
    Ok(Reply::NoContent)
}

/// Graph's answer (user report, graph-api.md §2.4) to writes on previously synced users; used
/// for the anchor of an SOA-switched user when `immutable_id_after_soa` refuses.
pub const EXTERNAL_SERVICE: &str = "Unable to update the specified properties for objects that have originated within an external service.";

/// 400 for a uniqueness conflict on `property` (graph-api.md §4).
pub fn conflict(property: &str) -> GraphError {
    let mut e = GraphError::bad_request(format!(
        "Another object with the same value for property {property} already exists."
    ));
    e.details = Some(serde_json::json!([{ "target": property, "code": "ObjectConflict" }]));
    e
}

/// `DELETE /users/{key}`: soft delete (204); refused for sync-mastered users.
pub fn delete(tenant: &mut Tenant, key: &str, req: &Request<'_>) -> Result<Reply, GraphError> {
    tenant.delete_user(key, req.now).map_err(|e| match e {
        DeleteError::NotFound => GraphError::not_found(key),
        DeleteError::SyncMastered => GraphError::bad_request(SYNC_MASTERED),
    })?;
    Ok(Reply::NoContent)
}

/// Checks a new user principal name (parameter `name`) against the tenant's verified domains.
pub fn check_upn(upn: &str, tenant: &Tenant, name: &str) -> Result<(), GraphError> {
    let domains: Vec<String> = tenant.org.domains.iter().map(|d| d.name.clone()).collect();
    validate_upn(upn, &domains, name)
}

fn validate_upn(upn: &str, domains: &[String], name: &str) -> Result<(), GraphError> {
    let (local, domain) = upn.rsplit_once('@').unwrap_or(("", ""));
    if local.is_empty() || local.contains(char::is_whitespace) {
        return Err(invalid_value(name));
    }
    if !domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
        return Err(GraphError::bad_request(
            "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.",
        ));
    }
    Ok(())
}

const READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "onPremisesSyncEnabled",
    "onPremisesLastSyncDateTime",
    "onPremisesObjectIdentifier",
    "proxyAddresses",
    "otherMails",
    "deletedDateTime",
];

fn text_prop(name: &str) -> Option<TextProp> {
    Some(match name {
        "givenName" => TextProp::GivenName,
        "surname" => TextProp::Surname,
        "mail" => TextProp::Mail,
        "mailNickname" => TextProp::MailNickname,
        "jobTitle" => TextProp::JobTitle,
        "department" => TextProp::Department,
        "officeLocation" => TextProp::OfficeLocation,
        "mobilePhone" => TextProp::MobilePhone,
        "preferredLanguage" => TextProp::PreferredLanguage,
        _ => return None,
    })
}

/// On-premises values beta lets an app clear or set on cloud-managed users (graph-api.md §2.4);
/// read-only in v1.0.
fn on_prem_prop(name: &str) -> Option<TextProp> {
    Some(match name {
        "onPremisesDistinguishedName" => TextProp::OnPremDistinguishedName,
        "onPremisesSamAccountName" => TextProp::OnPremSamAccountName,
        "onPremisesUserPrincipalName" => TextProp::OnPremUserPrincipalName,
        "onPremisesDomainName" => TextProp::OnPremDomainName,
        "onPremisesSecurityIdentifier" => TextProp::OnPremSecurityIdentifier,
        _ => return None,
    })
}

fn invalid_value(name: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Invalid value specified for property '{name}' of resource 'User'."
    ))
}

fn read_only(name: &str) -> GraphError {
    GraphError::bad_request(format!("Property '{name}' is read-only and cannot be set."))
}

fn nullable_string(name: &str, value: &Value) -> Result<Option<String>, GraphError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(invalid_value(name)),
    }
}

fn is_sid(s: &str) -> bool {
    let mut parts = s.split('-');
    parts.next() == Some("S")
        && parts.next() == Some("1")
        && s.split('-').count() >= 4
        && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Validates one property of a user PATCH body.
fn change(
    name: &str,
    value: &Value,
    version: Version,
    domains: &[String],
) -> Result<UserChange, GraphError> {
    if let Some(prop) = text_prop(name) {
        return Ok(UserChange::Text(prop, nullable_string(name, value)?));
    }
    if let Some(prop) = on_prem_prop(name) {
        if version == Version::V1 {
            return Err(read_only(name));
        }
        let v = nullable_string(name, value)?;
        if prop == TextProp::OnPremSecurityIdentifier && v.as_deref().is_some_and(|s| !is_sid(s)) {
            return Err(invalid_value(name));
        }
        return Ok(UserChange::Text(prop, v));
    }
    match (name, value) {
        ("onPremisesImmutableId", Value::Null) => Ok(UserChange::Text(TextProp::ImmutableId, None)),
        ("onPremisesImmutableId", Value::String(s)) if !s.is_empty() && !s.contains(['$', '_']) => {
            Ok(UserChange::Text(TextProp::ImmutableId, Some(s.clone())))
        }
        ("displayName", Value::String(s)) if !s.trim().is_empty() => {
            Ok(UserChange::DisplayName(s.clone()))
        }
        ("accountEnabled", Value::Bool(b)) => Ok(UserChange::AccountEnabled(*b)),
        ("userType", Value::String(s)) if s == "Member" || s == "Guest" => {
            Ok(UserChange::UserType(s.clone()))
        }
        ("businessPhones", Value::Array(items)) if items.len() <= 1 => {
            let phones: Option<Vec<String>> = items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect();
            phones
                .map(UserChange::BusinessPhones)
                .ok_or_else(|| invalid_value(name))
        }
        ("userPrincipalName", Value::String(upn)) => {
            validate_upn(upn, domains, name)?;
            Ok(UserChange::UserPrincipalName(upn.clone()))
        }
        (
            "onPremisesImmutableId"
            | "displayName"
            | "accountEnabled"
            | "userType"
            | "businessPhones"
            | "userPrincipalName",
            _,
        ) => Err(invalid_value(name)),
        _ if READ_ONLY.contains(&name) => Err(read_only(name)),
        _ => Err(GraphError::bad_request(format!(
            "Invalid property '{name}'."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn domains() -> Vec<String> {
        vec!["contoso.com".into(), "contoso.onmicrosoft.com".into()]
    }

    #[test]
    fn validates_each_property() {
        let d = domains();
        let ok = |n: &str, v: Value| change(n, &v, Version::V1, &d).is_ok();
        assert!(ok("onPremisesImmutableId", Value::Null));
        assert!(ok(
            "onPremisesImmutableId",
            json!("nofCJe0gZk6D8J4gRgrt+A==")
        ));
        assert!(!ok("onPremisesImmutableId", json!("a$b")));
        assert!(!ok("onPremisesImmutableId", json!("a_b")));
        assert!(!ok("onPremisesImmutableId", json!(5)));
        assert!(ok("displayName", json!("X")));
        assert!(!ok("displayName", Value::Null));
        assert!(ok("jobTitle", Value::Null));
        assert!(ok("accountEnabled", json!(false)));
        assert!(!ok("accountEnabled", json!("false")));
        assert!(ok("userPrincipalName", json!("a@CONTOSO.com")));
        assert!(!ok("userPrincipalName", json!("a@fabrikam.com")));
        assert!(!ok("onPremisesSyncEnabled", json!(false)));
        assert!(!ok("onPremisesDistinguishedName", Value::Null));
        assert!(!ok("favouriteColour", json!("blue")));
        let beta = |n: &str, v: Value| change(n, &v, Version::Beta, &d).is_ok();
        assert!(beta("onPremisesDistinguishedName", Value::Null));
        assert!(beta(
            "onPremisesSecurityIdentifier",
            json!("S-1-5-21-1-2-3-1104")
        ));
        assert!(!beta("onPremisesSecurityIdentifier", json!("not-a-sid")));
    }

    #[test]
    fn error_messages_name_the_property() {
        let d = domains();
        let msg = |n: &str, v: Value| change(n, &v, Version::V1, &d).err().map(|e| e.message);
        assert_eq!(
            msg("onPremisesSyncEnabled", json!(false)).as_deref(),
            Some("Property 'onPremisesSyncEnabled' is read-only and cannot be set.")
        );
        assert_eq!(
            msg("foo", json!(1)).as_deref(),
            Some("Invalid property 'foo'.")
        );
    }
}
