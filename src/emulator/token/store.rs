//! The access tokens the emulator issued: opaque random strings, each bound to the application
//! it was issued to and its (real-time) expiry.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Why a bearer token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// Issued here, but past its lifetime.
    Expired,
    /// Not issued here.
    Unknown,
}

struct Issued {
    expiry: Instant,
    client_id: String,
}

/// Tokens issued by this emulator.
#[derive(Default)]
pub struct TokenStore {
    issued: HashMap<String, Issued>,
}

/// Shows how many tokens there are, never the tokens.
impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("issued", &self.issued.len())
            .finish()
    }
}

impl TokenStore {
    /// Issues an opaque random token for `client_id`, valid for `lifetime` of real time.
    pub fn issue(&mut self, client_id: &str, lifetime: Duration) -> String {
        let now = Instant::now();
        if self.issued.len() > 10_000 {
            let grace = Duration::from_secs(3_600);
            self.issued.retain(|_, i| i.expiry + grace > now);
        }
        let mut bytes = [0u8; 32];
        fastrand::Rng::new().fill(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        self.issued.insert(
            token.clone(),
            Issued {
                expiry: now + lifetime,
                client_id: client_id.to_string(),
            },
        );
        token
    }

    /// Checks a bearer token; the client id of the application it was issued to.
    pub fn check(&self, token: &str) -> Result<&str, TokenProblem> {
        match self.issued.get(token) {
            None => Err(TokenProblem::Unknown),
            Some(i) if Instant::now() >= i.expiry => Err(TokenProblem::Expired),
            Some(i) => Ok(&i.client_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_and_unknown_tokens_are_told_apart() {
        let mut store = TokenStore::default();
        let live = store.issue("app-1", Duration::from_secs(60));
        let other = store.issue("app-2", Duration::from_secs(60));
        let dead = store.issue("app-1", Duration::ZERO);
        assert_eq!(store.check(&live), Ok("app-1"));
        assert_eq!(store.check(&other), Ok("app-2"));
        assert_eq!(store.check(&dead), Err(TokenProblem::Expired));
        assert_eq!(store.check("nope"), Err(TokenProblem::Unknown));
        assert!(!format!("{store:?}").contains(&live));
    }
}
