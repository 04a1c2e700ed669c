//! How a pass fails for a kind: a selection Graph refused, a Graph failure retrying cannot
//! cure (a stall naming the fix), or one it can (the error, for the shell's backoff).

use crate::graph::{ErrorCategory, GraphError};
use crate::reconcile::remedy::stall_message;
use crate::reconcile::{ReconcileError, Stall};

use super::{ConversionSpec, Cx};

/// Where a selection failed, for a message naming the field.
#[derive(Debug)]
pub struct SelectError {
    /// The spec field, e.g. `selector.filter`.
    pub field: &'static str,
    /// The Graph error.
    pub error: GraphError,
}

/// Tags a Graph error with the spec field whose selection it failed.
pub fn at(field: &'static str) -> impl Fn(GraphError) -> SelectError {
    move |error| SelectError { field, error }
}

/// A selection Graph refused: the stall naming the field, or the error when retrying can help.
pub fn select_failed<S: ConversionSpec>(
    cx: &Cx<'_, S>,
    SelectError { field, error }: SelectError,
) -> Result<Stall, ReconcileError> {
    let cat = error.category();
    if cat.is_retryable() {
        return Err(ReconcileError::Graph(error));
    }
    Ok(match cat {
        ErrorCategory::NotFound => Stall::fixable(
            crate::reasons::GROUP_NOT_FOUND,
            format!("spec.{field}: a group does not exist: {error}"),
        ),
        ErrorCategory::Rejected => Stall::fixable(
            crate::reasons::INVALID_SELECTOR,
            format!("spec.{field}: Graph rejected it: {error}"),
        ),
        _ => Stall::fixable(
            cat.reason(),
            stall_message(
                &error,
                cx.tenant,
                &cx.ctx.resource.namespace,
                &cx.spec.spec.permissions(),
            ),
        ),
    })
}

/// A Graph failure that ends the pass: the error when retrying can help, else the stall
/// naming the fix.
pub fn graph_failed<S: ConversionSpec>(
    cx: &Cx<'_, S>,
    error: GraphError,
) -> Result<Stall, ReconcileError> {
    if error.category().is_retryable() {
        return Err(ReconcileError::Graph(error));
    }
    Ok(fatal_stall(cx, &error))
}

/// A Graph failure that retrying cannot cure: the stall naming the fix (a permission of the
/// resource's, the credentials, the tenant).
pub(super) fn fatal_stall<S: ConversionSpec>(cx: &Cx<'_, S>, error: &GraphError) -> Stall {
    let needed = cx.spec.spec.permissions();
    Stall::fixable(
        error.category().reason(),
        stall_message(error, cx.tenant, &cx.ctx.resource.namespace, &needed),
    )
}
