//! DELETE: objects with finalizers only get a deletionTimestamp (and, like the API server,
//! a new generation); the rest go at once. Collections are deleted one object at a time.

use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::resource::{ResourcePath, meta_mut, meta_str, now_rfc3339, traits};
use super::select::Selectors;
use super::store::{Store, WriteOpts, finalizers};
use super::write::id_of;

impl Store {
    /// DELETE of one object: with finalizers it only gets a deletionTimestamp.
    pub fn delete(
        &mut self,
        rp: &ResourcePath,
        name: &str,
        options: Option<&Value>,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        if rp.subresource.is_some() {
            return Err(ApiError::new(
                405,
                "the server does not allow this method on the requested resource",
            ));
        }
        let id = id_of(rp, name);
        let old = self.existing(rp, &id)?;
        let preconditions = options.and_then(|o| o.get("preconditions"));
        for field in ["uid", "resourceVersion"] {
            let wanted = preconditions
                .and_then(|p| p.get(field))
                .and_then(Value::as_str);
            let actual = meta_str(&old.obj, field).unwrap_or_default();
            if let Some(wanted) = wanted
                && wanted != actual
            {
                let mut err = ApiError::conflict(&rp.group, &rp.plural, name);
                err.message = format!(
                    "Precondition failed: {field} in precondition: {wanted}, {field} in object meta: {actual}"
                );
                return Err(err);
            }
        }
        let t = traits(&rp.group, &rp.plural);
        if !finalizers(&old.obj).is_empty() {
            if meta_str(&old.obj, "deletionTimestamp").is_some() {
                return Ok(old.obj);
            }
            let mut obj = old.obj.clone();
            if let Some(meta) = meta_mut(&mut obj) {
                meta.insert("deletionTimestamp".into(), json!(now_rfc3339()));
                meta.insert("deletionGracePeriodSeconds".into(), json!(0));
                // Like the API server's markAsDeleting: a set generation moves on.
                let generation = meta.get("generation").and_then(Value::as_i64).unwrap_or(0);
                if generation > 0 {
                    meta.insert("generation".into(), json!(generation.saturating_add(1)));
                }
            }
            let managers = old.managers.clone();
            return Ok(self.commit(&id, Some(old), obj, managers, opts.dry_run));
        }
        let obj = self
            .remove(&id, opts.dry_run)
            .ok_or_else(|| ApiError::not_found(&rp.group, &rp.plural, name))?;
        if t.custom {
            return Ok(obj);
        }
        let uid = meta_str(&obj, "uid").unwrap_or_default();
        Ok(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": name, "group": rp.group, "kind": rp.plural, "uid": uid},
        }))
    }

    /// DELETE on a collection: every matching object goes through [`Store::delete`].
    pub fn delete_collection(
        &mut self,
        rp: &ResourcePath,
        selectors: &Selectors,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        let key = rp.key();
        let items: Vec<Value> = self
            .list(&key, rp.namespace.as_deref(), selectors)
            .iter()
            .filter_map(|obj| {
                let mut one = rp.clone();
                one.namespace = meta_str(obj, "namespace").map(str::to_string);
                let name = meta_str(obj, "name")?.to_string();
                self.delete(&one, &name, None, opts).ok()
            })
            .collect();
        Ok(json!({
            "apiVersion": rp.api_version(),
            "kind": format!("{}List", self.kind_of(&key)),
            "metadata": {"resourceVersion": self.rv.to_string()},
            "items": items,
        }))
    }
}
