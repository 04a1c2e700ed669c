//! The client's reading of what servers answer, as pure functions over bytes: the same code
//! the client runs once a body is read (capped), without a connection. The fuzz targets
//! (`fuzz/`) and the property tests (`tests/properties.rs`) drive it with arbitrary input:
//! whatever a server sends must end in a value or a typed error, never a panic, and errors
//! repeat no more of a foreign answer than Graph's own bounded error fields.

use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use super::batch::{Envelope as BatchEnvelope, ItemResult, item_result};
use super::delta::{DeltaItem, Envelope as DeltaEnvelope, item};
use super::error::{AuthError, GraphError, Operation};
use super::limits::media_type;
use super::models::Collection;
use super::pipeline::{api_error, decode};
use super::retry::server_retry_after;
use super::secret::SecretString;

/// A page of a collection (`GET /users`, `/groups`, …), decoded.
#[derive(Debug)]
pub struct ListPage<T> {
    /// The page's objects.
    pub items: Vec<T>,
    /// `@odata.nextLink`, as sent (the client checks its origin before following it).
    pub next_link: Option<String>,
    /// `@odata.count`, when asked for.
    pub count: Option<u64>,
}

/// A page of a listing, as [`super::Pager`] decodes it.
pub fn list_page<T: DeserializeOwned>(
    op: Operation,
    body: Vec<u8>,
) -> Result<ListPage<T>, GraphError> {
    let page: Collection<T> = decode(op, body)?;
    Ok(ListPage {
        items: page.value,
        next_link: page.next_link,
        count: page.count,
    })
}

/// A page of a delta round, decoded.
#[derive(Debug)]
pub struct DeltaPageBody<T> {
    /// The page's changes and removals.
    pub items: Vec<DeltaItem<T>>,
    /// `@odata.nextLink`, as sent.
    pub next_link: Option<String>,
    /// `@odata.deltaLink`, as sent.
    pub delta_link: Option<String>,
}

/// A page of a delta round, as [`super::DeltaRound`] decodes it (the envelope, then each
/// element as a removal or an object).
pub fn delta_page<T: DeserializeOwned>(
    op: Operation,
    body: Vec<u8>,
) -> Result<DeltaPageBody<T>, GraphError> {
    let page: DeltaEnvelope = decode(op, body)?;
    let items = page
        .value
        .into_iter()
        .map(|v| item(op, v))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DeltaPageBody {
        items,
        next_link: page.next_link,
        delta_link: page.delta_link,
    })
}

/// The typed error of a failed answer (status 100..=999), as the client builds it:
/// `retry_after` is the raw `Retry-After` header, `body` `None` when it was too long to read.
/// A status outside that range is a `Decode` error.
pub fn error_answer(
    op: Operation,
    status: u16,
    retry_after: Option<&str>,
    content_type: Option<&str>,
    body: Option<&[u8]>,
) -> GraphError {
    let Ok(status) = StatusCode::from_u16(status) else {
        return GraphError::Decode {
            operation: op,
            detail: format!("an answer with status {status}"),
        };
    };
    api_error(
        op,
        status,
        None,
        retry_after.and_then(server_retry_after),
        content_type,
        body,
    )
}

/// The requests' results of a `$batch` answer, by request id in the answer's order, each as
/// [`super::GraphClient::batch`] settles it (before retries); `op` is every request's
/// operation, `batch_id` the batch's `request-id`.
pub fn batch_answer(
    op: Operation,
    body: Vec<u8>,
    batch_id: Option<&str>,
) -> Result<Vec<(String, ItemResult)>, GraphError> {
    let envelope: BatchEnvelope = decode(Operation::Batch, body)?;
    Ok(envelope
        .responses
        .into_iter()
        .map(|r| (r.id.clone(), item_result(op, r, batch_id)))
        .collect())
}

/// A token endpoint's final answer (status not a redirect, 429 or 5xx), as the credential
/// reads it: the token and how long to use it, or the endpoint's refusal.
pub fn token_answer(
    status: u16,
    content_type: Option<&str>,
    client_id: &str,
    body: &[u8],
) -> Result<(SecretString, Duration), AuthError> {
    super::auth::token_answer(status, &media_type(content_type), client_id, body)
}
