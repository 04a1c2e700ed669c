//! What each document of the manifests is to this tool: one of its kinds (checked against the
//! CRD schema), a Secret, or something around them in a rendered stream, to be skipped.

use std::collections::BTreeMap;

use base64::Engine;
use kube::CustomResourceExt;
use serde_json::Value;

use crate::api::{CloudGroupConversion, CloudUserConversion, GROUP, TenantSyncPolicy};
use crate::graph::SecretString;

/// The kinds this tool reads under [`API_VERSION`].
pub(super) const KINDS: [&str; 3] = [
    "TenantSyncPolicy",
    "CloudUserConversion",
    "CloudGroupConversion",
];

/// Whether a document is of a kind this tool leaves alone (a Namespace, a ConfigMap, a
/// Deployment: what surrounds the resources in a rendered stream), to be skipped. Strict where
/// a typo would otherwise be skipped unseen: anything in the [`GROUP`] API group, any of
/// [`KINDS`] or Secret (in any case, under any apiVersion), and a List holding any of them is
/// not foreign, and is read or refused.
pub(super) fn is_foreign(api_version: &str, kind: &str, doc: &Value) -> bool {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let ours = |api_version: &str, kind: &str| {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        group.eq_ignore_ascii_case(GROUP)
            || KINDS
                .iter()
                .chain(&["Secret"])
                .any(|k| k.eq_ignore_ascii_case(kind))
    };
    if ours(api_version, kind) {
        return false;
    }
    if group.is_empty() && kind == "List" {
        let items = doc.get("items").and_then(Value::as_array);
        let field = |item: &Value, f: &str| {
            item.get(f)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        return !items.is_some_and(|items| {
            items
                .iter()
                .any(|i| ours(&field(i, "apiVersion"), &field(i, "kind")))
        });
    }
    true
}

/// One of [`KINDS`], checked against its CRD schema, namespace defaulted to `default`.
pub(super) fn custom<K>(doc: Value, schema: &Value, kind: &str, name: &str) -> Result<K, String>
where
    K: serde::de::DeserializeOwned + kube::Resource,
{
    let problems = crate::local::schema::check(&doc, schema);
    if !problems.is_empty() {
        return Err(format!(
            "{kind} {name} is invalid:\n  {}",
            problems.join("\n  ")
        ));
    }
    let mut resource: K = serde_json::from_value(doc).map_err(|e| format!("{kind} {name}: {e}"))?;
    let meta = resource.meta_mut();
    if meta.namespace.is_none() {
        meta.namespace = Some("default".into());
    }
    meta.generation.get_or_insert(1);
    Ok(resource)
}

/// The three kinds' CRD schemas, generated once per process (generating them costs more than
/// reading a small manifest).
pub(super) struct Schemas {
    pub(super) tenant: Value,
    pub(super) user: Value,
    pub(super) group: Value,
}

pub(super) fn schemas() -> &'static Schemas {
    static SCHEMAS: std::sync::OnceLock<Schemas> = std::sync::OnceLock::new();
    SCHEMAS.get_or_init(|| Schemas {
        tenant: crd_schema::<TenantSyncPolicy>(),
        user: crd_schema::<CloudUserConversion>(),
        group: crd_schema::<CloudGroupConversion>(),
    })
}

fn crd_schema<K: CustomResourceExt>() -> Value {
    serde_json::to_value(K::crd())
        .ok()
        .and_then(|crd| {
            crd.pointer("/spec/versions/0/schema/openAPIV3Schema")
                .cloned()
        })
        .unwrap_or(Value::Null)
}

/// `data` (base64) and `stringData` of a Secret, `stringData` winning as in Kubernetes.
pub(super) fn secret_data(doc: &Value) -> Result<BTreeMap<String, SecretString>, String> {
    let mut out = BTreeMap::new();
    if let Some(data) = doc.get("data").and_then(Value::as_object) {
        for (k, v) in data {
            let encoded = v
                .as_str()
                .ok_or_else(|| format!("data.{k} must be a base64 string"))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| {
                    format!("data.{k} is not valid base64 (use stringData for plain text)")
                })?;
            let text =
                String::from_utf8(bytes).map_err(|_| format!("data.{k} is not UTF-8 text"))?;
            out.insert(k.clone(), SecretString::new(text));
        }
    }
    if let Some(data) = doc.get("stringData").and_then(Value::as_object) {
        for (k, v) in data {
            let text = v
                .as_str()
                .ok_or_else(|| format!("stringData.{k} must be a string"))?;
            out.insert(k.clone(), SecretString::new(text));
        }
    }
    Ok(out)
}
