//! `$select` and `$top`, and the projection of an object onto the selected properties.

use serde_json::{Map, Value};

use super::error::ODataError;
use super::props::Resource;

#[rustfmt::skip]
const USER_DEFAULT: &[&str] = &[
    "businessPhones", "displayName", "givenName", "id", "jobTitle", "mail", "mobilePhone",
    "officeLocation", "preferredLanguage", "surname", "userPrincipalName",
];

// Unlike users, Graph returns a group's on-premises properties without `$select`.
#[rustfmt::skip]
const GROUP_DEFAULT: &[&str] = &[
    "id", "displayName", "description", "mail", "mailEnabled", "mailNickname", "securityEnabled",
    "groupTypes", "createdDateTime", "proxyAddresses", "onPremisesSyncEnabled",
    "onPremisesLastSyncDateTime", "onPremisesSecurityIdentifier", "onPremisesSamAccountName",
    "onPremisesDomainName", "onPremisesNetBiosName", "onPremisesProvisioningErrors",
];

// Like groups, contacts come with every property (the documented list answers show them).
#[rustfmt::skip]
const CONTACT_DEFAULT: &[&str] = &[
    "id", "displayName", "givenName", "surname", "mail", "mailNickname", "companyName",
    "department", "jobTitle", "addresses", "phones", "proxyAddresses", "onPremisesSyncEnabled",
    "onPremisesLastSyncDateTime", "onPremisesProvisioningErrors", "serviceProvisioningErrors",
];

/// Properties returned when no `$select` is given.
pub fn default_properties(resource: Resource) -> &'static [&'static str] {
    match resource {
        Resource::User => USER_DEFAULT,
        Resource::Group => GROUP_DEFAULT,
        Resource::Contact => CONTACT_DEFAULT,
    }
}

/// Parsed `$select`: the list of properties, validated against the resource's known properties.
///
/// Items are trimmed, matched case-insensitively, canonicalised and de-duplicated in first-seen order.
pub fn parse_select(resource: Resource, raw: &str) -> Result<Vec<String>, ODataError> {
    let mut out: Vec<String> = Vec::new();
    let mut pos = 0;
    for item in raw.split(',') {
        if item.trim().is_empty() {
            return Err(ODataError::bad_request(format!(
                "Invalid $select clause: empty property name at position {pos} in '{raw}'."
            )));
        }
        let name = resource.lookup(item.trim())?.name;
        if !out.iter().any(|s| s == name) {
            out.push(name.to_string());
        }
        pos += item.chars().count() + 1;
    }
    Ok(out)
}

/// Project an object onto the selected (or default) properties; absent properties are emitted as null, as Graph does.
pub fn project(obj: &Map<String, Value>, props: &[impl AsRef<str>]) -> Map<String, Value> {
    let value = |key: &str| obj.get(key).cloned().unwrap_or(Value::Null);
    props
        .iter()
        .map(|p| (p.as_ref().to_string(), value(p.as_ref())))
        .collect()
}

/// `$top`: 1..=999 else 400 Request_BadRequest "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."
pub fn parse_top(raw: &str) -> Result<usize, ODataError> {
    let t = raw.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        // Not an integer at all: the OData layer rejects it before Graph's page-size check.
        return Err(ODataError::bad_request(format!(
            "Invalid value '{raw}' for $top query option found. \
             The $top query option requires a non-negative integer value."
        )));
    }
    match t.parse::<usize>() {
        Ok(n) if (1..=999).contains(&n) => Ok(n),
        _ => Err(ODataError::bad_request(format!(
            "Invalid page size specified: '{t}'. Must be between 1 and 999 inclusive."
        ))),
    }
}
