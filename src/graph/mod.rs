//! Microsoft Graph client: credentials (secret, certificate, workload identity) and tokens,
//! one request pipeline (retries, Retry-After, backoff with jitter, paging, pacing), JSON
//! batching for bulk operations, delta rounds, typed models and typed errors.

pub mod auth;
pub mod batch;
mod bulk;
pub mod certificate;
pub mod client;
pub mod decoding;
pub mod delta;
pub mod error;
pub mod grants;
pub mod groups;
pub mod http;
pub mod limits;
pub mod models;
pub mod operation;
pub mod pacing;
mod paging;
mod pipeline;
pub mod privileged;
mod rates;
pub mod retry;
pub mod secret;
mod users;

pub use auth::{Credential, TokenProvider};
pub use batch::{BatchAnswer, BatchRequest, ItemResult, MAX_BATCH};
pub use certificate::{CertificateError, ClientCertificate};
pub use client::{
    ClientStats, GraphClient, GraphClientBuilder, GraphConfig, ListQuery, Page, Pager,
    RequestObserver, WriteReceipt,
};
pub use delta::{DeltaFrom, DeltaItem, DeltaPage, DeltaRound, Removal};
pub use error::{AuthError, ErrorCategory, GraphError, Operation};
pub use grants::{Grants, Probed, Prober};
pub use limits::Limits;
pub use retry::RetryPolicy;
pub use secret::SecretString;
