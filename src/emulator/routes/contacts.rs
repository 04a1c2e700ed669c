//! `/contacts`, `/contacts/{id}`: organizational contacts, read-only in Graph (their Source of
//! Authority is in `soa.rs`). Lists page, select and filter like `/users` (`list.rs`).

use serde_json::{Map, Value};

use super::list::{Listed, entity};
use super::{GraphError, Reply, Request};
use crate::emulator::model::Contact;
use crate::emulator::odata::{self, Resource};
use crate::emulator::state::Tenant;

impl Listed for Contact {
    fn to_json(&self) -> Map<String, Value> {
        Contact::to_json(self)
    }
}

/// `GET /contacts/{id}`.
pub fn get(
    tenant: &Tenant,
    id: &str,
    select: Option<Vec<String>>,
    req: &Request<'_>,
) -> Result<Reply, GraphError> {
    let contact = tenant
        .contacts
        .get(id)
        .ok_or_else(|| GraphError::not_found(id))?;
    let defaults = odata::default_properties(Resource::Contact);
    Ok(entity(
        &contact.to_json(),
        select.as_deref(),
        defaults,
        "contacts",
        req,
    ))
}
