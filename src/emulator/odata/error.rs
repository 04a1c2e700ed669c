//! The error of a query option Graph refuses: `400` with `Request_BadRequest` or
//! `Request_UnsupportedQuery`.

/// A Graph error answer: HTTP status, `error.code`, `error.message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ODataError {
    /// HTTP status code (always 400 here).
    pub status: u16,
    /// Graph `error.code`: `Request_BadRequest` or `Request_UnsupportedQuery`.
    pub code: &'static str,
    /// Graph `error.message`.
    pub message: String,
}

impl ODataError {
    pub(super) fn new(code: &'static str, message: String) -> Self {
        Self {
            status: 400,
            code,
            message,
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new("Request_BadRequest", message.into())
    }

    pub(super) fn unsupported(message: String) -> Self {
        Self::new("Request_UnsupportedQuery", message)
    }

    pub(super) fn needs_advanced(op: &str) -> Self {
        Self::unsupported(format!(
            "Operator '{op}' is not supported because the required parameters might be missing. \
             Try adding $count=true query parameter and ConsistencyLevel:eventual header. \
             Refer to https://aka.ms/graph-docs/advanced-queries for more information"
        ))
    }
}
