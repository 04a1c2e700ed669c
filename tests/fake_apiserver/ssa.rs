//! Field ownership and server-side apply, reduced to what controllers notice: an apply that
//! changes a field another manager owns is a 409 unless forced, fields a manager stops applying
//! are removed (unless someone else owns them), and every write records who changed what.
//!
//! Lists are atomic except `metadata.finalizers` (a set), `metadata.ownerReferences` (keyed by
//! `uid`) and any `conditions` list whose items all carry a `type` (keyed by `type`).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::error::{ApiError, ApiResult};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Seg {
    /// An object member.
    Field(String),
    /// An item of a keyed list: key field and its value (as a string).
    Key(String, String),
    /// A member of a set list, as its JSON text.
    Member(String),
}

pub(crate) type FieldPath = Vec<Seg>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Apply,
    Update,
}

/// One `managedFields` entry.
#[derive(Debug, Clone)]
pub(crate) struct ManagerEntry {
    pub manager: String,
    pub operation: Operation,
    pub subresource: String,
    pub api_version: String,
    pub time: String,
    pub fields: BTreeSet<FieldPath>,
}

impl ManagerEntry {
    fn is(&self, manager: &str, operation: Operation, subresource: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource == subresource
    }
}

/// Who is writing, for the ownership record.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    pub manager: String,
    pub subresource: String,
    pub api_version: String,
    pub time: String,
}

enum ListKind {
    Atomic,
    Set,
    Map(&'static str),
}

fn list_kind(path: &[Seg], items: &[Value]) -> ListKind {
    let field = |i: usize| match path.get(i) {
        Some(Seg::Field(f)) => Some(f.as_str()),
        _ => None,
    };
    if path.len() == 2 && field(0) == Some("metadata") {
        match field(1) {
            Some("finalizers") => return ListKind::Set,
            Some("ownerReferences") => return ListKind::Map("uid"),
            _ => {}
        }
    }
    let typed = items
        .iter()
        .all(|i| i.get("type").and_then(Value::as_str).is_some());
    if path.last() == Some(&Seg::Field("conditions".into())) && typed {
        return ListKind::Map("type");
    }
    ListKind::Atomic
}

fn key_value(item: &Value, key: &str) -> String {
    match item.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// Whether a set item is the member written as `text`.
fn is_member(item: &Value, text: &str) -> bool {
    let rendered = item.to_string();
    rendered == text
}

fn child(path: &[Seg], seg: Seg) -> FieldPath {
    let mut p = path.to_vec();
    p.push(seg);
    p
}

/// The object without what nobody owns: type, identity and server-set metadata.
pub(crate) fn ownable(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(map) = obj.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
        if let Some(Value::Object(meta)) = map.get_mut("metadata") {
            for f in [
                "name",
                "namespace",
                "generateName",
                "uid",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "managedFields",
                "selfLink",
            ] {
                meta.remove(f);
            }
            if meta.is_empty() {
                map.remove("metadata");
            }
        }
    }
    obj
}

/// The leaf field paths set in `v`.
pub(crate) fn leaves(v: &Value) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    collect(v, &[], &mut out);
    out
}

fn collect(v: &Value, path: &[Seg], out: &mut BTreeSet<FieldPath>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, c) in map {
                collect(c, &child(path, Seg::Field(k.clone())), out);
            }
        }
        Value::Array(items) => match list_kind(path, items) {
            ListKind::Atomic => {
                out.insert(path.to_vec());
            }
            ListKind::Set => out.extend(
                items
                    .iter()
                    .map(|i| child(path, Seg::Member(i.to_string()))),
            ),
            ListKind::Map(key) => {
                for item in items {
                    let item_path = child(path, Seg::Key(key.into(), key_value(item, key)));
                    match item.as_object() {
                        Some(m) if m.keys().any(|k| k != key) => {
                            for (k, c) in m.iter().filter(|(k, _)| *k != key) {
                                collect(c, &child(&item_path, Seg::Field(k.clone())), out);
                            }
                        }
                        _ => {
                            out.insert(item_path);
                        }
                    }
                }
            }
        },
        _ if !path.is_empty() => {
            out.insert(path.to_vec());
        }
        _ => {}
    }
}

pub(crate) fn get_at<'a>(v: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, seg| match seg {
        Seg::Field(k) => cur.as_object()?.get(k),
        Seg::Key(k, val) => cur.as_array()?.iter().find(|i| key_value(i, k) == *val),
        Seg::Member(s) => cur.as_array()?.iter().find(|i| is_member(i, s)),
    })
}

fn get_at_mut<'a>(v: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |cur, seg| match seg {
        Seg::Field(k) => cur.as_object_mut()?.get_mut(k),
        Seg::Key(k, val) => cur
            .as_array_mut()?
            .iter_mut()
            .find(|i| key_value(i, k) == *val),
        Seg::Member(s) => cur.as_array_mut()?.iter_mut().find(|i| is_member(i, s)),
    })
}

/// Removes the field at `path`, a keyed-list item left with nothing but its key, and an
/// object left empty (as structured-merge-diff does: a field whose every member an applier
/// stopped applying goes, rather than stay `{}`; what is applied is merged back after).
fn remove_at(v: &mut Value, path: &[Seg]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    match (get_at_mut(v, parent_path), last) {
        (Some(Value::Object(map)), Seg::Field(k)) => {
            map.remove(k);
            if map.is_empty() && matches!(parent_path.last(), Some(Seg::Field(_))) {
                remove_at(v, parent_path);
                return;
            }
        }
        (Some(Value::Array(items)), Seg::Key(k, val)) => items.retain(|i| key_value(i, k) != *val),
        (Some(Value::Array(items)), Seg::Member(s)) => items.retain(|i| !is_member(i, s)),
        _ => return,
    }
    if let Some(Seg::Key(key, _)) = parent_path.last() {
        let only_key = get_at(v, parent_path)
            .and_then(Value::as_object)
            .is_some_and(|m| m.keys().all(|k| k == key));
        if only_key {
            remove_at(v, parent_path);
        }
    }
}

/// Merges an applied configuration into the live object (lists per their kind, `null` removes).
fn merge_applied(dst: &mut Value, src: &Value, path: &[Seg]) {
    if let (Some(d), Some(s)) = (dst.as_object_mut(), src.as_object()) {
        for (k, sv) in s {
            if sv.is_null() {
                d.remove(k);
            } else if let Some(dv) = d.get_mut(k) {
                merge_applied(dv, sv, &child(path, Seg::Field(k.clone())));
            } else {
                d.insert(k.clone(), sv.clone());
            }
        }
        return;
    }
    if let (Some(d), Some(s)) = (dst.as_array_mut(), src.as_array()) {
        match list_kind(path, s) {
            ListKind::Atomic => {}
            ListKind::Set => {
                for item in s {
                    if !d.contains(item) {
                        d.push(item.clone());
                    }
                }
                return;
            }
            ListKind::Map(key) => {
                for item in s {
                    let kv = key_value(item, key);
                    match d.iter_mut().find(|i| key_value(i, key) == kv) {
                        Some(existing) => {
                            merge_applied(existing, item, &child(path, Seg::Key(key.into(), kv)))
                        }
                        None => d.push(item.clone()),
                    }
                }
                return;
            }
        }
    }
    *dst = src.clone();
}

fn overlaps(a: &[Seg], b: &[Seg]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

fn entry_mut<'a>(
    managers: &'a mut Vec<ManagerEntry>,
    writer: &Writer,
    operation: Operation,
) -> &'a mut ManagerEntry {
    let pos = managers
        .iter()
        .position(|e| e.is(&writer.manager, operation, &writer.subresource));
    let pos = pos.unwrap_or_else(|| {
        managers.push(ManagerEntry {
            manager: writer.manager.clone(),
            operation,
            subresource: writer.subresource.clone(),
            api_version: writer.api_version.clone(),
            time: writer.time.clone(),
            fields: BTreeSet::new(),
        });
        managers.len() - 1
    });
    &mut managers[pos]
}

/// Drops ownership of fields the object no longer has, and entries that own nothing.
fn prune(managers: &mut Vec<ManagerEntry>, obj: &Value) {
    for e in managers.iter_mut() {
        e.fields.retain(|p| get_at(obj, p).is_some());
    }
    managers.retain(|e| !e.fields.is_empty());
}

/// Records a non-apply write: the writer takes every field whose value changed.
pub(crate) fn record_update(
    managers: &mut Vec<ManagerEntry>,
    old: &Value,
    new: &Value,
    writer: &Writer,
) {
    let changed: BTreeSet<FieldPath> = leaves(&ownable(new))
        .into_iter()
        .filter(|p| get_at(old, p) != get_at(new, p))
        .collect();
    if !changed.is_empty() {
        for e in managers.iter_mut() {
            if !e.is(&writer.manager, Operation::Update, &writer.subresource) {
                e.fields.retain(|p| !changed.contains(p));
            }
        }
        let entry = entry_mut(managers, writer, Operation::Update);
        entry.fields.extend(changed);
        entry.time.clone_from(&writer.time);
    }
    prune(managers, new);
}

/// Server-side apply of `applied` (already cut to what the endpoint may change) onto `live`.
/// Returns the new object and ownership, or 409 listing the conflicts when not forced.
pub(crate) fn apply(
    live: &Value,
    managers: &[ManagerEntry],
    applied: &Value,
    writer: &Writer,
    force: bool,
) -> ApiResult<(Value, Vec<ManagerEntry>)> {
    let applied = ownable(applied);
    let fields = leaves(&applied);
    let mut managers = managers.to_vec();
    let mut conflicts: Vec<(String, FieldPath)> = Vec::new();
    for p in &fields {
        let current = get_at(live, p);
        if current.is_none() || current == get_at(&applied, p) {
            continue;
        }
        for e in managers.iter().filter(|e| e.manager != writer.manager) {
            if e.fields.iter().any(|q| overlaps(p, q)) {
                conflicts.push((e.manager.clone(), p.clone()));
            }
        }
    }
    if !conflicts.is_empty() {
        if !force {
            return Err(conflict_error(&conflicts));
        }
        for e in managers.iter_mut().filter(|e| e.manager != writer.manager) {
            e.fields
                .retain(|q| !conflicts.iter().any(|(_, p)| overlaps(p, q)));
        }
    }
    let mut obj = live.clone();
    let previous = managers
        .iter()
        .find(|e| e.is(&writer.manager, Operation::Apply, &writer.subresource))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    for dropped in previous.difference(&fields) {
        let kept = managers.iter().any(|e| {
            !e.is(&writer.manager, Operation::Apply, &writer.subresource)
                && e.fields.iter().any(|q| overlaps(dropped, q))
        });
        if !kept {
            remove_at(&mut obj, dropped);
        }
    }
    merge_applied(&mut obj, &applied, &[]);
    let entry = entry_mut(&mut managers, writer, Operation::Apply);
    entry.fields = fields;
    entry.time.clone_from(&writer.time);
    entry.api_version.clone_from(&writer.api_version);
    prune(&mut managers, &obj);
    Ok((obj, managers))
}

fn render_path(path: &[Seg]) -> String {
    path.iter()
        .map(|seg| match seg {
            Seg::Field(k) => format!(".{k}"),
            Seg::Key(k, v) => format!("[{k}=\"{v}\"]"),
            Seg::Member(s) => format!("[={s}]"),
        })
        .collect()
}

fn conflict_error(conflicts: &[(String, FieldPath)]) -> ApiError {
    let n = conflicts.len();
    let plural = if n == 1 { "conflict" } else { "conflicts" };
    let lines: Vec<String> = conflicts
        .iter()
        .map(|(m, p)| format!("conflict with \"{m}\": {}", render_path(p)))
        .collect();
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, p)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{m}\""), "field": render_path(p)}))
        .collect();
    let mut err = ApiError::new(
        409,
        format!("Apply failed with {n} {plural}: {}", lines.join("\n")),
    );
    err.details = Some(json!({ "causes": causes }));
    err
}

/// `metadata.managedFields` in the API server's FieldsV1 encoding.
pub(crate) fn render(managers: &[ManagerEntry]) -> Value {
    let entries = managers.iter().map(|e| {
        let mut tree = Map::new();
        for path in &e.fields {
            let mut cursor = &mut tree;
            for seg in path {
                let key = match seg {
                    Seg::Field(k) => format!("f:{k}"),
                    Seg::Key(k, v) => format!("k:{}", json!({ k.as_str(): v })),
                    Seg::Member(s) => format!("v:{s}"),
                };
                let next = cursor.entry(key).or_insert_with(|| json!({}));
                let Some(map) = next.as_object_mut() else {
                    break;
                };
                cursor = map;
            }
        }
        let mut entry = json!({
            "manager": e.manager,
            "operation": match e.operation { Operation::Apply => "Apply", Operation::Update => "Update" },
            "apiVersion": e.api_version,
            "time": e.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": tree,
        });
        if let (false, Some(map)) = (e.subresource.is_empty(), entry.as_object_mut()) {
            map.insert("subresource".into(), json!(e.subresource));
        }
        entry
    });
    Value::Array(entries.collect())
}
