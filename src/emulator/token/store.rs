//! The access tokens the emulator issued (JWT-shaped or opaque, `access.rs`), each bound to the
//! application it was issued to and its (real-time) expiry. Graph accepts a token only when it
//! is found here: its claims, if any, are never trusted.

use std::collections::HashMap;
use std::time::{Duration, Instant};

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
    /// Records `token`, issued to `client_id` for `lifetime` of real time; returns it.
    pub fn issue(&mut self, token: String, client_id: &str, lifetime: Duration) -> String {
        let now = Instant::now();
        if self.issued.len() > 10_000 {
            let grace = Duration::from_secs(3_600);
            self.issued.retain(|_, i| i.expiry + grace > now);
        }
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
        let live = store.issue("t1".into(), "app-1", Duration::from_secs(60));
        let other = store.issue("t2".into(), "app-2", Duration::from_secs(60));
        let dead = store.issue("t3".into(), "app-1", Duration::ZERO);
        assert_eq!(store.check(&live), Ok("app-1"));
        assert_eq!(store.check(&other), Ok("app-2"));
        assert_eq!(store.check(&dead), Err(TokenProblem::Expired));
        assert_eq!(store.check("nope"), Err(TokenProblem::Unknown));
        assert!(!format!("{store:?}").contains(&live));
    }
}
