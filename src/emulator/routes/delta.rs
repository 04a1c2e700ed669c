//! `GET /users/delta` and `GET /groups/delta` (graph-api.md §6): rounds of pages read from the
//! tenant's change log (`state/changes.rs`).
//!
//! - A round without a token enumerates every object in pages of [`PAGE_SIZE`]
//!   (`@odata.nextLink` with a `$skiptoken`) and ends with `@odata.deltaLink` (a
//!   `$deltatoken`); a round from a `$deltatoken` returns only what changed since, then a new
//!   deltaLink. `$deltatoken=latest` returns no objects and a deltaLink "from now"; an empty
//!   `$deltatoken` starts a full round.
//! - Tokens are sealed like the list `$skiptoken` (tamper-evident with the emulator's key).
//!   They carry the query (`$select`, `$filter`), so query options count on the first call
//!   only, the tenant's change-log epoch, the sequence their round started from and when.
//! - `$select` decides what is tracked: a change to an unselected property does not surface
//!   the object (without `$select` every property is tracked and the default set returned;
//!   groups then include `members`). `id` is always returned. `$filter` takes only
//!   `id eq '…'` clauses joined by `or` (at most [`MAX_FILTER_IDS`]); `$top` and `$count`
//!   are refused here, `$expand`, `$orderby` and `$search` by every route.
//! - Relationships: groups track `members` only (`owners`, and `manager` on users, are not
//!   properties here and are refused like any unknown `$select`).
//! - Tokens older than [`TOKEN_LIFETIME`] of emulated time (counted from the start of the
//!   round that issued them, which tombstone pruning relies on) answer `400 syncStateNotFound`;
//!   after `POST /_emulator/delta/reset` (tenant maintenance), or with the token of a reseeded
//!   tenant, a round answers `410 Gone` with a `Location` that starts over (empty
//!   `$deltatoken`, the same query).

mod page;

use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::GraphError;
use super::query::{Params, decode};
use crate::emulator::odata::{self, Resource};
use crate::emulator::state::{MEMBERS, ObjectKind, TOKEN_LIFETIME};

pub use page::page;

/// Objects per page.
pub const PAGE_SIZE: usize = 100;

/// Ids a delta `$filter` may name.
pub const MAX_FILTER_IDS: usize = 50;

/// Where a page stopped: the last id (full rounds) or the last change sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Pos {
    #[serde(rename = "i")]
    Id(String),
    #[serde(rename = "q")]
    Seq(u64),
}

/// What a `$skiptoken` or `$deltatoken` carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    /// `users` or `groups`.
    #[serde(rename = "r")]
    scope: String,
    /// The change log's epoch (a reseeded tenant has another).
    #[serde(rename = "e")]
    epoch: u64,
    #[serde(rename = "s")]
    select: Option<String>,
    #[serde(rename = "f")]
    filter: Option<String>,
    /// Changes after this sequence; `None`: a full round.
    #[serde(rename = "t")]
    since: Option<u64>,
    /// The sequence when this round began (pages); `None` in a deltatoken.
    #[serde(rename = "u")]
    upto: Option<u64>,
    /// Emulated time (Unix seconds) the token's sequence was taken.
    #[serde(rename = "a")]
    at: i64,
    /// Where the last page stopped (skiptokens only).
    #[serde(rename = "p")]
    pos: Option<Pos>,
}

impl State {
    /// The sequence this token's state was taken at.
    fn taken(&self) -> Option<u64> {
        self.upto.or(self.since)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Start {
    Fresh,
    Latest,
    Resume(Box<State>),
}

/// A parsed delta request.
#[derive(Debug, Clone)]
pub struct DeltaQuery {
    /// Users or groups.
    pub kind: ObjectKind,
    select_raw: Option<String>,
    /// Selected properties, `members` excluded (`None`: the default set, all tracked).
    select: Option<Vec<String>>,
    /// `members@delta` is returned and membership tracked.
    members: bool,
    filter_raw: Option<String>,
    /// The ids of `$filter`, sorted.
    ids: Option<Vec<String>>,
    /// `Prefer: return=minimal`.
    minimal: bool,
    start: Start,
}

/// `users` or `groups`.
pub fn segment(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::User => "users",
        ObjectKind::Group => "groups",
    }
}

fn resource(kind: ObjectKind) -> Resource {
    match kind {
        ObjectKind::User => Resource::User,
        ObjectKind::Group => Resource::Group,
    }
}

fn unsupported(message: String) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", message)
}

fn invalid_token(name: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Invalid {name} value: the token is malformed or was not issued for this request."
    ))
}

/// Opens a token of this collection; `page` says whether it must be a page's (`$skiptoken`)
/// or a round's (`$deltatoken`).
fn open(raw: &str, key: u64, kind: ObjectKind, page: bool) -> Option<State> {
    decode::<State>(raw, key).filter(|s| s.scope == segment(kind) && s.pos.is_some() == page)
}

/// `Prefer: return=minimal` among the request's preferences.
fn prefers_minimal(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("return=minimal"))
}

impl DeltaQuery {
    /// Reads a delta request on `kind`: from its token when it has one (the token's query
    /// wins), else from `$select` and `$filter`.
    pub fn parse(
        kind: ObjectKind,
        params: &Params,
        headers: &HeaderMap,
        key: u64,
    ) -> Result<Self, GraphError> {
        for name in ["top", "count"] {
            if params.get(name).is_some() {
                return Err(unsupported(format!(
                    "The query option '${name}' is not supported on delta queries of {}.",
                    segment(kind)
                )));
            }
        }
        let given = || {
            (
                params.get("select").map(str::to_string),
                params.get("filter").map(str::to_string),
            )
        };
        let resume = |state: State| {
            let query = (state.select.clone(), state.filter.clone());
            (Start::Resume(Box::new(state)), query)
        };
        let (start, (select_raw, filter_raw)) = if let Some(raw) = params.get("skiptoken") {
            let state = open(raw, key, kind, true).ok_or_else(|| invalid_token("$skiptoken"))?;
            resume(state)
        } else if let Some(raw) = params.get("deltatoken") {
            match raw.trim() {
                "" => (Start::Fresh, given()),
                t if t.eq_ignore_ascii_case("latest") => (Start::Latest, given()),
                t => {
                    let state =
                        open(t, key, kind, false).ok_or_else(|| invalid_token("$deltatoken"))?;
                    resume(state)
                }
            }
        } else {
            (Start::Fresh, given())
        };
        let (select, members) = parse_select(kind, select_raw.as_deref())?;
        let ids = filter_raw
            .as_deref()
            .map(|f| parse_id_filter(kind, f))
            .transpose()?;
        Ok(Self {
            kind,
            select_raw,
            select,
            members,
            filter_raw,
            ids,
            minimal: prefers_minimal(headers),
            start,
        })
    }

    /// `$select` was given (−1 RU).
    pub fn has_select(&self) -> bool {
        self.select_raw.is_some()
    }
}

/// `$select` of a delta query: the properties, and whether `members` (groups) is selected.
/// Without `$select`, groups return `members@delta`.
fn parse_select(
    kind: ObjectKind,
    raw: Option<&str>,
) -> Result<(Option<Vec<String>>, bool), GraphError> {
    let Some(raw) = raw else {
        return Ok((None, kind == ObjectKind::Group));
    };
    let mut members = false;
    let mut rest = Vec::new();
    for item in raw.split(',') {
        if kind == ObjectKind::Group && item.trim().eq_ignore_ascii_case(MEMBERS) {
            members = true;
        } else {
            rest.push(item);
        }
    }
    let props = if rest.is_empty() {
        Vec::new()
    } else {
        odata::parse_select(resource(kind), &rest.join(","))?
    };
    Ok((Some(props), members))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Text(String),
}

/// Words and `'…'` literals (`''` is a quote); `None` for an unterminated literal.
fn tokenize(raw: &str) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    let mut chars = raw.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut text = String::new();
            loop {
                match chars.next()? {
                    '\'' if chars.peek() == Some(&'\'') => {
                        chars.next();
                        text.push('\'');
                    }
                    '\'' => break,
                    ch => text.push(ch),
                }
            }
            out.push(Token::Text(text));
        } else {
            let mut word = String::new();
            while let Some(&ch) = chars
                .peek()
                .filter(|ch| !ch.is_whitespace() && **ch != '\'')
            {
                word.push(ch);
                chars.next();
            }
            out.push(Token::Word(word));
        }
    }
    Some(out)
}

/// The only `$filter` delta takes: `id eq '…'` clauses joined by `or`, at most 50. Returns
/// the ids, lowercase, sorted and de-duplicated.
fn parse_id_filter(kind: ObjectKind, raw: &str) -> Result<Vec<String>, GraphError> {
    let only_ids = || {
        unsupported(format!(
            "Unsupported filter on a delta query of {}: only id eq '{{id}}' clauses joined by 'or' (at most {MAX_FILTER_IDS}) are supported.",
            segment(kind)
        ))
    };
    let is_word =
        |t: Option<&Token>, w: &str| matches!(t, Some(Token::Word(x)) if x.eq_ignore_ascii_case(w));
    let tokens = tokenize(raw).ok_or_else(only_ids)?;
    let mut ids = Vec::new();
    for clause in tokens.chunks(4) {
        match clause {
            [Token::Word(p), op, Token::Text(id), rest @ ..]
                if p.eq_ignore_ascii_case("id")
                    && is_word(Some(op), "eq")
                    && (rest.is_empty() || is_word(rest.first(), "or")) =>
            {
                ids.push(id.to_ascii_lowercase());
            }
            [Token::Word(p), ..]
                if !p.eq_ignore_ascii_case("id") && p.chars().all(char::is_alphanumeric) =>
            {
                return Err(unsupported(format!(
                    "Unsupported or invalid query filter clause specified for property '{p}' of resource '{}'.",
                    resource(kind).type_name()
                )));
            }
            _ => return Err(only_ids()),
        }
    }
    if tokens.len() % 4 != 3 {
        return Err(only_ids());
    }
    if ids.len() > MAX_FILTER_IDS {
        return Err(unsupported(format!(
            "Too many ids in the filter of a delta query: at most {MAX_FILTER_IDS} objects can be tracked."
        )));
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Seconds a token stays valid.
fn lifetime_secs() -> i64 {
    i64::try_from(TOKEN_LIFETIME.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[path = "delta_tests.rs"]
mod tests;
