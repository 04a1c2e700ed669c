//! `/groups/{id}`: read one group (groups are read-only in this cut).

use super::list::entity;
use super::{GraphError, Reply, Request};
use crate::emulator::odata::{self, Resource};
use crate::emulator::state::Tenant;

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
