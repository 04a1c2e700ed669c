//! JSON merge patch (RFC 7386) and JSON patch (RFC 6902) over `serde_json::Value`.

use serde_json::Value;

use super::error::{ApiError, ApiResult};

/// Applies an RFC 7386 merge patch in place: objects merge, `null` removes, the rest replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(patch_map) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    let Some(target_map) = target.as_object_mut() else {
        return;
    };
    for (key, value) in patch_map {
        if value.is_null() {
            target_map.remove(key);
        } else {
            merge_patch(target_map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Applies an RFC 6902 patch to a copy of `doc`. A failing `test` or an operation on a
/// missing path is 422 Invalid, as the API server answers; a malformed patch is 400.
pub(crate) fn json_patch(doc: &Value, ops: &Value) -> ApiResult<Value> {
    let Some(ops) = ops.as_array() else {
        return Err(ApiError::bad_request(
            "json patch must be an array of operations",
        ));
    };
    let mut doc = doc.clone();
    for op in ops {
        apply_op(&mut doc, op)?;
    }
    Ok(doc)
}

fn field<'a>(op: &'a Value, name: &str) -> ApiResult<&'a str> {
    op.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request(format!("json patch operation has no `{name}`")))
}

fn apply_op(doc: &mut Value, op: &Value) -> ApiResult<()> {
    let kind = field(op, "op")?;
    let path = parse_pointer(field(op, "path")?)?;
    let value = op.get("value").cloned().unwrap_or(Value::Null);
    match kind {
        "add" => add(doc, &path, value),
        "remove" => remove(doc, &path).map(drop),
        "replace" => {
            let slot =
                get_mut(doc, &path).ok_or_else(|| failed(kind, &path, "path does not exist"))?;
            *slot = value;
            Ok(())
        }
        "move" => {
            let from = parse_pointer(field(op, "from")?)?;
            let moved = remove(doc, &from)?;
            add(doc, &path, moved)
        }
        "copy" => {
            let from = parse_pointer(field(op, "from")?)?;
            let copied = get(doc, &from)
                .cloned()
                .ok_or_else(|| failed(kind, &from, "path does not exist"))?;
            add(doc, &path, copied)
        }
        "test" => {
            // Like the API server's json-patch library: a missing member tests equal to null.
            let actual = get(doc, &path).cloned().unwrap_or(Value::Null);
            if actual == value {
                Ok(())
            } else {
                Err(ApiError::invalid(format!(
                    "testing value {} failed: test failed",
                    render(&path)
                )))
            }
        }
        other => Err(ApiError::invalid(format!(
            "unexpected json patch operation {other:?}"
        ))),
    }
}

fn failed(kind: &str, path: &[String], why: &str) -> ApiError {
    ApiError::invalid(format!(
        "json patch {kind} operation failed at {}: {why}",
        render(path)
    ))
}

fn render(path: &[String]) -> String {
    path.iter().map(|t| format!("/{t}")).collect()
}

/// RFC 6901 pointer into its unescaped reference tokens.
pub(crate) fn parse_pointer(pointer: &str) -> ApiResult<Vec<String>> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(ApiError::bad_request(format!(
            "json pointer {pointer:?} must start with '/'"
        )));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn index(token: &str, len: usize) -> Option<usize> {
    let i: usize = token.parse().ok()?;
    (i < len).then_some(i)
}

fn get<'a>(doc: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |cur, token| match cur {
        Value::Object(map) => map.get(token),
        Value::Array(items) => items.get(index(token, items.len())?),
        _ => None,
    })
}

fn get_mut<'a>(doc: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(doc, |cur, token| match cur {
        Value::Object(map) => map.get_mut(token),
        Value::Array(items) => {
            let i = index(token, items.len())?;
            items.get_mut(i)
        }
        _ => None,
    })
}

fn add(doc: &mut Value, path: &[String], value: Value) -> ApiResult<()> {
    let Some((last, parent_path)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    let parent =
        get_mut(doc, parent_path).ok_or_else(|| failed("add", path, "parent does not exist"))?;
    match parent {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) if last == "-" => {
            items.push(value);
            Ok(())
        }
        Value::Array(items) => match last.parse::<usize>() {
            Ok(i) if i <= items.len() => {
                items.insert(i, value);
                Ok(())
            }
            _ => Err(failed("add", path, "index out of range")),
        },
        _ => Err(failed("add", path, "parent is not a container")),
    }
}

fn remove(doc: &mut Value, path: &[String]) -> ApiResult<Value> {
    let Some((last, parent_path)) = path.split_last() else {
        return Err(failed("remove", path, "cannot remove the root"));
    };
    let removed = match get_mut(doc, parent_path) {
        Some(Value::Object(map)) => map.remove(last),
        Some(Value::Array(items)) => index(last, items.len()).map(|i| items.remove(i)),
        _ => None,
    };
    removed.ok_or_else(|| failed("remove", path, "path does not exist"))
}
