//! The write verbs: create, replace and patch (merge, JSON, strategic, apply), with the
//! API server's rules for server-owned metadata, generation, the status subresource,
//! optimistic concurrency and finalizers.

use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::patch::{json_patch, merge_patch};
use super::resource::{
    ResourcePath, Traits, meta_mut, meta_str, new_uid, now_rfc3339, random_suffix, traits,
};
use super::ssa::{self, ManagerEntry, Writer};
use super::store::{Id, Store, Stored, WriteOpts, finalizers};

/// How a PATCH body is to be read, from its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchKind {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        match content_type.split(';').next().map(str::trim) {
            Some("application/merge-patch+json") => Some(Self::Merge),
            Some("application/json-patch+json") => Some(Self::Json),
            Some("application/strategic-merge-patch+json") => Some(Self::Strategic),
            Some("application/apply-patch+yaml" | "application/apply-patch+json") => {
                Some(Self::Apply)
            }
            _ => None,
        }
    }
}

enum Ownership {
    Update(Writer),
    Applied(Vec<ManagerEntry>),
}

const SERVER_META: &[&str] = &[
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
];

pub(crate) fn id_of(rp: &ResourcePath, name: &str) -> Id {
    Id {
        key: rp.key(),
        ns: rp.namespace.clone().unwrap_or_default(),
        name: name.to_string(),
    }
}

fn writer(rp: &ResourcePath, opts: &WriteOpts) -> Writer {
    Writer {
        manager: opts
            .field_manager
            .clone()
            .unwrap_or_else(|| "unknown".into()),
        subresource: rp.subresource.clone().unwrap_or_default(),
        api_version: rp.api_version(),
        time: now_rfc3339(),
    }
}

fn expect_object(body: Option<Value>) -> ApiResult<Value> {
    match body {
        Some(v @ Value::Object(_)) => Ok(v),
        _ => Err(ApiError::bad_request(
            "the request body must be a JSON object",
        )),
    }
}

/// Kubernetes object names: DNS subdomains.
fn check_name(name: &str) -> ApiResult<()> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if name.len() <= 253
        && name.chars().all(ok_char)
        && alnum(name.chars().next())
        && alnum(name.chars().last())
    {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of \
             lower case alphanumeric characters, '-' or '.', and must start and end with an \
             alphanumeric character"
        )))
    }
}

/// What a ConfigMap or a Secret may hold: 1 MiB of data in all (Kubernetes' `MaxSecretSize`,
/// which ConfigMaps share: "The data stored in a ConfigMap cannot exceed 1 MiB",
/// kubernetes.io/docs/concepts/configuration/configmap). Counted a little harsher than the
/// API server: keys with their values, base64 values by their decoded size.
pub(crate) const MAX_DATA_BYTES: usize = 1024 * 1024;

/// Refuses a ConfigMap or Secret over [`MAX_DATA_BYTES`] as the API server does (422 Invalid).
fn check_size(rp: &ResourcePath, name: &str, obj: &Value) -> ApiResult<()> {
    if !rp.group.is_empty() || rp.subresource.is_some() {
        return Ok(());
    }
    let (kind, plain, encoded, field) = match rp.plural.as_str() {
        "configmaps" => ("ConfigMap", "data", "binaryData", "[]"),
        "secrets" => ("Secret", "stringData", "data", "data"),
        _ => return Ok(()),
    };
    let sum = |f: &str, size: fn(&str) -> usize| {
        obj.get(f).and_then(Value::as_object).map_or(0, |m| {
            m.iter()
                .map(|(k, v)| k.len() + v.as_str().map_or(0, size))
                .sum()
        })
    };
    let total = sum(plain, str::len) + sum(encoded, |v| v.len() / 4 * 3);
    if total > MAX_DATA_BYTES {
        return Err(ApiError::invalid(format!(
            "{kind} \"{name}\" is invalid: {field}: Too long: must have at most {MAX_DATA_BYTES} bytes"
        )));
    }
    Ok(())
}

fn check_url_name(body: &Value, url_name: &str) -> ApiResult<()> {
    match meta_str(body, "name") {
        Some(name) if !name.is_empty() && name != url_name => Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({url_name})"
        ))),
        _ => Ok(()),
    }
}

/// What an endpoint may change: `/status` only the status; the main resource everything but
/// the status when there is a status subresource.
fn restrict(old: &Value, candidate: Value, rp: &ResourcePath, t: Traits) -> Value {
    let (mut obj, from) = match rp.subresource.as_deref() {
        Some(_) => (old.clone(), candidate),
        None if t.status => (candidate, old.clone()),
        None => return candidate,
    };
    if let Some(map) = obj.as_object_mut() {
        match from.get("status") {
            Some(status) => map.insert("status".into(), status.clone()),
            None => map.remove("status"),
        };
    }
    obj
}

/// Everything but metadata and status: what `metadata.generation` counts.
fn generation_basis(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(map) = obj.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    obj
}

impl Store {
    pub(crate) fn existing(&self, rp: &ResourcePath, id: &Id) -> ApiResult<Stored> {
        self.lookup(&id.key, &id.ns, &id.name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rp.group, &rp.plural, &id.name))
    }

    /// POST to a collection.
    pub fn create(
        &mut self,
        rp: &ResourcePath,
        body: Option<Value>,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        let mut obj = expect_object(body)?;
        let t = traits(&rp.group, &rp.plural);
        let ns = match (rp.namespace.as_deref(), meta_str(&obj, "namespace")) {
            (Some(url), Some(body)) if !body.is_empty() && body != url => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            (Some(url), _) => url.to_string(),
            (None, body) => body.unwrap_or_default().to_string(),
        };
        let name = match (meta_str(&obj, "name"), meta_str(&obj, "generateName")) {
            (Some(name), _) if !name.is_empty() => name.to_string(),
            (_, Some(prefix)) if !prefix.is_empty() => loop {
                let name = format!("{prefix}{}", random_suffix());
                if self.lookup(&rp.key(), &ns, &name).is_none() {
                    break name;
                }
            },
            _ => {
                return Err(ApiError::invalid(
                    "metadata.name: Required value: name or generateName is required",
                ));
            }
        };
        check_name(&name)?;
        let id = Id {
            key: rp.key(),
            ns,
            name,
        };
        if self.lookup(&id.key, &id.ns, &id.name).is_some() {
            return Err(ApiError::already_exists(&rp.group, &rp.plural, &id.name));
        }
        if t.status
            && let Some(map) = obj.as_object_mut()
        {
            map.remove("status");
        }
        self.fill_new(rp, &id, &mut obj, t);
        check_size(rp, &id.name, &obj)?;
        let mut managers = Vec::new();
        ssa::record_update(&mut managers, &json!({}), &obj, &writer(rp, opts));
        Ok(self.commit(&id, None, obj, managers, opts.dry_run))
    }

    /// Type, identity and server metadata of a new object.
    fn fill_new(&self, rp: &ResourcePath, id: &Id, obj: &mut Value, t: Traits) {
        let kind = obj
            .get("kind")
            .and_then(Value::as_str)
            .map_or_else(|| self.kind_of(&id.key), str::to_string);
        if let Some(map) = obj.as_object_mut() {
            map.insert("apiVersion".into(), json!(rp.api_version()));
            map.insert("kind".into(), json!(kind));
        }
        if let Some(meta) = meta_mut(obj) {
            for f in SERVER_META
                .iter()
                .chain(&["resourceVersion", "managedFields", "selfLink"])
            {
                meta.remove(*f);
            }
            meta.insert("name".into(), json!(id.name));
            if !id.ns.is_empty() {
                meta.insert("namespace".into(), json!(id.ns));
            }
            meta.insert("uid".into(), json!(new_uid()));
            meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
            if t.generation {
                meta.insert("generation".into(), json!(1));
            }
        }
    }

    /// PUT on an object or its status.
    pub fn replace(
        &mut self,
        rp: &ResourcePath,
        name: &str,
        body: Option<Value>,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        let id = id_of(rp, name);
        let old = self.existing(rp, &id)?;
        let body = expect_object(body)?;
        check_url_name(&body, name)?;
        match meta_str(&body, "resourceVersion").filter(|rv| !rv.is_empty()) {
            Some(rv) if Some(rv) != meta_str(&old.obj, "resourceVersion") => {
                return Err(ApiError::conflict(&rp.group, &rp.plural, name));
            }
            None if traits(&rp.group, &rp.plural).custom => {
                return Err(ApiError::invalid(
                    "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
                ));
            }
            _ => {}
        }
        self.update(
            rp,
            &id,
            old,
            body,
            Ownership::Update(writer(rp, opts)),
            opts,
        )
    }

    /// PATCH on an object or its status.
    pub fn patch(
        &mut self,
        rp: &ResourcePath,
        name: &str,
        kind: PatchKind,
        body: Option<Value>,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        let t = traits(&rp.group, &rp.plural);
        if kind == PatchKind::Apply {
            return self.apply(rp, name, expect_object(body)?, opts);
        }
        if kind == PatchKind::Strategic && t.custom {
            return Err(ApiError::new(
                415,
                "the body of the request was in an unknown format - accepted media types include: \
                 application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            ));
        }
        let id = id_of(rp, name);
        let old = self.existing(rp, &id)?;
        let body = body.ok_or_else(|| ApiError::bad_request("a patch needs a body"))?;
        let candidate = if kind == PatchKind::Json {
            json_patch(&old.obj, &body)?
        } else {
            let mut candidate = old.obj.clone();
            merge_patch(&mut candidate, &body);
            candidate
        };
        let candidate = expect_object(Some(candidate))?;
        // A resourceVersion in the patch is a precondition.
        let wanted = meta_str(&candidate, "resourceVersion");
        if wanted.is_some() && wanted != meta_str(&old.obj, "resourceVersion") {
            return Err(ApiError::conflict(&rp.group, &rp.plural, name));
        }
        self.update(
            rp,
            &id,
            old,
            candidate,
            Ownership::Update(writer(rp, opts)),
            opts,
        )
    }

    /// Server-side apply: creates the object when absent (main resource only).
    fn apply(
        &mut self,
        rp: &ResourcePath,
        name: &str,
        body: Value,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        if opts.field_manager.as_deref().unwrap_or_default().is_empty() {
            return Err(ApiError::bad_request(
                "PATCH requests with apply content type require fieldManager",
            ));
        }
        let typed = |f: &str| {
            body.get(f)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        };
        if !typed("apiVersion") || !typed("kind") {
            return Err(ApiError::bad_request(
                "invalid object type: apply requires apiVersion and kind",
            ));
        }
        check_url_name(&body, name)?;
        let t = traits(&rp.group, &rp.plural);
        let id = id_of(rp, name);
        let applied = restrict(&json!({}), body.clone(), rp, t);
        let writer = writer(rp, opts);
        let Some(old) = self.lookup(&id.key, &id.ns, &id.name).cloned() else {
            if rp.subresource.is_some() {
                return Err(ApiError::not_found(&rp.group, &rp.plural, name));
            }
            check_name(name)?;
            let (mut obj, managers) = ssa::apply(&json!({}), &[], &applied, &writer, true)?;
            if let (Some(map), Some(kind)) = (obj.as_object_mut(), body.get("kind")) {
                map.insert("kind".into(), kind.clone());
            }
            self.fill_new(rp, &id, &mut obj, t);
            check_size(rp, &id.name, &obj)?;
            return Ok(self.commit(&id, None, obj, managers, opts.dry_run));
        };
        match meta_str(&body, "resourceVersion") {
            Some(rv) if !rv.is_empty() && Some(rv) != meta_str(&old.obj, "resourceVersion") => {
                return Err(ApiError::conflict(&rp.group, &rp.plural, name));
            }
            _ => {}
        }
        let (obj, managers) = ssa::apply(&old.obj, &old.managers, &applied, &writer, opts.force)?;
        self.update(rp, &id, old, obj, Ownership::Applied(managers), opts)
    }

    /// The common tail of replace and patch.
    fn update(
        &mut self,
        rp: &ResourcePath,
        id: &Id,
        old: Stored,
        candidate: Value,
        ownership: Ownership,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        let t = traits(&rp.group, &rp.plural);
        let mut obj = restrict(&old.obj, candidate, rp, t);
        let old_meta = old
            .obj
            .get("metadata")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let old_type = |f: &str| old.obj.get(f).cloned();
        if let Some(map) = obj.as_object_mut() {
            map.insert("apiVersion".into(), json!(rp.api_version()));
            if !map.get("kind").is_some_and(Value::is_string)
                && let Some(kind) = old_type("kind")
            {
                map.insert("kind".into(), kind);
            }
        }
        if let Some(meta) = meta_mut(&mut obj) {
            for f in SERVER_META.iter().chain(&["name", "namespace"]) {
                match old_meta.get(*f) {
                    Some(v) => meta.insert((*f).to_string(), v.clone()),
                    None => meta.remove(*f),
                };
            }
            meta.remove("managedFields");
            meta.remove("selfLink");
        }
        if meta_str(&old.obj, "deletionTimestamp").is_some() {
            let before = finalizers(&old.obj);
            let added: Vec<String> = finalizers(&obj)
                .into_iter()
                .filter(|f| !before.contains(f))
                .collect();
            if !added.is_empty() {
                return Err(ApiError::invalid(format!(
                    "metadata.finalizers: Forbidden: no new finalizers can be added if the object \
                     is being deleted, found new finalizers {added:?}"
                )));
            }
        }
        if t.generation && generation_basis(&old.obj) != generation_basis(&obj) {
            let next = old_meta
                .get("generation")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .saturating_add(1);
            if let Some(meta) = meta_mut(&mut obj) {
                meta.insert("generation".into(), json!(next));
            }
        }
        check_size(rp, &id.name, &obj)?;
        let managers = match ownership {
            Ownership::Update(writer) => {
                let mut managers = old.managers.clone();
                ssa::record_update(&mut managers, &old.obj, &obj, &writer);
                managers
            }
            Ownership::Applied(managers) => managers,
        };
        Ok(self.commit(id, Some(old), obj, managers, opts.dry_run))
    }
}
