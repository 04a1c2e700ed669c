//! The object store: objects by resource, namespace and name; one global resourceVersion
//! counter; a bounded log of watch events. Every write goes through [`Store::commit`], which
//! owns the rules the API server applies to every object (no-op writes change nothing,
//! finalizers hold deletion, the resourceVersion moves on every change).

use std::collections::{BTreeMap, VecDeque};

use base64::Engine;
use serde_json::{Value, json};

use super::resource::{ResKey, kind_for, meta_mut, meta_str, traits};
use super::select::Selectors;
use super::ssa::{self, ManagerEntry};

/// A stored object and who manages which of its fields.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub obj: Value,
    pub managers: Vec<ManagerEntry>,
}

/// One watch event in the log.
#[derive(Debug, Clone)]
pub(crate) struct LogEvent {
    pub rv: u64,
    pub key: ResKey,
    pub namespace: String,
    pub kind: &'static str,
    pub obj: Value,
    /// The object before a MODIFIED event, so selector watches see it enter or leave.
    pub previous: Option<Value>,
}

/// One object's address in the store; `ns` is empty for cluster-scoped objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Id {
    pub key: ResKey,
    pub ns: String,
    pub name: String,
}

/// Options common to writes.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteOpts {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub force: bool,
}

#[derive(Debug)]
pub(crate) struct Store {
    /// The last resourceVersion handed out.
    pub rv: u64,
    objects: BTreeMap<ResKey, BTreeMap<(String, String), Stored>>,
    /// Watch events, oldest first; every event with `rv > log_floor` is here.
    pub log: VecDeque<LogEvent>,
    pub log_floor: u64,
    log_capacity: usize,
    kinds: BTreeMap<ResKey, String>,
}

impl Store {
    pub fn new(log_capacity: usize) -> Self {
        Self {
            rv: 0,
            objects: BTreeMap::new(),
            log: VecDeque::new(),
            log_floor: 0,
            log_capacity: log_capacity.max(1),
            kinds: BTreeMap::new(),
        }
    }

    /// The kind of a resource: as seen in stored objects, else from the plural.
    pub fn kind_of(&self, key: &ResKey) -> String {
        self.kinds
            .get(key)
            .cloned()
            .unwrap_or_else(|| kind_for(&key.plural))
    }

    /// Every resource that has held an object.
    pub fn resources(&self) -> Vec<ResKey> {
        self.objects.keys().cloned().collect()
    }

    pub fn lookup(&self, key: &ResKey, ns: &str, name: &str) -> Option<&Stored> {
        self.objects
            .get(key)?
            .get(&(ns.to_string(), name.to_string()))
    }

    /// Objects of a resource, in one namespace or all, that match the selectors.
    pub fn list(&self, key: &ResKey, ns: Option<&str>, selectors: &Selectors) -> Vec<Value> {
        let Some(objects) = self.objects.get(key) else {
            return Vec::new();
        };
        objects
            .iter()
            .filter(|((obj_ns, _), _)| ns.is_none_or(|ns| ns == obj_ns))
            .map(|(_, stored)| &stored.obj)
            .filter(|obj| selectors.matches(obj))
            .cloned()
            .collect()
    }

    /// Objects of every resource with this plural (any group).
    pub fn by_plural(&self, plural: &str, group: Option<&str>) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|(k, _)| k.plural == plural && group.is_none_or(|g| g == k.group))
            .flat_map(|(_, objects)| objects.values().map(|s| s.obj.clone()))
            .collect()
    }

    /// The versions of a group's objects, as their `apiVersion` says.
    pub fn versions(&self, group: &str) -> std::collections::BTreeSet<String> {
        self.objects
            .iter()
            .filter(|(k, _)| k.group == group)
            .flat_map(|(_, objects)| objects.values())
            .filter_map(|s| s.obj.get("apiVersion")?.as_str())
            .map(|av| super::resource::split_api_version(av).1)
            .collect()
    }

    /// Drops the whole watch log: watches from an older resourceVersion get 410 Expired.
    pub fn expire_log(&mut self) {
        self.log.clear();
        self.log_floor = self.rv;
    }

    fn record(&mut self, key: &ResKey, ns: &str, kind: &'static str, obj: Value) {
        self.record_change(key, ns, kind, obj, None);
    }

    fn record_change(
        &mut self,
        key: &ResKey,
        ns: &str,
        kind: &'static str,
        obj: Value,
        previous: Option<Value>,
    ) {
        self.log.push_back(LogEvent {
            rv: self.rv,
            key: key.clone(),
            namespace: ns.to_string(),
            kind,
            obj,
            previous,
        });
        while self.log.len() > self.log_capacity {
            if let Some(dropped) = self.log.pop_front() {
                self.log_floor = dropped.rv;
            }
        }
    }

    /// Stores `obj` over `old` (`None`: a new object). A write that changes nothing returns the
    /// stored object untouched: no new resourceVersion, no watch event. An object that is being
    /// deleted and has no finalizers left is removed.
    pub fn commit(
        &mut self,
        id: &Id,
        old: Option<Stored>,
        mut obj: Value,
        managers: Vec<ManagerEntry>,
        dry_run: bool,
    ) -> Value {
        let (key, ns, name) = (&id.key, id.ns.as_str(), id.name.as_str());
        normalize_secret(key, &mut obj);
        if let Some(old) = &old
            && comparable(&old.obj) == comparable(&obj)
        {
            if !dry_run && let Some(stored) = self.slot(key, ns, name) {
                stored.managers = managers;
            }
            return old.obj.clone();
        }
        let finished = meta_str(&obj, "deletionTimestamp").is_some() && finalizers(&obj).is_empty();
        if let Some(meta) = meta_mut(&mut obj) {
            meta.insert("resourceVersion".into(), json!((self.rv + 1).to_string()));
            if managers.is_empty() {
                meta.remove("managedFields");
            } else {
                meta.insert("managedFields".into(), ssa::render(&managers));
            }
        }
        if dry_run {
            return obj;
        }
        self.rv += 1;
        if let Some(kind) = obj.get("kind").and_then(Value::as_str) {
            self.kinds.insert(key.clone(), kind.to_string());
        }
        let id = (ns.to_string(), name.to_string());
        if finished && old.is_some() {
            if let Some(objects) = self.objects.get_mut(key) {
                objects.remove(&id);
            }
            self.record(key, ns, "DELETED", obj.clone());
            return obj;
        }
        let event = if old.is_some() { "MODIFIED" } else { "ADDED" };
        self.objects.entry(key.clone()).or_default().insert(
            id,
            Stored {
                obj: obj.clone(),
                managers,
            },
        );
        self.record_change(key, ns, event, obj.clone(), old.map(|o| o.obj));
        obj
    }

    /// Removes an object for good (no finalizers left), logging DELETED.
    pub fn remove(&mut self, id: &Id, dry_run: bool) -> Option<Value> {
        let (key, ns, name) = (&id.key, id.ns.as_str(), id.name.as_str());
        let mut obj = self.lookup(key, ns, name)?.obj.clone();
        if let Some(meta) = meta_mut(&mut obj) {
            meta.insert("resourceVersion".into(), json!((self.rv + 1).to_string()));
        }
        if dry_run {
            return Some(obj);
        }
        self.rv += 1;
        self.objects
            .get_mut(key)?
            .remove(&(ns.to_string(), name.to_string()));
        self.record(key, ns, "DELETED", obj.clone());
        Some(obj)
    }

    fn slot(&mut self, key: &ResKey, ns: &str, name: &str) -> Option<&mut Stored> {
        self.objects
            .get_mut(key)?
            .get_mut(&(ns.to_string(), name.to_string()))
    }

    /// Seeds an object as-is (status included), filling what the server owns when missing.
    pub fn put_object(&mut self, key: &ResKey, mut obj: Value) -> Value {
        let ns = meta_str(&obj, "namespace").unwrap_or_default().to_string();
        let name = meta_str(&obj, "name").unwrap_or_default().to_string();
        assert!(!name.is_empty(), "put_object needs metadata.name");
        let old = self.lookup(key, &ns, &name).cloned();
        let old_meta = old.as_ref().and_then(|o| o.obj.get("metadata")).cloned();
        let generation = traits(&key.group, &key.plural).generation;
        if let Some(meta) = meta_mut(&mut obj) {
            for (field, fresh) in [
                ("uid", json!(super::resource::new_uid())),
                ("creationTimestamp", json!(super::resource::now_rfc3339())),
                ("generation", json!(1)),
            ] {
                if field == "generation" && !generation {
                    continue;
                }
                if !meta.contains_key(field) {
                    let kept = old_meta.as_ref().and_then(|m| m.get(field)).cloned();
                    meta.insert(field.into(), kept.unwrap_or(fresh));
                }
            }
        }
        let managers = old.as_ref().map(|o| o.managers.clone()).unwrap_or_default();
        let id = Id {
            key: key.clone(),
            ns,
            name,
        };
        self.commit(&id, old, obj, managers, false)
    }
}

/// `metadata.finalizers` as strings.
pub(crate) fn finalizers(obj: &Value) -> Vec<String> {
    obj.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The object minus what changes on every write anyway.
fn comparable(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
        meta.remove("resourceVersion");
        meta.remove("managedFields");
    }
    obj
}

/// Secrets: `stringData` is write-only and lands base64-encoded in `data`.
fn normalize_secret(key: &ResKey, obj: &mut Value) {
    if !(key.group.is_empty() && key.plural == "secrets") {
        return;
    }
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let Some(Value::Object(string_data)) = map.remove("stringData") else {
        return;
    };
    let data = map.entry("data").or_insert_with(|| json!({}));
    if let Some(data) = data.as_object_mut() {
        for (k, v) in string_data {
            let text = v.as_str().unwrap_or_default();
            let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
            data.insert(k, json!(encoded));
        }
    }
}
