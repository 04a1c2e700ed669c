//! What a server may make the client do: how much it reads, how many pages it follows, how
//! long one request may take with its retries, and what it believes of the durations it is
//! told. Graph and the token endpoint are trusted to be who they say they are (TLS), not to be
//! well-behaved: a misconfigured endpoint, a proxy or a hostile server must end in a clear
//! error within bounded time and memory, never in a panic.

use std::time::Duration;

/// Largest Graph answer read (bytes). The largest answer the operator can ask for is a
/// `$batch` of 20 list requests of 999 users with `$select`: 5.1 MB on the emulator (its
/// names are short; real ones are longer). 20 MiB leaves about four times that.
pub const MAX_GRAPH_BODY: u64 = 20 * 1024 * 1024;
/// Largest token-endpoint answer read (bytes). A token answer is a JWT of a few KiB and four
/// small fields; Entra's error answers are smaller still.
pub const MAX_TOKEN_BODY: u64 = 64 * 1024;
/// Largest error body read (bytes): Graph's error envelope is well under 1 KiB; anything
/// longer is not one, and only its size and type are reported.
pub const MAX_ERROR_BODY: u64 = 64 * 1024;
/// Objects in the largest tenant a listing is expected to return. Entra's default directory
/// quota is 50,000 objects (300,000 with a verified domain, more on request); the LDAP side
/// caps a search at the same number (`ad::client::MAX_ENTRIES`).
pub const MAX_LISTED_OBJECTS: u64 = 1_000_000;
/// Graph may fill pages short (filters, advanced queries, delta): the page cap assumes pages
/// half full on average.
const PAGE_FILL: u64 = 2;
/// Graph's page size when the request sets no `$top` (and for delta, where it cannot).
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// One request, its retries, token fetches and pacing waits included, ends within this: a
/// documented `Retry-After` (seconds to a few minutes) and a few 5xx fit; a server that keeps
/// a worker busy for longer gets an error, and the reconciler requeues.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10 * 60);
/// Shortest token lifetime believed: a shorter `expires_in` would refresh the token on
/// nearly every request.
pub const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// Longest token lifetime believed: Entra's app tokens live 1 to 24 hours; a longer
/// `expires_in` would keep a revoked token in use.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Longest Graph message or Entra description kept in an error (characters): status
/// conditions and Events need the sentence, not a server's essay.
const MAX_MESSAGE_CHARS: usize = 1024;

/// The client's bounds. [`Limits::default`] is what production uses; tests shrink them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest Graph answer read, in bytes.
    pub max_body: u64,
    /// Largest token-endpoint answer read, in bytes.
    pub max_token_body: u64,
    /// Pages one listing or delta round may take; `None`: derived from the page size
    /// ([`page_cap`]).
    pub max_pages: Option<u64>,
    /// One request with its retries ends within this.
    pub deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: MAX_GRAPH_BODY,
            max_token_body: MAX_TOKEN_BODY,
            max_pages: None,
            deadline: REQUEST_DEADLINE,
        }
    }
}

impl Limits {
    /// Pages a listing of `page_size` objects a page may take.
    pub fn pages(&self, page_size: u32) -> u64 {
        self.max_pages.unwrap_or_else(|| page_cap(page_size))
    }
}

/// Pages that list [`MAX_LISTED_OBJECTS`] objects at `page_size` a page, half full: 2,002
/// at `$top=999`, 20,000 at Graph's default of 100.
pub fn page_cap(page_size: u32) -> u64 {
    MAX_LISTED_OBJECTS * PAGE_FILL / u64::from(page_size.max(1))
}

/// Why a body was not read.
#[derive(Debug)]
pub(super) enum BodyError {
    /// Longer than the limit (announced or counted).
    TooLarge,
    /// The connection failed or timed out while reading.
    Transport(String),
}

/// The body of `resp`, read chunk by chunk up to `limit` bytes: an announced length over the
/// limit is refused before reading, an unannounced one as soon as the count passes it, so
/// memory stays bounded by the limit whatever the server sends.
pub(super) async fn read_capped(
    mut resp: reqwest::Response,
    limit: u64,
) -> Result<Vec<u8>, BodyError> {
    let announced = resp.content_length();
    if announced.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge);
    }
    // Trust an announced length only for the first allocation, and only up to 1 MiB.
    let first = announced.unwrap_or(0).min(limit).min(1 << 20);
    let mut body = Vec::with_capacity(usize::try_from(first).unwrap_or(0));
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| BodyError::Transport(describe(&e.without_url())))?
    {
        let total = u64::try_from(body.len().saturating_add(chunk.len())).unwrap_or(u64::MAX);
        if total > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The media type of a `Content-Type` header, when it looks like one (`type/subtype` of
/// token characters, parameters dropped); else `unknown type`. The header is the server's
/// text: only a well-formed, short media type is repeated.
pub(super) fn media_type(content_type: Option<&str>) -> String {
    let essence = content_type
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    match essence.split_once('/') {
        Some((t, s)) if essence.len() <= 64 && token(t) && token(s) => essence.to_ascii_lowercase(),
        _ => "unknown type".into(),
    }
}

/// What was wrong with a JSON answer, without repeating any of it: serde's messages quote
/// the offending values, which are the server's bytes (and, in a token answer, may be the
/// token). Only a missing field is named, since field names are ours.
pub(super) fn json_problem(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let at = format!("line {}, column {}", e.line(), e.column());
    match e.classify() {
        Category::Syntax => format!("malformed JSON at {at}"),
        Category::Eof => format!("JSON cut short at {at}"),
        Category::Io => "unreadable JSON".into(),
        Category::Data => {
            let message = e.to_string();
            match message.split(" at line").next() {
                Some(m) if m.starts_with("missing field `") => format!("{m} at {at}"),
                _ => format!("a value of an unexpected type or range at {at}"),
            }
        }
    }
}

/// `text` cut to [`MAX_MESSAGE_CHARS`] characters, marked when cut.
pub(super) fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// A token lifetime from `expires_in`: seconds as a number or a numeric string (Entra's v1
/// endpoint sends strings), clamped to [`MIN_TOKEN_LIFETIME`]..=[`MAX_TOKEN_LIFETIME`]; a
/// missing value is Entra's usual hour. Anything else is an error naming only its kind.
pub(super) fn token_lifetime(expires_in: Option<&serde_json::Value>) -> Result<Duration, String> {
    use serde_json::Value;
    let seconds = match expires_in {
        None | Some(Value::Null) => return Ok(Duration::from_secs(3599)),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    match seconds {
        Some(s) if s.is_finite() => {
            let s = s.clamp(
                MIN_TOKEN_LIFETIME.as_secs_f64(),
                MAX_TOKEN_LIFETIME.as_secs_f64(),
            );
            Ok(Duration::from_secs_f64(s))
        }
        _ => Err("expires_in is not a number of seconds".into()),
    }
}

/// reqwest's message, with the cause chain (connection refused, reset, timeout) that its
/// top-level Display leaves out.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn page_caps_follow_the_page_size() {
        assert_eq!(page_cap(999), 2_002);
        assert_eq!(page_cap(DEFAULT_PAGE_SIZE), 20_000);
        assert_eq!(page_cap(0), 2_000_000);
        let l = Limits {
            max_pages: Some(3),
            ..Limits::default()
        };
        assert_eq!(l.pages(999), 3);
        assert_eq!(Limits::default().pages(999), 2_002);
    }

    #[test]
    fn lifetimes_are_clamped_and_garbage_is_refused() {
        let l = |v: serde_json::Value| token_lifetime(Some(&v));
        assert_eq!(l(json!(3599)), Ok(Duration::from_secs(3599)));
        assert_eq!(l(json!("3599")), Ok(Duration::from_secs(3599)));
        assert_eq!(l(json!(18446744073709551615u64)), Ok(MAX_TOKEN_LIFETIME));
        assert_eq!(l(json!(1e300)), Ok(MAX_TOKEN_LIFETIME));
        assert_eq!(l(json!(-5)), Ok(MIN_TOKEN_LIFETIME));
        assert_eq!(l(json!(0)), Ok(MIN_TOKEN_LIFETIME));
        assert!(l(json!("soon")).is_err());
        assert!(l(json!("NaN")).is_err());
        assert!(l(json!("inf")).is_err());
        assert!(l(json!({"s": 1})).is_err());
        assert_eq!(token_lifetime(None), Ok(Duration::from_secs(3599)));
    }

    #[test]
    fn media_types_are_repeated_only_when_well_formed() {
        assert_eq!(media_type(Some("text/HTML; charset=utf-8")), "text/html");
        assert_eq!(media_type(Some("application/json")), "application/json");
        assert_eq!(media_type(None), "unknown type");
        assert_eq!(media_type(Some("secret token=abc")), "unknown type");
        assert_eq!(media_type(Some("a/b c")), "unknown type");
        assert_eq!(
            media_type(Some(&format!("a/{}", "b".repeat(80)))),
            "unknown type"
        );
    }

    #[test]
    fn json_problems_never_quote_the_body() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            id: u64,
        }
        let secret = "S3cr3t-value";
        for body in [
            format!("{{\"id\": \"{secret}\"}}"),
            format!("{{\"id\": 1, \"{secret}"),
            format!("<html>{secret}</html>"),
        ] {
            let e = serde_json::from_str::<T>(&body).unwrap_err();
            let p = json_problem(&e);
            assert!(!p.contains(secret) && !p.contains("html"), "{p}");
        }
        let e = serde_json::from_str::<T>("{}").unwrap_err();
        assert!(json_problem(&e).starts_with("missing field `id`"));
    }

    #[test]
    fn long_messages_are_cut() {
        assert_eq!(bounded("short"), "short");
        let long = "é".repeat(5000);
        let b = bounded(&long);
        assert_eq!(b.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(b.ends_with('…'));
    }
}
