//! The path of a Graph request: its version and its decoded segments.

use axum::http::StatusCode;

use crate::emulator::routes::{GraphError, Version};

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b, hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `/v1.0/users/x` into the version and the decoded segments after it.
pub fn split_path(path: &str) -> Result<(Version, Vec<String>), GraphError> {
    let mut segments = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode);
    let version = match segments.next() {
        Some(v) if v.eq_ignore_ascii_case("v1.0") => Version::V1,
        Some(v) if v.eq_ignore_ascii_case("beta") => Version::Beta,
        other => {
            let v = other.unwrap_or_default();
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("Invalid version: {v}"),
            ));
        }
    };
    Ok((version, segments.collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::routes::Version;

    #[test]
    fn splits_and_decodes_paths() {
        let (v, s) = split_path("/beta/users/%24count").unwrap_or((Version::V1, Vec::new()));
        assert_eq!(v, Version::Beta);
        assert_eq!(s, vec!["users".to_string(), "$count".to_string()]);
        assert!(split_path("/v2.0/users").is_err());
        assert!(split_path("/").is_err());
        assert_eq!(percent_decode("a%40b%2"), "a@b%2");
        assert_eq!(percent_decode("%zz%"), "%zz%");
    }
}
