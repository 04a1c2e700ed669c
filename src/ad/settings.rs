//! The resolved connection settings: the spec's `activeDirectory` plus the bind password and
//! CA bundle read from their Secrets; and the rustls configuration that verifies the DC.

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio_rustls::rustls;

use super::error::AdError;
use crate::api::active_directory::ActiveDirectoryConnection;
use crate::graph::SecretString;

/// How the connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `ldaps://`: TLS from the first byte.
    Ldaps,
    /// `ldap://` upgraded with StartTLS before the bind.
    StartTls,
    /// `ldap://` in clear (only with `allowInsecure`).
    Plain,
}

/// Everything needed to reach and bind to the directory. `Debug` shows no password.
#[derive(Clone, Debug)]
pub struct AdSettings {
    /// `ldaps://host:port` or `ldap://host:port`.
    pub url: String,
    /// TLS, StartTLS or plain.
    pub transport: Transport,
    /// The simple-bind DN (or UPN).
    pub bind_dn: String,
    /// The bind password.
    pub password: SecretString,
    /// CA certificates (PEM) to verify the DC with; `None`: the system's roots.
    pub ca_pem: Option<String>,
    /// The domain's base DN.
    pub base_dn: String,
    /// OUs in sync scope.
    pub synced_ous: Vec<String>,
    /// Where converted users are moved.
    pub unsynced_ou: String,
    /// Connect and per-operation timeout.
    pub timeout: Duration,
}

fn config_err(field: &'static str, message: impl Into<String>) -> AdError {
    AdError::Config {
        field,
        message: message.into(),
    }
}

impl AdSettings {
    /// Settings from the spec, the bind password and the CA bundle's PEM (already read from
    /// its Secret, or inline). Checks the URL and transport, not the network.
    pub fn new(
        spec: &ActiveDirectoryConnection,
        password: SecretString,
        ca_pem: Option<String>,
    ) -> Result<Self, AdError> {
        let transport = check(spec)?;
        if password.is_empty() {
            return Err(config_err(
                "passwordSecretRef",
                "the bind password is empty; put it in the Secret key named there",
            ));
        }
        let settings = AdSettings {
            url: spec.url.trim_end_matches('/').to_string(),
            transport,
            bind_dn: spec.bind_dn.clone(),
            password,
            ca_pem,
            base_dn: spec.base_dn.clone(),
            synced_ous: spec.synced_ous.clone(),
            unsynced_ou: spec.unsynced_ou.clone(),
            timeout: Duration::from_secs(15),
        };
        // Parse the CA bundle now, so a bad one stalls before any connection.
        settings.tls_config()?;
        Ok(settings)
    }

    /// The rustls configuration (aws-lc-rs) trusting the CA bundle, if one is given.
    pub fn tls_config(&self) -> Result<Option<Arc<rustls::ClientConfig>>, AdError> {
        let Some(pem) = &self.ca_pem else {
            return Ok(None);
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| {
                config_err(
                    "caBundle",
                    format!("not PEM certificates ({e}); give the CA's -----BEGIN CERTIFICATE----- blocks"),
                )
            })?;
        if certs.is_empty() {
            return Err(config_err(
                "caBundle",
                "holds no -----BEGIN CERTIFICATE----- block; give the CA that signed the domain controller's certificate",
            ));
        }
        let mut roots = rustls::RootCertStore::empty();
        for c in certs {
            roots.add(c).map_err(|e| {
                config_err(
                    "caBundle",
                    format!("a certificate is not usable as a CA ({e})"),
                )
            })?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| config_err("caBundle", format!("TLS setup failed: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Some(Arc::new(config)))
    }
}

/// The checks of `spec` that need no I/O (the reconcilers run them as spec validation):
/// the URL, the transport it implies, the DNs and how the OUs nest.
pub fn check(spec: &ActiveDirectoryConnection) -> Result<Transport, AdError> {
    let url = url::Url::parse(&spec.url).map_err(|e| {
        config_err(
            "url",
            format!(
                "{:?} is not a URL ({e}); use ldaps://host:636 or ldap://host:389",
                spec.url
            ),
        )
    })?;
    if url.host_str().is_none_or(str::is_empty)
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || !matches!(url.path(), "" | "/")
    {
        return Err(config_err(
            "url",
            format!(
                "{:?} must be scheme://host[:port] only (no credentials, path or query)",
                spec.url
            ),
        ));
    }
    let transport = match (url.scheme(), spec.start_tls.unwrap_or(true)) {
        ("ldaps", _) => Transport::Ldaps,
        ("ldap", true) => Transport::StartTls,
        ("ldap", false) if spec.allow_insecure => Transport::Plain,
        ("ldap", false) => {
            return Err(config_err(
                "startTls",
                "false on ldap:// would send the bind password in clear; keep StartTLS, use ldaps://, or set allowInsecure: true (test directories only)",
            ));
        }
        (other, _) => {
            return Err(config_err(
                "url",
                format!("scheme {other:?} is not ldaps or ldap"),
            ));
        }
    };
    for (field, dn) in std::iter::once(("baseDn", &spec.base_dn))
        .chain(spec.synced_ous.iter().map(|d| ("syncedOus", d)))
        .chain(std::iter::once(("unsyncedOu", &spec.unsynced_ou)))
    {
        if !super::dn::is_dn(dn) {
            return Err(config_err(
                field,
                format!("{dn:?} is not a distinguished name (e.g. OU=Users,DC=corp,DC=example)"),
            ));
        }
    }
    if spec.synced_ous.is_empty() {
        return Err(config_err(
            "syncedOus",
            "name at least one OU that Entra Connect synchronises",
        ));
    }
    for ou in &spec.synced_ous {
        if !super::dn::is_within(ou, &spec.base_dn) {
            return Err(config_err(
                "syncedOus",
                format!("{ou:?} is not below baseDn {:?}", spec.base_dn),
            ));
        }
        if super::dn::is_within(&spec.unsynced_ou, ou) {
            return Err(config_err(
                "unsyncedOu",
                format!(
                    "{:?} is inside the synchronised OU {ou:?}: users moved there would stay in sync scope; name an OU Entra Connect does not synchronise",
                    spec.unsynced_ou
                ),
            ));
        }
    }
    Ok(transport)
}

/// Settings from `spec` with its Secrets read through `secret` (namespace already applied):
/// `Ok(None)` from `secret` means the Secret or key does not exist; its `Err` is a message
/// naming what to fix. Errors name `spec.activeDirectory.*` and never carry a secret value.
pub fn resolve(
    spec: &ActiveDirectoryConnection,
    secret: impl Fn(&crate::api::common::SecretKeyRef) -> Result<Option<SecretString>, String>,
) -> Result<AdSettings, AdError> {
    let r = &spec.password_secret_ref;
    let password = secret(r)
        .map_err(|m| config_err("passwordSecretRef", m))?
        .ok_or_else(|| {
            config_err(
                "passwordSecretRef",
                format!(
                    "Secret {:?} key {:?} does not exist; create it with the bind account's password",
                    r.name, r.key
                ),
            )
        })?;
    let ca_pem = match &spec.ca_bundle {
        None => None,
        Some(ca) => match (&ca.pem, &ca.secret_ref) {
            (Some(pem), _) => Some(pem.clone()),
            (None, Some(r)) => Some(
                secret(r)
                    .map_err(|m| config_err("caBundle.secretRef", m))?
                    .ok_or_else(|| {
                        config_err(
                            "caBundle.secretRef",
                            format!(
                                "Secret {:?} key {:?} does not exist; put the CA certificates (PEM) there",
                                r.name, r.key
                            ),
                        )
                    })?
                    .expose()
                    .to_string(),
            ),
            (None, None) => None,
        },
    };
    AdSettings::new(spec, password, ca_pem)
}
