//! Per-object refusals: writes Graph refuses for one object although the application holds the
//! permission the route needs (graph-api.md §14; the marker is `state/privileged.rs`). Checked
//! after the permission and before the route runs, in batches too.

use axum::http::StatusCode;

use super::{GraphError, Route};
use crate::emulator::state::{Privilege, RefusalAnswer, SoaKind, Tenant};

/// Graph's generic refusal (graph-api.md error table, [S47]).
pub fn denied() -> GraphError {
    GraphError::new(
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

/// The other plausible answer to an SOA switch of an administrative object. UNCONFIRMED: the
/// emulator's wording, after the SOA overview ("administrative objects or those excluded from
/// synchronization can't have their SOA changed").
pub fn administrative(id: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Object '{id}' is an administrative object: its source of authority can't be changed."
    ))
}

/// Refuses `route` when it writes to a privileged object; `grants` are the calling
/// application's permissions.
pub fn check(tenant: &Tenant, route: &Route, grants: &[String]) -> Result<(), GraphError> {
    match route {
        Route::SoaPatch(kind @ (SoaKind::User | SoaKind::Group), key) => {
            let Some((id, _)) = tenant.cloud_managed(*kind, key) else {
                return Ok(());
            };
            match tenant.privilege(&id).map(|m| m.answer) {
                None => Ok(()),
                Some(RefusalAnswer::Forbidden) => Err(denied()),
                Some(RefusalAnswer::BadRequest) => Err(administrative(&id)),
            }
        }
        Route::UserPatch(key) => {
            let Some(u) = tenant.user(key) else {
                return Ok(());
            };
            match tenant.privilege(&u.id).map(|m| m.privilege) {
                Some(Privilege::RestrictedAu) => Err(denied()),
                _ => Ok(()),
            }
        }
        Route::DeletedRestore(id) => match tenant.privilege(id).map(|m| m.privilege) {
            Some(Privilege::RestrictedAu) => Err(denied()),
            Some(Privilege::AdminRole) if !grants.iter().any(|g| g == "User.DeleteRestore.All") => {
                Err(denied())
            }
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}
