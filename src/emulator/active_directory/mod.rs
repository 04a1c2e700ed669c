//! The simulated sync client's source: a real Active Directory read over LDAP.
//!
//! With [`AdSourceConfig`] set ([`EmulatorConfig::active_directory`](super::EmulatorConfig),
//! `emulator --ad-url …`), the emulator reads every user object under the base DN (a paged
//! subtree search) before each sync cycle and imports it into the tenant
//! (`state/directory.rs`): users under a synchronised OU are synced into the emulated tenant,
//! the anchor from `mS-DS-ConsistencyGuid` (or `objectGUID`), on-premises values from AD;
//! users whose AD object left the scope are soft-deleted by the cycle. A directory that cannot
//! be read makes the cycle change nothing; `GET /_emulator/directory` shows the reads.
//!
//! Reads happen outside the tenant's lock (LDAP is async): the request that finds a cycle due
//! reads first (`gate`, through the one reader of `source`), then the cycle runs under the lock
//! with what was read.

mod args;
mod entry;
pub(super) mod gate;
mod ldap;
pub(super) mod source;

use std::time::Duration;

pub use args::AdArgs;
pub use entry::{domain_of, guid_string, sid_string};
pub use ldap::read_users;

/// Where the sync client reads Active Directory, and what it synchronises.
#[derive(Clone, PartialEq, Eq)]
pub struct AdSourceConfig {
    /// `ldap://host:389` or `ldaps://host:636`. Plain LDAP is allowed (the emulator is a test
    /// tool); `starttls` upgrades it.
    pub url: String,
    /// The DN (or `user@domain`) of the account the sync client binds as.
    pub bind_dn: String,
    /// Its password (never logged; redacted in Debug).
    pub password: String,
    /// PEM CA certificates to verify the DC's certificate with (LDAPS, StartTLS); the
    /// platform's roots when `None`.
    pub ca_pem: Option<String>,
    /// Upgrade a plain `ldap://` connection with StartTLS.
    pub starttls: bool,
    /// Where the search starts (e.g. `DC=corp,DC=example,DC=test`).
    pub base_dn: String,
    /// The OUs Entra Connect synchronises: users under them (subtree) are in scope.
    pub synced_ous: Vec<String>,
    /// Bound on one whole read (connect, bind, search).
    pub timeout: Duration,
}

impl AdSourceConfig {
    /// A source with the defaults: no StartTLS, platform roots, 30 s per read.
    pub fn new(url: &str, bind_dn: &str, password: &str, base_dn: &str) -> Self {
        Self {
            url: url.to_string(),
            bind_dn: bind_dn.to_string(),
            password: password.to_string(),
            ca_pem: None,
            starttls: false,
            base_dn: base_dn.to_string(),
            synced_ous: Vec::new(),
            timeout: Duration::from_secs(30),
        }
    }

    /// The scope the import applies.
    pub fn scope(&self) -> crate::emulator::state::DirectoryScope {
        crate::emulator::state::DirectoryScope {
            base_dn: self.base_dn.clone(),
            synced_ous: self.synced_ous.clone(),
        }
    }
}

/// Redacts the password.
impl std::fmt::Debug for AdSourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdSourceConfig")
            .field("url", &self.url)
            .field("bind_dn", &self.bind_dn)
            .field("password", &"<redacted>")
            .field("ca_pem", &self.ca_pem.is_some())
            .field("starttls", &self.starttls)
            .field("base_dn", &self.base_dn)
            .field("synced_ous", &self.synced_ous)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why the directory could not be read. The messages never carry the password.
#[derive(Debug, thiserror::Error)]
pub enum AdSourceError {
    /// No connection (refused, unreachable, TLS handshake).
    #[error(
        "connecting to the directory at {url} failed: {reason} (check --ad-url and that the DC runs)"
    )]
    Connect {
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The simple bind was refused.
    #[error(
        "binding to the directory as '{bind_dn}' failed: {reason} (check --ad-bind-dn and --ad-password-file)"
    )]
    Bind {
        /// The bind DN.
        bind_dn: String,
        /// What the DC answered.
        reason: String,
    },
    /// The search failed.
    #[error("searching the directory under '{base_dn}' failed: {reason} (check --ad-base-dn)")]
    Search {
        /// The base DN.
        base_dn: String,
        /// What the DC answered.
        reason: String,
    },
    /// The read took longer than its bound.
    #[error("the directory did not answer within {seconds} s")]
    Timeout {
        /// The bound.
        seconds: u64,
    },
    /// The CA bundle holds no usable certificate.
    #[error("the CA bundle for the directory is unusable: {0} (check --ad-ca-file)")]
    Ca(String),
    /// An entry the sync client cannot use.
    #[error("the user object '{dn}' cannot be synchronised: {reason}")]
    Entry {
        /// Its DN.
        dn: String,
        /// Why.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_errors_never_show_the_password() {
        let c = AdSourceConfig::new(
            "ldap://127.0.0.1:389",
            "CN=sync,DC=corp",
            "Pa55-Leak-Canary",
            "DC=corp",
        );
        let debug = format!("{c:?}");
        assert!(!debug.contains("Pa55-Leak-Canary"), "{debug}");
        assert!(debug.contains("<redacted>"));
        let e = AdSourceError::Bind {
            bind_dn: c.bind_dn.clone(),
            reason: "invalid credentials".into(),
        };
        assert!(!e.to_string().contains("Pa55"));
        assert!(e.to_string().starts_with("binding to the directory as"));
    }
}
