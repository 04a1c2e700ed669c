//! HTTPS for the emulator (`--tls`): a certificate authority made up at start, a server
//! certificate it signs for the loopback names, and a listener that completes the TLS
//! handshake before axum sees the connection.
//!
//! Why: Microsoft's own client libraries refuse plain http (azure-identity and MSAL want an
//! `https` authority, Kiota attaches tokens only to `https` URLs), and the operator's rustls
//! path deserves a test too. Clients trust the CA certificate ([`TlsIdentity::ca_pem`],
//! written out by `emulator --tls-cert-out`), the way they would trust a corporate CA. Every
//! start makes a new CA; its private key never leaves the process and is never logged.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::server::TlsStream;

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for axum to take them.
const BACKLOG: usize = 64;
/// Certificates are valid from a day before the start (clock skew) for this long.
const VALIDITY_DAYS: i64 = 365;

/// Why HTTPS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rcgen refused the certificate parameters or could not sign.
    #[error("generating the emulator's TLS certificates failed: {0}")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the certificate or the key.
    #[error("configuring the emulator's TLS server failed: {0}")]
    Server(#[from] rustls::Error),
    /// The start time cannot be written as a certificate date.
    #[error("computing the certificates' validity failed: {0}")]
    Validity(String),
}

/// The CA certificate clients trust and the server configuration it vouches for.
#[derive(Clone)]
pub struct TlsIdentity {
    ca_pem: String,
    server: Arc<ServerConfig>,
}

/// Shows the CA certificate's size only; the server key stays out of Debug output.
impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("ca_pem_bytes", &self.ca_pem.len())
            .field("server_key", &"<redacted>")
            .finish()
    }
}

/// The names every server certificate carries: the loopback host name and addresses.
fn loopback_names() -> Result<Vec<SanType>, TlsError> {
    Ok(vec![
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        SanType::DnsName("localhost".try_into()?),
    ])
}

/// `(year, month, day)` in UTC, `days` from now.
fn utc_date(days: i64) -> Result<(i32, u8, u8), TlsError> {
    let invalid = |e: &dyn std::fmt::Display| TlsError::Validity(e.to_string());
    let day = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(24 * days))
        .map_err(|e| invalid(&e))?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let month = u8::try_from(day.month()).map_err(|e| invalid(&e))?;
    let dom = u8::try_from(day.day()).map_err(|e| invalid(&e))?;
    Ok((i32::from(day.year()), month, dom))
}

/// Sets the validity: from a day before now, for [`VALIDITY_DAYS`].
fn set_validity(params: &mut CertificateParams) -> Result<(), TlsError> {
    let (y, m, d) = utc_date(-1)?;
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = utc_date(VALIDITY_DAYS)?;
    params.not_after = rcgen::date_time_ymd(y, m, d);
    Ok(())
}

impl TlsIdentity {
    /// Makes a CA and a server certificate for the loopback names plus `extra` addresses
    /// (e.g. a non-loopback address the emulator listens on).
    pub fn generate(extra: &[IpAddr]) -> Result<Self, TlsError> {
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut ca = CertificateParams::default();
        ca.distinguished_name = rcgen::DistinguishedName::new();
        ca.distinguished_name
            .push(DnType::CommonName, "entra-cloud-operator emulator CA");
        ca.distinguished_name
            .push(DnType::OrganizationName, "entra-cloud-operator");
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut ca)?;
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);

        let server_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut leaf = CertificateParams::default();
        leaf.distinguished_name = rcgen::DistinguishedName::new();
        leaf.distinguished_name
            .push(DnType::CommonName, "entra-cloud-operator emulator");
        leaf.subject_alt_names = loopback_names()?;
        for ip in extra {
            let san = SanType::IpAddress(*ip);
            if !leaf.subject_alt_names.contains(&san) {
                leaf.subject_alt_names.push(san);
            }
        }
        leaf.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        // Python 3.13's strict verification requires the authority key identifier.
        leaf.use_authority_key_identifier_extension = true;
        set_validity(&mut leaf)?;
        let leaf_cert = leaf.signed_by(&server_key, &issuer)?;

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![leaf_cert.der().clone(), ca_cert.der().clone()], key)?;
        // axum serves HTTP/1.1 only (its `http2` feature is off).
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            ca_pem: ca_cert.pem(),
            server: Arc::new(server),
        })
    }

    /// The CA certificate (PEM) a client must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Accepts TLS on `tcp`.
    pub fn listener(&self, tcp: TcpListener) -> io::Result<TlsListener> {
        TlsListener::new(tcp, self.server.clone())
    }
}

/// A TCP listener whose connections have completed their TLS handshake.
///
/// Handshakes run in their own tasks, so a slow or broken client never holds up the others;
/// finished ones queue for axum.
#[derive(Debug)]
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    acceptor: JoinHandle<()>,
}

impl TlsListener {
    fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(BACKLOG);
        let acceptor = tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), tx));
        Ok(Self {
            local,
            ready,
            acceptor,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let (stream, peer) = match tcp.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // As axum's own listener does: per-connection errors are the client's;
                // anything else (e.g. out of file descriptors) waits a moment.
                if !matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                ) {
                    tracing::warn!(error = %e, "emulator accept failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    // Fails only when the server stopped: the connection is dropped.
                    let _ = ready.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept loop never ends on its own; if it did, accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn ca_is_pem_and_debug_hides_the_key() {
        let identity = TlsIdentity::generate(&[]).expect("certificates");
        assert!(identity.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(identity.ca_pem().matches("BEGIN CERTIFICATE").count(), 1);
        let debug = format!("{identity:?}");
        assert!(!debug.contains("PRIVATE"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn every_start_makes_a_new_ca() {
        let a = TlsIdentity::generate(&[]).expect("certificates");
        let b = TlsIdentity::generate(&[]).expect("certificates");
        assert_ne!(a.ca_pem(), b.ca_pem());
    }
}
