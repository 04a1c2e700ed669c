//! Objects Graph refuses to convert, found before the first write where Graph lets an
//! application see them (graph-api.md §14): holders of an Entra administrator role (`GET
//! /roleManagement/directory/roleAssignments`, `RoleManagement.Read.Directory`) and members of
//! restricted-management administrative units (`GET /directory/administrativeUnits` and their
//! members, `AdministrativeUnit.Read.All`). Without a permission, that part is unverified and
//! said so; the objects then fail alone when Graph refuses them.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::client::{GraphClient, ListQuery, path_segment};
use super::{GraphError, Operation};

/// Why an object is privileged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Privilege {
    /// Holds an Entra administrator role (directly).
    DirectoryRole,
    /// A member of a restricted-management administrative unit.
    RestrictedAdministrativeUnit,
}

impl Privilege {
    /// The exclusion reason, as status lists it.
    pub fn reason(self) -> &'static str {
        match self {
            Privilege::DirectoryRole => "DirectoryRole",
            Privilege::RestrictedAdministrativeUnit => "RestrictedAdministrativeUnit",
        }
    }
}

/// What the operator could find out.
#[derive(Clone, Debug, Default)]
pub struct Privileged {
    /// Privileged objects by lowercase id.
    pub objects: BTreeMap<String, Privilege>,
    /// What could not be checked, and the permission that would let it (empty: all checked).
    pub unverified: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Assignment {
    principal_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdministrativeUnit {
    id: String,
    #[serde(default)]
    is_member_management_restricted: Option<bool>,
}

#[derive(Deserialize)]
struct Member {
    id: String,
}

impl GraphClient {
    /// The privileged objects of the tenant, as far as the application may see them. Only a
    /// refusal of permission makes a part unverified; any other failure is an error.
    pub async fn privileged(&self) -> Result<Privileged, GraphError> {
        let mut out = Privileged::default();
        let query = |select: &[&str]| ListQuery {
            select: select.iter().map(|s| s.to_string()).collect(),
            top: Some(999),
            ..Default::default()
        };
        let roles = self.pager::<Assignment>(
            Operation::ListRoleAssignments,
            "roleManagement/directory/roleAssignments",
            &query(&["principalId"]),
        )?;
        match drain(roles).await {
            Ok(items) => {
                for a in items {
                    out.objects
                        .insert(a.principal_id.to_lowercase(), Privilege::DirectoryRole);
                }
            }
            Err(e) if e.category() == super::ErrorCategory::MissingPermission => {
                out.unverified.push(format!(
                    "administrator role holders (grant {})",
                    Operation::ListRoleAssignments.required_permission()
                ));
            }
            Err(e) => return Err(e),
        }
        let units = self.pager::<AdministrativeUnit>(
            Operation::ListAdministrativeUnits,
            "directory/administrativeUnits",
            &query(&["id", "isMemberManagementRestricted"]),
        )?;
        let restricted = match drain(units).await {
            Ok(units) => units
                .into_iter()
                .filter(|u| u.is_member_management_restricted == Some(true))
                .map(|u| u.id)
                .collect::<Vec<_>>(),
            Err(e) if e.category() == super::ErrorCategory::MissingPermission => {
                out.unverified.push(format!(
                    "members of restricted-management administrative units (grant {})",
                    Operation::ListAdministrativeUnits.required_permission()
                ));
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        for unit in restricted {
            let path = format!(
                "directory/administrativeUnits/{}/members",
                path_segment(&unit)
            );
            let members = self.pager::<Member>(
                Operation::ListAdministrativeUnitMembers,
                &path,
                &query(&["id"]),
            )?;
            for m in drain(members).await? {
                out.objects
                    .entry(m.id.to_lowercase())
                    .or_insert(Privilege::RestrictedAdministrativeUnit);
            }
        }
        Ok(out)
    }
}

async fn drain<T: serde::de::DeserializeOwned>(
    mut pager: super::Pager<T>,
) -> Result<Vec<T>, GraphError> {
    let mut out = Vec::new();
    while let Some(page) = pager.next_page().await? {
        out.extend(page.items);
    }
    Ok(out)
}
