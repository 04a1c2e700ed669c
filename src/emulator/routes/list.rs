//! Collection pages with keyset paging: a page starts right after the last id of the previous
//! one (BTreeMap range), so it costs O(page) without a filter, and writes between pages cause
//! neither gaps nor duplicates.

use std::collections::BTreeMap;
use std::ops::Bound;

use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::query::ListQuery;
use super::{Reply, Request};
use crate::emulator::model::{Group, User, into_map};
use crate::emulator::odata::{self, Filter};
use crate::emulator::state::Deleted;

/// A directory object that can be listed.
pub trait Listed {
    /// Every Graph property.
    fn to_json(&self) -> Map<String, Value>;
}

impl Listed for User {
    fn to_json(&self) -> Map<String, Value> {
        User::to_json(self)
    }
}

impl Listed for Group {
    fn to_json(&self) -> Map<String, Value> {
        Group::to_json(self)
    }
}

impl<T: Listed> Listed for Deleted<T> {
    fn to_json(&self) -> Map<String, Value> {
        self.with_deleted_time(self.object.to_json())
    }
}

/// Where a collection lives: its `@odata.context` fragment, the path of its next links, and
/// the properties returned without `$select`.
#[derive(Debug, Clone, Copy)]
pub struct Collection<'a> {
    /// `@odata.context` fragment (before the selected properties).
    pub context: &'a str,
    /// Path (after the version) of `@odata.nextLink`.
    pub link: &'a str,
    /// Default properties.
    pub defaults: &'a [&'a str],
}

/// `@odata.context` fragment for a collection, with the selected properties.
pub fn context_fragment(segment: &str, select: Option<&[String]>) -> String {
    match select {
        Some(props) => format!("{segment}({})", props.join(",")),
        None => segment.to_string(),
    }
}

/// Projects an object onto `select`, or the resource's default properties.
pub fn project(obj: &Map<String, Value>, select: Option<&[String]>, defaults: &[&str]) -> Value {
    Value::Object(match select {
        Some(props) => odata::project(obj, props),
        None => odata::project(obj, defaults),
    })
}

/// One page of a list query on `/{segment}`.
pub fn page<T: Listed>(
    items: &BTreeMap<String, T>,
    q: &ListQuery,
    req: &Request<'_>,
    segment: &str,
) -> Reply {
    let at = Collection {
        context: segment,
        link: segment,
        defaults: odata::default_properties(q.resource),
    };
    page_in(items, q, req, at)
}

/// One page of a list query on any collection.
pub fn page_in<T: Listed>(
    items: &BTreeMap<String, T>,
    q: &ListQuery,
    req: &Request<'_>,
    at: Collection<'_>,
) -> Reply {
    let lower = match &q.after {
        Some(after) => Bound::Excluded(after.as_str()),
        None => Bound::Unbounded,
    };
    let matches = |obj: &Map<String, Value>| q.filter.as_ref().is_none_or(|f| f.matches(obj));
    let defaults = at.defaults;
    let select = q.select.as_deref();
    let top = q.top();
    // A filtered count (first page only) scans everything once; otherwise stop after the
    // page and one more match (which says whether there is a next page).
    let count_all = q.wants_count() && q.filter.is_some();
    let mut matched = 0;
    let mut value = Vec::with_capacity(top.min(items.len()));
    let mut last: Option<&str> = None;
    let mut more = false;
    for (id, item) in items.range::<str, _>((lower, Bound::Unbounded)) {
        let obj = item.to_json();
        if !matches(&obj) {
            continue;
        }
        matched += 1;
        if value.len() < top {
            value.push(project(&obj, select, defaults));
            last = Some(id);
        } else {
            more = true;
            if !count_all {
                break;
            }
        }
    }
    let mut body = Map::new();
    let fragment = context_fragment(at.context, select);
    body.insert(
        "@odata.context".into(),
        Value::String(req.context(&fragment)),
    );
    if q.wants_count() {
        let total = if count_all { matched } else { items.len() };
        body.insert("@odata.count".into(), Value::from(total));
    }
    if let (true, Some(last)) = (more, last) {
        let token = q.next_token(last, req.token_key);
        let link = format!(
            "{}/{}/{}?$skiptoken={token}",
            req.base,
            req.version.as_str(),
            at.link
        );
        body.insert("@odata.nextLink".into(), Value::String(link));
    }
    body.insert("value".into(), Value::Array(value));
    Reply::Json(StatusCode::OK, Value::Object(body))
}

fn count_matching<T: Listed>(items: &BTreeMap<String, T>, filter: Option<&Filter>) -> usize {
    match filter {
        None => items.len(),
        Some(f) => items.values().filter(|i| f.matches(&i.to_json())).count(),
    }
}

/// `GET /{collection}/$count`: the number of matching objects as text.
pub fn count<T: Listed>(items: &BTreeMap<String, T>, filter: Option<&Filter>) -> Reply {
    Reply::Text(count_matching(items, filter).to_string())
}

/// A single object (`…/$entity`), projected onto `select` or `defaults`.
pub fn entity(
    obj: &Map<String, Value>,
    select: Option<&[String]>,
    defaults: &[&str],
    segment: &str,
    req: &Request<'_>,
) -> Reply {
    let mut body = into_map(project(obj, select, defaults));
    let fragment = format!("{}/$entity", context_fragment(segment, select));
    body.insert(
        "@odata.context".into(),
        Value::String(req.context(&fragment)),
    );
    Reply::Json(StatusCode::OK, Value::Object(body))
}
