//! One page of a delta round: a full round pages through the live objects by id; a round of
//! changes pages through the change log by sequence (what changed after the page's position,
//! so an object changed again mid-round may come twice, as Graph allows).
//!
//! Rendering (graph-api.md §6): a full round and an object that (re)appeared since the token
//! return every selected property that is set; otherwise, by default, changed properties
//! (null ones included) and the unchanged ones that are set; with `Prefer: return=minimal`,
//! only the changed ones (`Preference-Applied: return=minimal` answers). Groups add
//! `members@delta`: every member first, then the members added and removed
//! (`"@removed":{"reason":"deleted"}`). Removed objects come as
//! `{"id","@removed":{"reason":"changed"|"deleted"}}`.

use std::ops::Bound;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::{
    DeltaQuery, PAGE_SIZE, Pos, Start, State, invalid_token, lifetime_secs, resource, segment,
};
use crate::emulator::odata;
use crate::emulator::routes::query::encode;
use crate::emulator::routes::{GraphError, Reply, Request};
use crate::emulator::state::{MEMBERS, MemberChanges, ObjectKind, Tenant, Version};

/// Answers one page of a delta request.
pub fn page(tenant: &Tenant, q: &DeltaQuery, req: &Request<'_>) -> Result<Reply, GraphError> {
    let log = &tenant.changes;
    let now = req.now.as_second();
    let state = match &q.start {
        Start::Fresh => return Ok(full_round(tenant, q, req, log.seq(), now, None)),
        Start::Latest => {
            let link = delta_link(q, req, log.epoch(), log.seq(), now);
            return Ok(body(q, req, ("@odata.deltaLink", link), Vec::new()));
        }
        Start::Resume(state) => state,
    };
    let stale = state.taken().is_none_or(|t| t < log.resync_from());
    if state.epoch != log.epoch() || stale {
        return Err(gone(q, req));
    }
    if now.saturating_sub(state.at) > lifetime_secs() {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "syncStateNotFound",
            "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
        ));
    }
    let invalid = || invalid_token("$skiptoken");
    match (state.since, state.upto, &state.pos) {
        (None, Some(upto), Some(Pos::Id(last))) => {
            Ok(full_round(tenant, q, req, upto, state.at, Some(last)))
        }
        (Some(since), None, None) => Ok(changes(tenant, q, req, since, log.seq(), now, None)),
        (Some(since), Some(upto), Some(Pos::Seq(last))) => {
            Ok(changes(tenant, q, req, since, upto, state.at, Some(*last)))
        }
        _ => Err(invalid()),
    }
}

/// `410 Gone` with a `Location` that starts a new full round with the same query.
fn gone(q: &DeltaQuery, req: &Request<'_>) -> GraphError {
    let mut location = format!(
        "{}/{}/{}/delta?$deltatoken=",
        req.base,
        req.version.as_str(),
        segment(q.kind)
    );
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    for (name, raw) in [("select", &q.select_raw), ("filter", &q.filter_raw)] {
        if let Some(raw) = raw {
            location.push_str(&format!("&${name}={}", encode(raw)));
        }
    }
    let mut e = GraphError::new(
        StatusCode::GONE,
        "resyncRequired",
        "Resync required: replace any local copy of the collection with the result of a full synchronization from the Location URL.",
    );
    e.headers.push(("location", location));
    e
}

fn link(q: &DeltaQuery, req: &Request<'_>, param: &str, state: &State) -> String {
    format!(
        "{}/{}/{}/delta?${param}={}",
        req.base,
        req.version.as_str(),
        segment(q.kind),
        encode(state, req.token_key)
    )
}

fn state(q: &DeltaQuery, epoch: u64, at: i64) -> State {
    State {
        scope: segment(q.kind).to_string(),
        epoch,
        select: q.select_raw.clone(),
        filter: q.filter_raw.clone(),
        since: None,
        upto: None,
        at,
        pos: None,
    }
}

/// The deltaLink of a round that began at sequence `from`, at `at`.
fn delta_link(q: &DeltaQuery, req: &Request<'_>, epoch: u64, from: u64, at: i64) -> String {
    let s = State {
        since: Some(from),
        ..state(q, epoch, at)
    };
    link(q, req, "deltatoken", &s)
}

fn body(q: &DeltaQuery, req: &Request<'_>, link: (&str, String), value: Vec<Value>) -> Reply {
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(req.context(segment(q.kind))),
    );
    body.insert(link.0.into(), Value::String(link.1));
    body.insert("value".into(), Value::Array(value));
    Reply::Json(StatusCode::OK, Value::Object(body))
}

fn is_live(tenant: &Tenant, kind: ObjectKind, id: &str) -> bool {
    match kind {
        ObjectKind::User => tenant.users.contains_key(id),
        ObjectKind::Group => tenant.groups.contains_key(id),
    }
}

/// A page of a full round: live objects after `after` (by id).
fn full_round(
    tenant: &Tenant,
    q: &DeltaQuery,
    req: &Request<'_>,
    upto: u64,
    at: i64,
    after: Option<&str>,
) -> Reply {
    let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
    let ids: Box<dyn Iterator<Item = &str>> = match (&q.ids, q.kind) {
        (Some(ids), _) => Box::new(
            ids.iter()
                .map(String::as_str)
                .filter(move |id| after.is_none_or(|a| *id > a)),
        ),
        (None, ObjectKind::User) => Box::new(
            tenant
                .users
                .range::<str, _>((lower, Bound::Unbounded))
                .map(|(id, _)| id.as_str()),
        ),
        (None, ObjectKind::Group) => Box::new(
            tenant
                .groups
                .range::<str, _>((lower, Bound::Unbounded))
                .map(|(id, _)| id.as_str()),
        ),
    };
    let mut value = Vec::new();
    let mut last = None;
    let mut more = false;
    for id in ids.filter(|id| is_live(tenant, q.kind, id)) {
        if value.len() == PAGE_SIZE {
            more = true;
            break;
        }
        value.extend(render(tenant, q, id, None));
        last = Some(id);
    }
    let epoch = tenant.changes.epoch();
    let next = match (more, last) {
        (true, Some(last)) => {
            let s = State {
                upto: Some(upto),
                pos: Some(Pos::Id(last.to_string())),
                ..state(q, epoch, at)
            };
            ("@odata.nextLink", link(q, req, "skiptoken", &s))
        }
        _ => ("@odata.deltaLink", delta_link(q, req, epoch, upto, at)),
    };
    body(q, req, next, value)
}

/// Whether a recorded change after `since` is news for this query.
fn relevant(q: &DeltaQuery, v: &Version, since: u64) -> bool {
    match &q.select {
        None => v.any_changed_after(since),
        Some(props) => {
            props.iter().any(|p| v.changed_after(p, since))
                || (q.members && v.changed_after(MEMBERS, since))
        }
    }
}

/// The item for an object whose last change is after `since`, if the query reports it.
fn changed_item(
    tenant: &Tenant,
    q: &DeltaQuery,
    id: &str,
    v: &Version,
    since: u64,
) -> Option<Value> {
    if let Some(removal) = v.removed() {
        return Some(json!({ "id": id, "@removed": { "reason": removal.reason() } }));
    }
    if !relevant(q, v, since) {
        return None;
    }
    render(tenant, q, id, Some((since, v)))
}

/// A page of a round of changes after `since` (the round began at `upto`), after the change
/// sequence `after`.
#[allow(clippy::too_many_arguments)]
fn changes(
    tenant: &Tenant,
    q: &DeltaQuery,
    req: &Request<'_>,
    since: u64,
    upto: u64,
    at: i64,
    after: Option<u64>,
) -> Reply {
    let log = &tenant.changes;
    let mut value = Vec::new();
    let mut last = None;
    let mut more = false;
    if let Some(ids) = &q.ids {
        // At most 50 ids: one page.
        for id in ids {
            let v = log.version(q.kind, id).filter(|v| v.last() > since);
            value.extend(v.and_then(|v| changed_item(tenant, q, id, v, since)));
        }
    } else {
        for (seq, id, v) in log.touched_after(q.kind, after.unwrap_or(since).max(since)) {
            let Some(item) = changed_item(tenant, q, id, v, since) else {
                continue;
            };
            if value.len() == PAGE_SIZE {
                more = true;
                break;
            }
            value.push(item);
            last = Some(seq);
        }
    }
    let epoch = log.epoch();
    let next = match (more, last) {
        (true, Some(last)) => {
            let s = State {
                since: Some(since),
                upto: Some(upto),
                pos: Some(Pos::Seq(last)),
                ..state(q, epoch, at)
            };
            ("@odata.nextLink", link(q, req, "skiptoken", &s))
        }
        _ => ("@odata.deltaLink", delta_link(q, req, epoch, upto, at)),
    };
    let reply = body(q, req, next, value);
    if q.minimal {
        Reply::WithHeaders(
            Box::new(reply),
            vec![("preference-applied", "return=minimal".to_string())],
        )
    } else {
        reply
    }
}

/// A live object as the query returns it; `changed` is the round's `since` and the object's
/// version (`None` in a full round).
fn render(
    tenant: &Tenant,
    q: &DeltaQuery,
    id: &str,
    changed: Option<(u64, &Version)>,
) -> Option<Value> {
    let (obj, members) = match q.kind {
        ObjectKind::User => (tenant.users.get(id)?.to_json(), None),
        ObjectKind::Group => {
            let g = tenant.groups.get(id)?;
            (g.to_json(), Some(g.members.as_slice()))
        }
    };
    // Since when the client knows the object (`None`: it does not).
    let known = changed.filter(|(since, v)| !v.appeared_after(*since));
    let mut out = Map::new();
    out.insert("id".into(), Value::String(id.to_string()));
    let defaults = odata::default_properties(resource(q.kind));
    let props: Vec<&str> = match &q.select {
        Some(props) => props.iter().map(String::as_str).collect(),
        None => defaults.to_vec(),
    };
    for p in props.into_iter().filter(|p| *p != "id") {
        let value = obj.get(p).cloned().unwrap_or(Value::Null);
        let include = match known {
            None => !value.is_null(),
            Some((since, v)) => {
                let news = v.changed_after(p, since);
                news || (!q.minimal && !value.is_null())
            }
        };
        if include {
            out.insert(p.to_string(), value);
        }
    }
    if let (true, Some(members)) = (q.members, members) {
        let delta = members_delta(tenant, id, members, known.map(|(since, _)| since));
        if !delta.is_empty() {
            out.insert("members@delta".into(), Value::Array(delta));
        }
    }
    Some(Value::Object(out))
}

fn member(kind: ObjectKind, id: &str, removed: bool) -> Value {
    let mut m = json!({ "@odata.type": kind.odata_type(), "id": id });
    if let (true, Some(obj)) = (removed, m.as_object_mut()) {
        obj.insert("@removed".into(), json!({ "reason": "deleted" }));
    }
    m
}

/// `members@delta`: every member, or (for a client that knows the group since `since`) the
/// members added and removed since.
fn members_delta(
    tenant: &Tenant,
    group: &str,
    members: &[String],
    since: Option<u64>,
) -> Vec<Value> {
    let all = || {
        members
            .iter()
            .map(|m| member(tenant.object_kind(m).unwrap_or(ObjectKind::User), m, false))
            .collect()
    };
    let Some(since) = since else {
        return all();
    };
    match tenant.changes.member_changes(group, since) {
        MemberChanges::All => all(),
        MemberChanges::Net(net) => net
            .into_iter()
            .map(|(m, (kind, added))| member(kind, m, !added))
            .collect(),
    }
}
