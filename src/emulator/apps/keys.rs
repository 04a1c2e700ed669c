//! Key material of registered applications: X.509 certificates (their thumbprints and
//! signature checks) and the signing keys of federated issuers. Everything here is public
//! key material; no private key ever reaches the emulator.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self as aws, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::{PemObject, SectionKind};
use webpki::EndEntityCert;
use webpki::aws_lc_rs as algs;

/// A JWS signature algorithm the emulator verifies (RSA with SHA-256).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlg {
    /// `RS256`: RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// `PS256`: RSASSA-PSS with SHA-256.
    Ps256,
}

impl SignatureAlg {
    /// The algorithm a JWS header's `alg` names, if the emulator knows it.
    pub fn parse(alg: &str) -> Option<Self> {
        match alg {
            "RS256" => Some(SignatureAlg::Rs256),
            "PS256" => Some(SignatureAlg::Ps256),
            _ => None,
        }
    }

    /// The JWS name.
    pub fn name(self) -> &'static str {
        match self {
            SignatureAlg::Rs256 => "RS256",
            SignatureAlg::Ps256 => "PS256",
        }
    }

    fn for_certificate(self) -> &'static dyn rustls_pki_types::SignatureVerificationAlgorithm {
        match self {
            SignatureAlg::Rs256 => algs::RSA_PKCS1_2048_8192_SHA256,
            SignatureAlg::Ps256 => algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        }
    }

    fn for_public_key(self) -> &'static aws::RsaParameters {
        match self {
            SignatureAlg::Rs256 => &aws::RSA_PKCS1_2048_8192_SHA256,
            SignatureAlg::Ps256 => &aws::RSA_PSS_2048_8192_SHA256,
        }
    }
}

/// An X.509 certificate registered on an application (a key credential).
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    x5t: String,
    x5t_s256: String,
}

/// Shows the thumbprint only.
impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("x5t#S256", &self.x5t_s256)
            .finish()
    }
}

impl Certificate {
    /// The first certificate of a PEM text.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let der = CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|_| "not a PEM certificate (-----BEGIN CERTIFICATE-----)".to_string())?;
        Self::from_der(der.to_vec())
    }

    /// A DER certificate.
    pub fn from_der(der: Vec<u8>) -> Result<Self, String> {
        let parsed = CertificateDer::from(der.as_slice());
        EndEntityCert::try_from(&parsed).map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let x5t = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &der));
        let x5t_s256 = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, &der));
        Ok(Self { der, x5t, x5t_s256 })
    }

    /// `x5t`: base64url SHA-1 of the DER.
    pub fn x5t(&self) -> &str {
        &self.x5t
    }

    /// `x5t#S256`: base64url SHA-256 of the DER.
    pub fn x5t_s256(&self) -> &str {
        &self.x5t_s256
    }

    /// The SHA-1 thumbprint in upper-case hex, as the portal and Entra's errors show it.
    pub fn thumbprint(&self) -> String {
        hex_upper(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &self.der).as_ref())
    }

    /// Whether `signature` over `message` verifies with the certificate's public key.
    pub fn verify(&self, alg: SignatureAlg, message: &[u8], signature: &[u8]) -> bool {
        let der = CertificateDer::from(self.der.as_slice());
        EndEntityCert::try_from(&der).is_ok_and(|cert| {
            cert.verify_signature(alg.for_certificate(), message, signature)
                .is_ok()
        })
    }
}

/// The signing key of a federated issuer, given at registration because the emulator cannot
/// fetch the issuer's keys (no network).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningKey {
    /// A certificate holding the key.
    Certificate(Certificate),
    /// An RSA public key (DER `SubjectPublicKeyInfo`).
    PublicKey(Vec<u8>),
}

impl SigningKey {
    /// The first `PUBLIC KEY` or `CERTIFICATE` of a PEM text.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem.as_bytes()) {
            match section {
                Ok((SectionKind::Certificate, der)) => {
                    return Certificate::from_der(der).map(SigningKey::Certificate);
                }
                Ok((SectionKind::PublicKey, der)) => {
                    aws_lc_rs::rsa::PublicKey::from_der(&der)
                        .map_err(|_| "the PEM public key is not an RSA key".to_string())?;
                    return Ok(SigningKey::PublicKey(der));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        Err("not a PEM RSA public key (-----BEGIN PUBLIC KEY-----) or certificate".into())
    }

    /// `certificate` or `publicKey`.
    pub fn kind(&self) -> &'static str {
        match self {
            SigningKey::Certificate(_) => "certificate",
            SigningKey::PublicKey(_) => "publicKey",
        }
    }

    /// Whether `signature` over `message` verifies with this key.
    pub fn verify(&self, alg: SignatureAlg, message: &[u8], signature: &[u8]) -> bool {
        match self {
            SigningKey::Certificate(c) => c.verify(alg, message, signature),
            SigningKey::PublicKey(der) => UnparsedPublicKey::new(alg.for_public_key(), der)
                .verify(message, signature)
                .is_ok(),
        }
    }
}

/// Upper-case hex.
pub fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP_CRT: &str = include_str!("../../../tests/data/app.crt");
    const ISSUER_PUB: &str = include_str!("../../../tests/data/issuer.pub");

    #[test]
    fn thumbprints_are_base64url_hashes_of_the_der() {
        let Ok(c) = Certificate::from_pem(APP_CRT) else {
            panic!("the fixture parses");
        };
        let der = CertificateDer::from_pem_slice(APP_CRT.as_bytes()).map(|d| d.to_vec());
        let der = der.unwrap_or_default();
        let sha1 = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
        assert_eq!(c.x5t(), URL_SAFE_NO_PAD.encode(sha1));
        assert_eq!(c.x5t().len(), 27);
        assert_eq!(c.x5t_s256().len(), 43);
        assert_eq!(c.thumbprint(), hex_upper(sha1.as_ref()));
        assert_eq!(c.thumbprint().len(), 40);
        assert!(!format!("{c:?}").contains("BEGIN"));
    }

    #[test]
    fn refuses_what_is_not_key_material() {
        assert!(Certificate::from_pem("hello").is_err());
        assert!(Certificate::from_pem(ISSUER_PUB).is_err());
        assert!(
            SigningKey::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .is_err()
        );
        assert_eq!(
            SigningKey::from_pem(ISSUER_PUB).map(|k| k.kind()),
            Ok("publicKey")
        );
        assert_eq!(
            SigningKey::from_pem(APP_CRT).map(|k| k.kind()),
            Ok("certificate")
        );
        assert_eq!(SignatureAlg::parse("HS256"), None);
        assert_eq!(
            SignatureAlg::parse("PS256").map(SignatureAlg::name),
            Some("PS256")
        );
    }
}
