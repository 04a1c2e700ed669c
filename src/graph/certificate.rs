//! Certificate credentials: the PEM certificate registered on the application and its PEM
//! private key (RSA; PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1 `BEGIN RSA PRIVATE KEY`), and the
//! client assertions they sign (graph-api.md §10): an RS256 JWT whose header names the
//! certificate (`x5t#S256` and the legacy `x5t`) and whose claims are `aud` = the token URL,
//! `iss` = `sub` = the client id, a random `jti`, `nbf`/`iat` = now and `exp` = now + 10 min.
//!
//! The private key stays inside aws-lc (zeroed on drop); `Debug` shows the thumbprint only,
//! errors never quote the PEM, and assertions are [`SecretString`]s.

use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::{PemObject, SectionKind};
use serde_json::json;
use webpki::EndEntityCert;

use super::error::AuthError;
use super::secret::SecretString;

/// Lifetime of a client assertion (Entra recommends minutes).
pub const ASSERTION_LIFETIME_SECS: i64 = 600;

/// DER of the rsaEncryption algorithm identifier's OID (1.2.840.113549.1.1.1).
const RSA_OID: &[u8] = &[
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01,
];

/// Why a certificate and key cannot be used. Messages never quote the PEM.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// No `BEGIN CERTIFICATE` block.
    #[error("the certificate is not PEM (no -----BEGIN CERTIFICATE----- block)")]
    CertificateNotPem,
    /// The block is not an X.509 certificate.
    #[error("the certificate is not a valid X.509 certificate")]
    CertificateInvalid,
    /// No private key block.
    #[error(
        "the private key is not PEM (no -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY----- block)"
    )]
    KeyNotPem,
    /// An encrypted PKCS#8 key.
    #[error("the private key is encrypted")]
    KeyEncrypted,
    /// An EC or other non-RSA key.
    #[error("the private key is not an RSA key ({found})")]
    KeyNotRsa {
        /// What it is instead.
        found: &'static str,
    },
    /// An RSA key aws-lc rejects (malformed, or shorter than 2048 bits).
    #[error("the private key is not a usable RSA key (malformed, or shorter than 2048 bits)")]
    KeyInvalid,
    /// The key is not the certificate's.
    #[error("the private key does not belong to the certificate (x5t#S256 {thumbprint})")]
    KeyMismatch {
        /// The certificate's SHA-256 thumbprint.
        thumbprint: String,
    },
}

impl CertificateError {
    /// How to fix it, for messages that name the Secret keys.
    pub fn hint(&self) -> &'static str {
        match self {
            CertificateError::CertificateNotPem | CertificateError::CertificateInvalid => {
                "put the PEM certificate registered on the application there"
            }
            CertificateError::KeyNotPem => {
                "put the certificate's unencrypted PEM private key there"
            }
            CertificateError::KeyEncrypted => {
                "store it unencrypted (openssl pkcs8 -topk8 -nocrypt -in key.pem -out plain.pem)"
            }
            CertificateError::KeyNotRsa { .. } | CertificateError::KeyInvalid => {
                "Entra client assertions need an RSA key pair of at least 2048 bits (openssl req -x509 -newkey rsa:2048 ...)"
            }
            CertificateError::KeyMismatch { .. } => {
                "the certificate and the private key must be one key pair"
            }
        }
    }
}

/// A certificate registered on the application and its private key.
#[derive(Clone)]
pub struct ClientCertificate {
    x5t: String,
    x5t_s256: String,
    key: Arc<KeyPair>,
}

/// Shows the thumbprint, never the key.
impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("x5t#S256", &self.x5t_s256)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

fn private_key(pem: &str) -> Result<KeyPair, CertificateError> {
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem.as_bytes()) {
        match section {
            Ok((SectionKind::PrivateKey, der)) => {
                return KeyPair::from_pkcs8(&der).map_err(|_| {
                    if der.windows(RSA_OID.len()).any(|w| w == RSA_OID) {
                        CertificateError::KeyInvalid
                    } else {
                        CertificateError::KeyNotRsa {
                            found: "a PKCS#8 key of another algorithm, e.g. EC",
                        }
                    }
                });
            }
            Ok((SectionKind::RsaPrivateKey, der)) => {
                return KeyPair::from_der(&der).map_err(|_| CertificateError::KeyInvalid);
            }
            Ok((SectionKind::EcPrivateKey, _)) => {
                return Err(CertificateError::KeyNotRsa { found: "an EC key" });
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(CertificateError::KeyEncrypted);
    }
    Err(CertificateError::KeyNotPem)
}

impl ClientCertificate {
    /// Loads a certificate (the first of `certificate_pem`) and its private key (the first key
    /// of `private_key_pem`; both may be one file), and checks they are one pair.
    pub fn from_pem(
        certificate_pem: &str,
        private_key_pem: &SecretString,
    ) -> Result<Self, CertificateError> {
        let der = CertificateDer::from_pem_slice(certificate_pem.as_bytes())
            .map_err(|_| CertificateError::CertificateNotPem)?;
        let cert =
            EndEntityCert::try_from(&der).map_err(|_| CertificateError::CertificateInvalid)?;
        let key = private_key(private_key_pem.expose())?;
        let x5t_s256 = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, &der));
        // The pair matches when the certificate's public key verifies what the key signs.
        let probe = b"entra-cloud-operator key pair check";
        let mut signature = vec![0; key.public_modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            probe,
            &mut signature,
        )
        .map_err(|_| CertificateError::KeyInvalid)?;
        cert.verify_signature(
            webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
            probe,
            &signature,
        )
        .map_err(|_| CertificateError::KeyMismatch {
            thumbprint: x5t_s256.clone(),
        })?;
        Ok(ClientCertificate {
            x5t: URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &der)),
            x5t_s256,
            key: Arc::new(key),
        })
    }

    /// `x5t#S256`: base64url SHA-256 of the certificate's DER.
    pub fn x5t_s256(&self) -> &str {
        &self.x5t_s256
    }

    /// `x5t`: base64url SHA-1 of the certificate's DER (legacy, still sent by MSAL).
    pub fn x5t(&self) -> &str {
        &self.x5t
    }

    /// A client assertion for `client_id`, addressed to `audience` (the token URL), valid from
    /// now (seconds since the epoch) for [`ASSERTION_LIFETIME_SECS`].
    pub fn assertion(
        &self,
        client_id: &str,
        audience: &str,
        now: i64,
    ) -> Result<SecretString, AuthError> {
        let failed = || AuthError::Credential {
            detail: "signing the client assertion with the certificate's key failed".into(),
        };
        let rng = SystemRandom::new();
        let mut id = [0u8; 16];
        rng.fill(&mut id).map_err(|_| failed())?;
        let header =
            json!({"alg": "RS256", "typ": "JWT", "x5t": self.x5t, "x5t#S256": self.x5t_s256});
        let claims = json!({
            "aud": audience, "iss": client_id, "sub": client_id, "jti": crate::guid::from_bytes(id),
            "nbf": now, "iat": now, "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut signature)
            .map_err(|_| failed())?;
        Ok(SecretString::new(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        )))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const APP_CRT: &str = include_str!("../../tests/data/app.crt");
    const APP_KEY: &str = include_str!("../../tests/data/app.key");
    const APP_PKCS1: &str = include_str!("../../tests/data/app-pkcs1.key");
    const OTHER_KEY: &str = include_str!("../../tests/data/other.key");
    const EC_CRT: &str = include_str!("../../tests/data/ec.crt");
    const EC_KEY: &str = include_str!("../../tests/data/ec.key");

    fn load(cert: &str, key: &str) -> Result<ClientCertificate, CertificateError> {
        ClientCertificate::from_pem(cert, &SecretString::new(key))
    }

    #[test]
    fn loads_pkcs8_pkcs1_and_one_combined_file() {
        let a = load(APP_CRT, APP_KEY).unwrap();
        let b = load(APP_CRT, APP_PKCS1).unwrap();
        let combined = format!("{APP_KEY}{APP_CRT}");
        let c = load(&combined, &combined).unwrap();
        assert_eq!(a.x5t_s256(), b.x5t_s256());
        assert_eq!(a.x5t(), c.x5t());
        assert_eq!((a.x5t().len(), a.x5t_s256().len()), (27, 43));
        let debug = format!("{a:?}");
        assert!(
            debug.contains(a.x5t_s256()) && !debug.contains("PRIVATE"),
            "{debug}"
        );
    }

    #[test]
    fn each_unusable_pair_says_why_without_quoting_it() {
        let body = APP_KEY.lines().nth(1).unwrap();
        let cases = [
            (load("nope", APP_KEY), "CertificateNotPem"),
            (
                load(
                    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                    APP_KEY,
                ),
                "CertificateInvalid",
            ),
            (load(APP_CRT, "nope"), "KeyNotPem"),
            (load(APP_CRT, APP_CRT), "KeyNotPem"),
            (
                load(
                    APP_CRT,
                    "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
                ),
                "KeyEncrypted",
            ),
            (load(EC_CRT, EC_KEY), "KeyNotRsa"),
            (load(APP_CRT, OTHER_KEY), "KeyMismatch"),
            (load(EC_CRT, APP_KEY), "KeyMismatch"),
        ];
        for (result, want) in cases {
            let e = result.unwrap_err();
            assert!(format!("{e:?}").starts_with(want), "{want}: {e:?}");
            let text = format!("{e} {e:?} {}", e.hint());
            assert!(!text.contains(body), "{want} quotes the key");
        }
    }

    #[test]
    fn assertions_carry_the_documented_header_and_claims() {
        let c = load(APP_CRT, APP_KEY).unwrap();
        let a = c
            .assertion(
                "client-1",
                "https://login.example/t/oauth2/v2.0/token",
                1_000,
            )
            .unwrap();
        let parts: Vec<&str> = a.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |p: &str| -> serde_json::Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
        };
        let (header, claims) = (decode(parts[0]), decode(parts[1]));
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["x5t#S256"], c.x5t_s256());
        assert_eq!(header["x5t"], c.x5t());
        assert_eq!(claims["aud"], "https://login.example/t/oauth2/v2.0/token");
        assert_eq!(
            (claims["iss"].clone(), claims["sub"].clone()),
            ("client-1".into(), "client-1".into())
        );
        assert_eq!(
            (claims["nbf"].clone(), claims["exp"].clone()),
            (1_000.into(), 1_600.into())
        );
        let jti = claims["jti"].as_str().unwrap().to_string();
        assert_eq!(jti.len(), 36);
        let again = c.assertion("client-1", "aud", 1_000).unwrap();
        let again = decode(again.expose().split('.').nth(1).unwrap());
        assert_ne!(again["jti"].as_str(), Some(jti.as_str()), "jti is random");
        assert_eq!(format!("{a:?}"), "[redacted]");
    }
}
