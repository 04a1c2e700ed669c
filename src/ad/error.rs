//! LDAP failures, typed, with a small fixed category: the `Stalled` reason and metric label.
//! Messages never carry the bind password.

/// Why an LDAP operation failed, by what a human must do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdErrorCategory {
    /// The domain controller did not answer (connection refused, timeout, DNS).
    Unreachable,
    /// The bind was refused: wrong DN or password, or the account is locked or disabled.
    BadCredentials,
    /// The TLS handshake failed (unknown CA, name mismatch) or StartTLS was refused.
    Tls,
    /// The object or OU does not exist.
    NotFound,
    /// The directory refused the operation (access denied, constraint, unwilling).
    Refused,
    /// The spec or a Secret is unusable (bad URL, bad CA bundle).
    Config,
}

impl AdErrorCategory {
    /// The `Stalled` reason and metric label.
    pub fn reason(self) -> &'static str {
        match self {
            AdErrorCategory::Unreachable => "DirectoryUnreachable",
            AdErrorCategory::BadCredentials => "DirectoryBindFailed",
            AdErrorCategory::Tls => "DirectoryTlsFailed",
            AdErrorCategory::NotFound => "DirectoryObjectNotFound",
            AdErrorCategory::Refused => "DirectoryRefused",
            AdErrorCategory::Config => "InvalidDirectoryConnection",
        }
    }

    /// What to do about it.
    pub fn hint(self) -> &'static str {
        match self {
            AdErrorCategory::Unreachable => {
                "check spec.activeDirectory.url and that the domain controller is up and reachable"
            }
            AdErrorCategory::BadCredentials => {
                "check spec.activeDirectory.bindDn and the password in spec.activeDirectory.passwordSecretRef"
            }
            AdErrorCategory::Tls => {
                "check spec.activeDirectory.caBundle holds the CA that signed the domain controller's certificate, and that the certificate names the host in spec.activeDirectory.url"
            }
            AdErrorCategory::NotFound => {
                "check spec.activeDirectory.baseDn, syncedOus and unsyncedOu name existing containers"
            }
            AdErrorCategory::Refused => {
                "grant the bind account the rights it needs (read the synchronised OUs; move and modify users for RestoreDeleted and afterConversion)"
            }
            AdErrorCategory::Config => "fix spec.activeDirectory",
        }
    }
}

/// An LDAP failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdError {
    /// Connecting failed.
    #[error("active directory {url}: cannot connect: {detail}")]
    Connect {
        /// The URL (no credentials in it).
        url: String,
        /// The transport's message.
        detail: String,
        /// Unreachable or TLS.
        category: AdErrorCategory,
    },
    /// The simple bind was refused.
    #[error("active directory {url}: bind as {bind_dn:?} refused (LDAP result {rc}: {detail})")]
    Bind {
        /// The URL.
        url: String,
        /// Who we bound as (never the password).
        bind_dn: String,
        /// LDAP result code.
        rc: u32,
        /// The server's diagnostic message.
        detail: String,
    },
    /// An operation returned an LDAP error code.
    #[error("active directory: {operation} {target:?} failed (LDAP result {rc}: {detail})")]
    Operation {
        /// `search`, `move`, `modify`.
        operation: &'static str,
        /// The DN or base it acted on.
        target: String,
        /// LDAP result code.
        rc: u32,
        /// The server's diagnostic message.
        detail: String,
    },
    /// The connection broke or timed out during an operation.
    #[error("active directory: {operation} {target:?} failed: {detail}")]
    Transport {
        /// `search`, `move`, `modify`.
        operation: &'static str,
        /// The DN or base it acted on.
        target: String,
        /// The transport's message.
        detail: String,
    },
    /// The connection settings are unusable.
    #[error("spec.activeDirectory.{field}: {message}")]
    Config {
        /// The field below `spec.activeDirectory`.
        field: &'static str,
        /// What is wrong and the fix.
        message: String,
    },
}

impl AdError {
    /// The category of this failure.
    pub fn category(&self) -> AdErrorCategory {
        match self {
            AdError::Connect { category, .. } => *category,
            AdError::Bind { .. } => AdErrorCategory::BadCredentials,
            AdError::Operation { rc, .. } => match rc {
                32 => AdErrorCategory::NotFound,
                // strongerAuthRequired / confidentialityRequired on a plain bind
                8 | 13 => AdErrorCategory::Tls,
                _ => AdErrorCategory::Refused,
            },
            AdError::Transport { .. } => AdErrorCategory::Unreachable,
            AdError::Config { .. } => AdErrorCategory::Config,
        }
    }

    /// Whether the next pass may succeed without a human (a broken connection mid-way).
    pub fn is_transient(&self) -> bool {
        matches!(self, AdError::Transport { .. })
    }

    /// The message for `Stalled`: what failed, then the fix.
    pub fn stall_message(&self) -> String {
        format!("{self}; {}", self.category().hint())
    }

    pub(crate) fn from_ldap(operation: &'static str, target: &str, e: ldap3::LdapError) -> Self {
        match e {
            ldap3::LdapError::LdapResult { result } => AdError::Operation {
                operation,
                target: target.to_string(),
                rc: result.rc,
                detail: result.text,
            },
            other => AdError::Transport {
                operation,
                target: target.to_string(),
                detail: other.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_codes_map_to_categories() {
        let op = |rc| AdError::Operation {
            operation: "move",
            target: "CN=a".into(),
            rc,
            detail: String::new(),
        };
        assert_eq!(op(32).category(), AdErrorCategory::NotFound);
        assert_eq!(op(50).category(), AdErrorCategory::Refused);
        assert_eq!(op(8).category(), AdErrorCategory::Tls);
        let bind = AdError::Bind {
            url: "ldaps://dc:636".into(),
            bind_dn: "svc@corp".into(),
            rc: 49,
            detail: "80090308: LdapErr".into(),
        };
        assert_eq!(bind.category().reason(), "DirectoryBindFailed");
        assert!(bind.stall_message().contains("passwordSecretRef"));
        assert!(!bind.is_transient());
    }
}
