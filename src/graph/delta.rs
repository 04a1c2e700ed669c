//! Delta queries on users and groups (graph-api.md §6): a round of pages that ends in an
//! `@odata.deltaLink`, from which the next round returns only what changed.
//!
//! - A round starts in full (every object, then a deltaLink), from `$deltatoken=latest` (no
//!   objects, a deltaLink "from now") or from the deltaLink of the previous round (only the
//!   objects whose `$select`ed properties changed, and the removed ones).
//! - `$select` is sent on the first request only: Graph encodes it in the links it returns.
//!   It also decides what is tracked: a change to a property that is not selected does not
//!   surface the object, so callers select only what they act on.
//! - Pages are handed out one at a time ([`DeltaRound::next_page`]): memory is bounded by a
//!   page, whatever the tenant's size.
//! - A token Graph no longer honours (`410 Gone` after tenant maintenance, `400
//!   syncStateNotFound` once older than 7 days, or a token it does not recognise) starts the
//!   round over in full, with the same `$select`: the page that follows says so
//!   ([`DeltaPage::restarted`]), and the caller drops what it drew from the earlier pages. The
//!   410's `Location` is the same query with an empty `$deltatoken`, which is what the client
//!   sends, so it needs no header it would have to trust with the bearer token.

use std::marker::PhantomData;

use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::warn;
use url::Url;

use super::client::{GraphClient, decode};
use super::error::{GraphError, Operation};
use super::limits::{DEFAULT_PAGE_SIZE, json_problem};
use super::models::{Group, User};
use super::paging::PageBudget;

/// How often one round may start over before a resync answer is returned as an error: a round
/// that keeps being told to start over is not a token's age but something to report.
const MAX_RESTARTS: u32 = 2;

/// `error.code`s by which Graph says a delta token can no longer be used.
const RESYNC_CODES: &[&str] = &["syncStateNotFound", "syncStateInvalid", "resyncRequired"];

/// Where a round starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeltaFrom {
    /// A full round: every object, then a deltaLink.
    Full,
    /// `$deltatoken=latest`: no object, a deltaLink from now.
    Latest,
    /// The deltaLink of an earlier round: what changed since.
    Link(String),
}

/// Why an object left the collection (`@removed.reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// `changed`: soft-deleted, restorable for 30 days.
    SoftDeleted,
    /// `deleted` (or a reason this client does not know): gone for good.
    Deleted,
}

/// One object of a delta page.
#[derive(Clone, Debug, PartialEq)]
pub enum DeltaItem<T> {
    /// The object: in a full round or when it (re)appeared, every selected property that is
    /// set; otherwise at least the changed ones.
    Changed(T),
    /// It left the collection.
    Removed {
        /// Object id.
        id: String,
        /// Why.
        reason: Removal,
    },
}

/// One page of a round.
#[derive(Debug)]
pub struct DeltaPage<T> {
    /// The objects, as Graph sent them (an object may come twice in a round).
    pub items: Vec<DeltaItem<T>>,
    /// The round started over in full before this page: whatever the earlier pages of this
    /// round said is superseded.
    pub restarted: bool,
}

/// A delta page as Graph sends it.
#[derive(Deserialize)]
pub(super) struct Envelope {
    #[serde(default)]
    pub(super) value: Vec<Value>,
    #[serde(rename = "@odata.nextLink", default)]
    pub(super) next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    pub(super) delta_link: Option<String>,
}

/// A round of a delta query, page by page.
pub struct DeltaRound<T> {
    client: GraphClient,
    operation: Operation,
    path: &'static str,
    select: String,
    next: Option<Url>,
    /// `next` is a link Graph issued (a `$skiptoken` or `$deltatoken`).
    tokened: bool,
    full: bool,
    restarts: u32,
    restarted: bool,
    /// Pages left to this round (Graph picks the page size of delta: its default is
    /// assumed): a server that never ends a round must not hold a worker forever.
    budget: PageBudget,
    delta_link: Option<String>,
    _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> DeltaRound<T> {
    /// The next page, or `None` once the deltaLink has come ([`DeltaRound::delta_link`]).
    pub async fn next_page(&mut self) -> Result<Option<DeltaPage<T>>, GraphError> {
        let op = self.operation;
        loop {
            let Some(url) = self.next.take() else {
                return Ok(None);
            };
            self.budget.take(op)?;
            let answer = match self.client.send(op, Method::GET, url, None, false).await {
                Ok(answer) => answer,
                Err(e) if self.tokened && self.restarts < MAX_RESTARTS && needs_resync(&e) => {
                    warn!(op = op.name(), error = %e, "delta token no longer usable; starting a full round");
                    self.restarts += 1;
                    self.restarted = true;
                    self.full = true;
                    self.tokened = false;
                    // A full round again: at most MAX_RESTARTS times the cap in all.
                    self.budget = self.client.page_budget(DEFAULT_PAGE_SIZE);
                    self.next = Some(self.client.delta_url(self.path, &self.select, false)?);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let page: Envelope = decode(op, answer.body)?;
            match (page.next_link, page.delta_link) {
                (Some(next), _) => {
                    self.next = Some(self.client.same_origin(op, &next)?);
                    self.tokened = true;
                }
                (None, Some(delta)) => {
                    self.client.same_origin(op, &delta)?;
                    self.delta_link = Some(delta);
                }
                (None, None) => {
                    return Err(GraphError::Decode {
                        operation: op,
                        detail: "a delta page with neither @odata.nextLink nor @odata.deltaLink"
                            .into(),
                    });
                }
            }
            let items = page
                .value
                .into_iter()
                .map(|v| item(op, v))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Some(DeltaPage {
                items,
                restarted: std::mem::take(&mut self.restarted),
            }));
        }
    }
}

impl<T> DeltaRound<T> {
    /// Whether the round lists every object: it started in full, or started over.
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// The link the next round starts from, once the last page has been read.
    pub fn delta_link(&self) -> Option<&str> {
        self.delta_link.as_deref()
    }

    /// [`DeltaRound::delta_link`], taken.
    pub fn into_delta_link(self) -> Option<String> {
        self.delta_link
    }
}

/// One element of `value`: a removal or the object.
pub(super) fn item<T: DeserializeOwned>(
    op: Operation,
    v: Value,
) -> Result<DeltaItem<T>, GraphError> {
    let bad = |detail: String| GraphError::Decode {
        operation: op,
        detail,
    };
    if let Some(removed) = v.get("@removed") {
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a removed object without an id".into()))?;
        let reason = match removed.get("reason").and_then(Value::as_str) {
            Some(r) if r.eq_ignore_ascii_case("changed") => Removal::SoftDeleted,
            _ => Removal::Deleted,
        };
        return Ok(DeltaItem::Removed {
            id: id.to_string(),
            reason,
        });
    }
    serde_json::from_value(v)
        .map(DeltaItem::Changed)
        .map_err(|e| bad(json_problem(&e)))
}

/// Whether `e` is Graph saying that a delta token can no longer be used, so that only a full
/// round can go on: `410 Gone`, or a 400 naming the sync state or the token.
pub fn needs_resync(e: &GraphError) -> bool {
    match e {
        GraphError::Api { status: 410, .. } => true,
        GraphError::Api {
            status: 400,
            code,
            message,
            ..
        } => {
            RESYNC_CODES.iter().any(|c| code.eq_ignore_ascii_case(c))
                || message.to_ascii_lowercase().contains("token")
        }
        _ => false,
    }
}

impl GraphClient {
    /// A round of `GET /users/delta` tracking `select` (`id` is always returned).
    pub fn users_delta(
        &self,
        from: DeltaFrom,
        select: &[&str],
    ) -> Result<DeltaRound<User>, GraphError> {
        self.delta_round(Operation::UsersDelta, "users/delta", from, select)
    }

    /// A round of `GET /groups/delta` tracking `select` (`id` is always returned).
    pub fn groups_delta(
        &self,
        from: DeltaFrom,
        select: &[&str],
    ) -> Result<DeltaRound<Group>, GraphError> {
        self.delta_round(Operation::GroupsDelta, "groups/delta", from, select)
    }

    fn delta_round<T>(
        &self,
        operation: Operation,
        path: &'static str,
        from: DeltaFrom,
        select: &[&str],
    ) -> Result<DeltaRound<T>, GraphError> {
        let select = select.join(",");
        let (next, tokened, full) = match from {
            DeltaFrom::Full => (self.delta_url(path, &select, false)?, false, true),
            DeltaFrom::Latest => (self.delta_url(path, &select, true)?, false, false),
            DeltaFrom::Link(link) => (self.same_origin(operation, &link)?, true, false),
        };
        Ok(DeltaRound {
            client: self.clone(),
            operation,
            path,
            select,
            next: Some(next),
            tokened,
            full,
            restarts: 0,
            budget: self.page_budget(DEFAULT_PAGE_SIZE),
            restarted: false,
            delta_link: None,
            _t: PhantomData,
        })
    }

    /// The first request of a round: `$select`, and `$deltatoken=latest` when `latest`.
    fn delta_url(&self, path: &str, select: &str, latest: bool) -> Result<Url, GraphError> {
        let mut url = self.url(path)?;
        {
            let mut pairs = url.query_pairs_mut();
            if latest {
                pairs.append_pair("$deltatoken", "latest");
            }
            if !select.is_empty() {
                pairs.append_pair("$select", select);
            }
        }
        Ok(url)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn api(status: u16, code: &str, message: &str) -> GraphError {
        GraphError::Api {
            operation: Operation::UsersDelta,
            status,
            code: code.into(),
            message: message.into(),
            request_id: None,
            retry_after: None,
        }
    }

    #[test]
    fn resync_answers_are_recognised() {
        assert!(needs_resync(&api(410, "resyncRequired", "Resync required")));
        assert!(needs_resync(&api(410, "Gone", "")));
        assert!(needs_resync(&api(
            400,
            "syncStateNotFound",
            "The sync state generation is not found."
        )));
        assert!(needs_resync(&api(
            400,
            "Request_BadRequest",
            "Invalid $deltatoken value: the token is malformed"
        )));
        assert!(!needs_resync(&api(
            400,
            "Request_UnsupportedQuery",
            "The query option '$top' is not supported"
        )));
        assert!(!needs_resync(&api(404, "syncStateNotFound", "")));
        assert!(!needs_resync(&api(503, "serviceNotAvailable", "token")));
        assert!(!needs_resync(&GraphError::Transport {
            operation: Operation::UsersDelta,
            detail: "reset".into()
        }));
    }

    #[test]
    fn items_are_objects_or_removals() {
        let op = Operation::UsersDelta;
        let user: DeltaItem<User> = item(
            op,
            json!({"id": "u1", "onPremisesSyncEnabled": true, "members@delta": []}),
        )
        .unwrap();
        match user {
            DeltaItem::Changed(u) => {
                assert_eq!(u.id, "u1");
                assert!(u.is_synced());
            }
            other => panic!("{other:?}"),
        }
        let soft: DeltaItem<User> =
            item(op, json!({"id": "u2", "@removed": {"reason": "changed"}})).unwrap();
        assert_eq!(
            soft,
            DeltaItem::Removed {
                id: "u2".into(),
                reason: Removal::SoftDeleted
            }
        );
        let gone: DeltaItem<Group> =
            item(op, json!({"id": "g1", "@removed": {"reason": "deleted"}})).unwrap();
        assert!(matches!(
            gone,
            DeltaItem::Removed {
                reason: Removal::Deleted,
                ..
            }
        ));
        let odd: Result<DeltaItem<User>, _> = item(op, json!({"@removed": {}}));
        assert!(matches!(odd, Err(GraphError::Decode { .. })));
        let no_id: Result<DeltaItem<User>, _> = item(op, json!({"displayName": "x"}));
        assert!(no_id.is_err());
    }
}
