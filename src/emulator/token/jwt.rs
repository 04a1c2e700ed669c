//! Just enough JWS compact serialisation to check a client assertion: decode the header and
//! claims, keep the signing input and the signature. Verification lives in `assertion.rs`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// A decoded (not yet verified) JWT.
#[derive(Debug, Clone)]
pub struct Jwt {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

fn decode_part(part: &str) -> Option<Vec<u8>> {
    // Tolerate padding, which some encoders add.
    URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()
}

fn decode_object(part: &str) -> Option<Map<String, Value>> {
    match serde_json::from_slice(&decode_part(part)?).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

impl Jwt {
    /// Splits and decodes `header.claims.signature`; `None` if it is not a JWS.
    pub fn parse(token: &str) -> Option<Jwt> {
        let mut parts = token.trim().split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || s.is_empty() {
            return None;
        }
        Some(Jwt {
            header: decode_object(h)?,
            claims: decode_object(c)?,
            signing_input: format!("{h}.{c}"),
            signature: decode_part(s)?,
        })
    }

    /// A string header parameter.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    /// A non-empty string claim.
    pub fn claim(&self, name: &str) -> Option<&str> {
        self.claims
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// A NumericDate claim (seconds since the epoch), if present and a number.
    pub fn time(&self, name: &str) -> Option<i64> {
        let v = self.claims.get(name)?;
        // Truncation is what Entra does with fractional seconds; out-of-range floats saturate.
        v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
    }

    /// `aud` as a list (a string or an array of strings).
    pub fn audiences(&self) -> Vec<String> {
        match self.claims.get("aud") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The bytes the signature covers.
    pub fn signing_input(&self) -> &[u8] {
        self.signing_input.as_bytes()
    }

    /// The decoded signature.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
}

/// Seconds since the epoch, as Entra prints times in 700024 (`2023-12-11T23:52:19.0000000Z`).
pub fn entra_time(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S.0000000Z").to_string())
        .unwrap_or_else(|_| "0001-01-01T00:00:00.0000000Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn parses_the_three_parts_and_nothing_else() {
        let token = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"RS256"}"#),
            b64(r#"{"aud":["a","b"],"exp":1.9,"iss":"x","sub":""}"#)
        );
        let Some(jwt) = Jwt::parse(&token) else {
            panic!("a JWS parses");
        };
        assert_eq!(jwt.header("alg"), Some("RS256"));
        assert_eq!(jwt.audiences(), vec!["a", "b"]);
        assert_eq!(jwt.time("exp"), Some(1));
        assert_eq!(jwt.claim("iss"), Some("x"));
        assert_eq!(jwt.claim("sub"), None);
        assert_eq!(jwt.signature(), b"sig");
        assert!(
            jwt.signing_input()
                .ends_with(b64(r#"{"aud":["a","b"],"exp":1.9,"iss":"x","sub":""}"#).as_bytes())
        );
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "eyJ.x.y",
            &format!("{}.{}.", b64("{}"), b64("{}")),
        ] {
            assert!(Jwt::parse(bad).is_none(), "{bad}");
        }
        assert!(Jwt::parse(&format!("{}.{}.c2ln", b64("[]"), b64("{}"))).is_none());
    }

    #[test]
    fn times_print_like_entra() {
        assert_eq!(entra_time(0), "1970-01-01T00:00:00.0000000Z");
        assert_eq!(entra_time(1_702_338_739), "2023-12-11T23:52:19.0000000Z");
    }
}
