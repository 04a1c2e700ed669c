//! One read of the directory: connect (LDAPS, StartTLS or plain), simple bind, a paged subtree
//! search for user objects, unbind.

use std::sync::Arc;
use std::time::Duration;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use tokio_rustls::rustls;

use super::entry::{ATTRIBUTES, to_ad_user};
use super::{AdSourceConfig, AdSourceError};
use crate::emulator::state::AdUser;

/// Users only (computers are `objectClass=user` too).
const FILTER: &str = "(&(objectCategory=person)(objectClass=user))";
const PAGE_SIZE: i32 = 500;

/// Reads every user object under the base DN, within the configured time bound.
pub async fn read_users(config: &AdSourceConfig) -> Result<Vec<AdUser>, AdSourceError> {
    match tokio::time::timeout(config.timeout, read(config)).await {
        Ok(result) => result,
        Err(_) => Err(AdSourceError::Timeout {
            seconds: config.timeout.as_secs(),
        }),
    }
}

async fn read(config: &AdSourceConfig) -> Result<Vec<AdUser>, AdSourceError> {
    let mut ldap = connect(config).await?;
    let result = search(&mut ldap, config).await;
    let _ = ldap.unbind().await;
    result
}

fn tls_config(pem: &str) -> Result<Arc<rustls::ClientConfig>, AdSourceError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| AdSourceError::Ca(format!("not PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| AdSourceError::Ca(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(AdSourceError::Ca("no certificate in it".into()));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AdSourceError::Ca(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

async fn connect(config: &AdSourceConfig) -> Result<Ldap, AdSourceError> {
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(config.timeout.min(Duration::from_secs(10)))
        .set_starttls(config.starttls);
    if let Some(pem) = &config.ca_pem {
        settings = settings.set_config(tls_config(pem)?);
    }
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &config.url)
        .await
        .map_err(|e| AdSourceError::Connect {
            url: config.url.clone(),
            reason: e.to_string(),
        })?;
    ldap3::drive!(conn);
    ldap.simple_bind(&config.bind_dn, &config.password)
        .await
        .and_then(|r| r.success())
        .map_err(|e| AdSourceError::Bind {
            bind_dn: config.bind_dn.clone(),
            reason: e.to_string(),
        })?;
    Ok(ldap)
}

async fn search(ldap: &mut Ldap, config: &AdSourceConfig) -> Result<Vec<AdUser>, AdSourceError> {
    let failed = |e: ldap3::LdapError| AdSourceError::Search {
        base_dn: config.base_dn.clone(),
        reason: e.to_string(),
    };
    // Subtree searches from a domain root also return continuation references
    // (CN=Configuration…): EntriesOnly drops them.
    let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(PAGE_SIZE)),
    ];
    let mut stream = ldap
        .streaming_search_with(
            adapters,
            &config.base_dn,
            Scope::Subtree,
            FILTER,
            ATTRIBUTES.to_vec(),
        )
        .await
        .map_err(failed)?;
    let mut users = Vec::new();
    while let Some(entry) = stream.next().await.map_err(failed)? {
        users.push(to_ad_user(&SearchEntry::construct(entry))?);
    }
    stream.finish().await.success().map_err(failed)?;
    Ok(users)
}
