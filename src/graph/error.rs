//! Typed errors of the Graph client, and the small fixed set of categories the reconcilers
//! (and later metrics and Events) branch on.

use std::time::Duration;

/// Graph's code for a refused request (403): a missing permission, or an object refused alone.
pub const REQUEST_DENIED: &str = "Authorization_RequestDenied";

pub use super::operation::Operation;

/// What kind of failure an error is, for the decision "stall, retry later, or back off".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCategory {
    /// The token endpoint refused the credentials (wrong or expired secret, unknown app).
    InvalidCredentials,
    /// The tenant does not exist (or the id is malformed).
    TenantNotFound,
    /// Graph refused (403 `Authorization_RequestDenied`): for lack of an application
    /// permission, or for this object alone (an administrator, an AdminSDHolder-protected
    /// object, a member of a restricted-management administrative unit; graph-api.md §14).
    /// [`GraphError::is_fatal`] tells which.
    MissingPermission,
    /// The object or route does not exist.
    NotFound,
    /// Graph throttled the request (429), even after retries.
    Throttled,
    /// 5xx, connection or timeout: worth retrying later.
    Transient,
    /// Graph rejected the request itself (400): retrying unchanged won't help.
    Rejected,
    /// An answer we could not understand.
    Unexpected,
}

impl ErrorCategory {
    /// CamelCase label, usable as a condition reason, an Event reason and a metric label.
    pub fn reason(self) -> &'static str {
        match self {
            ErrorCategory::InvalidCredentials => crate::reasons::INVALID_CREDENTIALS,
            ErrorCategory::TenantNotFound => crate::reasons::TENANT_NOT_FOUND,
            ErrorCategory::MissingPermission => crate::reasons::MISSING_PERMISSION,
            ErrorCategory::NotFound => "NotFound",
            ErrorCategory::Throttled => crate::reasons::THROTTLED,
            ErrorCategory::Transient => crate::reasons::TRANSIENT,
            ErrorCategory::Rejected => crate::reasons::GRAPH_REJECTED,
            ErrorCategory::Unexpected => crate::reasons::UNEXPECTED_RESPONSE,
        }
    }

    /// Whether trying again later, unchanged, can succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCategory::Throttled | ErrorCategory::Transient | ErrorCategory::Unexpected
        )
    }
}

/// Failure of a token request. Never carries the secret or the token.
#[derive(Clone, Debug, thiserror::Error)]
pub enum AuthError {
    /// The token endpoint answered with an Entra (AADSTS) error.
    #[error("the token endpoint refused the request for client {client_id}: {error}{}: {description}", aadsts.map(|c| format!(" (AADSTS{c})")).unwrap_or_default())]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Application (client) id the request was for.
        client_id: String,
        /// OAuth `error`, e.g. `invalid_client`.
        error: String,
        /// The AADSTS code, e.g. 7000215.
        aadsts: Option<u32>,
        /// First line of `error_description` (without trace and correlation ids).
        description: String,
    },
    /// The token endpoint could not be reached or failed with 5xx after retries.
    #[error("the token endpoint {url} is unavailable: {detail}")]
    Unavailable {
        /// Token endpoint URL.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// The local credential material is unusable (e.g. an unreadable token file).
    #[error("credential unusable: {detail}")]
    Credential {
        /// What is wrong.
        detail: String,
    },
    /// The answer was not a token response.
    #[error("the token endpoint answered {status} with an unexpected body: {detail}")]
    Decode {
        /// HTTP status.
        status: u16,
        /// What was wrong, in the client's words (never the body's bytes).
        detail: String,
    },
    /// The token endpoint answered with a redirect, which is never followed: the request
    /// carries the credential.
    #[error(
        "the token endpoint answered with a redirect (HTTP {status}); redirects are refused, so the credential went nowhere else"
    )]
    Redirect {
        /// HTTP status (3xx).
        status: u16,
    },
    /// The answer was longer than a token answer can be.
    #[error("the token endpoint answered with a body over {limit} bytes; not read")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
}

impl AuthError {
    /// The category of this failure.
    pub fn category(&self) -> ErrorCategory {
        match self {
            AuthError::Rejected { aadsts, error, .. } => match aadsts {
                Some(90002 | 900023 | 90013) => ErrorCategory::TenantNotFound,
                _ if error == "invalid_scope" => ErrorCategory::Rejected,
                _ => ErrorCategory::InvalidCredentials,
            },
            AuthError::Unavailable { .. } => ErrorCategory::Transient,
            AuthError::Credential { .. } => ErrorCategory::InvalidCredentials,
            AuthError::Decode { .. } | AuthError::Redirect { .. } | AuthError::TooLarge { .. } => {
                ErrorCategory::Unexpected
            }
        }
    }
}

/// Failure of a Graph request. Cloneable: a batch that fails as a whole gives each of its
/// requests the same error.
#[derive(Clone, Debug, thiserror::Error)]
pub enum GraphError {
    /// Graph answered with its error envelope.
    #[error("graph {operation} failed with {status} {code}: {message}{}", request_id.as_deref().map(|r| format!(" (request-id {r})")).unwrap_or_default())]
    Api {
        /// The operation.
        operation: Operation,
        /// HTTP status.
        status: u16,
        /// `error.code`, e.g. `Request_BadRequest`.
        code: String,
        /// `error.message`.
        message: String,
        /// `request-id` of the answer, for Microsoft support.
        request_id: Option<String>,
        /// `Retry-After`, when Graph gave one.
        retry_after: Option<Duration>,
    },
    /// Getting a token failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The request could not be sent or its answer not read, after retries.
    #[error("graph {operation} could not complete: {detail}")]
    Transport {
        /// The operation.
        operation: Operation,
        /// What went wrong (reqwest's description, which names the URL but no secret).
        detail: String,
    },
    /// The answer could not be decoded.
    #[error("graph {operation} answered with an unexpected body: {detail}")]
    Decode {
        /// The operation.
        operation: Operation,
        /// What was wrong.
        detail: String,
    },
    /// A paging link pointed somewhere the bearer token must not be sent.
    #[error(
        "graph {operation} returned a paging link to another origin ({link}); refusing to follow it"
    )]
    ForeignLink {
        /// The operation.
        operation: Operation,
        /// The link's origin (scheme, host and port only).
        link: String,
    },
    /// Graph answered with a redirect, which is never followed: the request carries the
    /// bearer token.
    #[error(
        "graph {operation} answered with a redirect (HTTP {status}); redirects are refused, so nothing was sent elsewhere"
    )]
    Redirect {
        /// The operation.
        operation: Operation,
        /// HTTP status (3xx).
        status: u16,
    },
    /// The answer was longer than any Graph answer the operator asks for.
    #[error("graph {operation} answered with a body over {limit} bytes; not read")]
    TooLarge {
        /// The operation.
        operation: Operation,
        /// The limit, in bytes.
        limit: u64,
    },
    /// A listing went on past the page cap (a collection larger than the largest tenant
    /// supported, or a server that never ends it).
    #[error("graph {operation} did not end within {pages} pages; giving up")]
    TooManyPages {
        /// The operation.
        operation: Operation,
        /// The cap.
        pages: u64,
    },
    /// The request, its retries included, did not complete within the client's deadline.
    #[error("graph {operation} did not complete within {}s, retries included", deadline.as_secs())]
    Deadline {
        /// The operation.
        operation: Operation,
        /// The deadline.
        deadline: Duration,
    },
    /// The configured endpoint is not a usable URL.
    #[error("invalid Graph endpoint {url:?}: {detail}")]
    Endpoint {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
}

impl GraphError {
    /// The category of this failure.
    pub fn category(&self) -> ErrorCategory {
        match self {
            GraphError::Api { status, code, .. } => match (*status, code.as_str()) {
                (429, _) => ErrorCategory::Throttled,
                (403, _) | (_, REQUEST_DENIED) => ErrorCategory::MissingPermission,
                (401, _) => ErrorCategory::InvalidCredentials,
                (404, _) => ErrorCategory::NotFound,
                (s, _) if s >= 500 => ErrorCategory::Transient,
                _ => ErrorCategory::Rejected,
            },
            GraphError::Auth(e) => e.category(),
            GraphError::Transport { .. } | GraphError::Deadline { .. } => ErrorCategory::Transient,
            GraphError::Decode { .. }
            | GraphError::Redirect { .. }
            | GraphError::TooLarge { .. }
            | GraphError::TooManyPages { .. } => ErrorCategory::Unexpected,
            GraphError::ForeignLink { .. } | GraphError::Endpoint { .. } => ErrorCategory::Rejected,
        }
    }

    /// Whether this error stops the whole pass (a missing permission, refused credentials, an
    /// unknown tenant) rather than failing its object alone. Graph answers the same 403 for a
    /// missing permission and for an object it refuses one by one, so a refusal proves a
    /// missing permission only when no object had the same step accepted with the same token
    /// in this wave (`accepted_alike` false): the step refused for every object attempted
    /// (which includes a wave of one). A 403 after the same step succeeded for another object
    /// fails its object alone; a 403 on a read of the tenant or a listing is always fatal
    /// (those callers pass `false`).
    pub fn is_fatal(&self, accepted_alike: bool) -> bool {
        match self.category() {
            ErrorCategory::MissingPermission => !accepted_alike,
            ErrorCategory::InvalidCredentials | ErrorCategory::TenantNotFound => true,
            _ => false,
        }
    }

    /// Graph's `error.code`, when the error came from Graph.
    pub fn code(&self) -> Option<&str> {
        match self {
            GraphError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The operation that failed, when known.
    pub fn operation(&self) -> Option<Operation> {
        match self {
            GraphError::Api { operation, .. }
            | GraphError::Transport { operation, .. }
            | GraphError::Decode { operation, .. }
            | GraphError::ForeignLink { operation, .. }
            | GraphError::Redirect { operation, .. }
            | GraphError::TooLarge { operation, .. }
            | GraphError::TooManyPages { operation, .. }
            | GraphError::Deadline { operation, .. } => Some(*operation),
            _ => None,
        }
    }
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
