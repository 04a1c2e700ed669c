//! The emulator's HTTP router: the token endpoint, the discovery documents, the control
//! endpoints and Graph, behind the middleware that reads a linked directory when a sync cycle
//! is due. The state they share is in `shared.rs`.

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use super::active_directory::gate;
use super::shared::Shared;
use super::{control, discovery, graph, token};

/// Routes: the token endpoint and the discovery documents MSAL reads first, the control
/// endpoints, and Graph for everything else.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token::endpoint))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route("/common/discovery/instance", get(discovery::instance))
        .nest("/_emulator", control::router())
        .fallback(graph::handle)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            gate::middleware,
        ))
        .with_state(shared)
}
