//! The on-premises side: the operator's LDAP client for the Active Directory that Entra
//! Connect synchronises (`TenantSyncPolicy.spec.activeDirectory`).
//!
//! LDAPS or StartTLS by default (plain LDAP only with `allowInsecure`), the DC verified with
//! the CA bundle (rustls on aws-lc-rs), simple bind, paged searches. Errors fall in a small
//! category ([`AdErrorCategory`]) that becomes the `Stalled` reason.

pub mod anchor;
pub mod client;
pub mod dn;
pub mod entry;
pub mod error;
pub mod settings;

pub use client::{AdClient, DirectoryUser};
pub use error::{AdError, AdErrorCategory};
pub use settings::{AdSettings, Transport};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::active_directory::ActiveDirectoryConnection;
    use crate::graph::SecretString;

    fn spec(url: &str) -> ActiveDirectoryConnection {
        serde_json::from_value(serde_json::json!({
            "url": url,
            "bindDn": "CN=svc,CN=Users,DC=corp,DC=example,DC=test",
            "passwordSecretRef": {"name": "ad", "key": "password"},
            "baseDn": "DC=corp,DC=example,DC=test",
            "syncedOus": ["OU=Synced,DC=corp,DC=example,DC=test"],
            "unsyncedOu": "OU=NotSynced,DC=corp,DC=example,DC=test"
        }))
        .unwrap()
    }

    fn pw() -> SecretString {
        SecretString::new("Passw0rd!Bind")
    }

    #[test]
    fn tls_by_default_plain_only_when_allowed() {
        let s = AdSettings::new(&spec("ldaps://127.0.0.1:636"), pw(), None).unwrap();
        assert_eq!(s.transport, Transport::Ldaps);
        let s = AdSettings::new(&spec("ldap://127.0.0.1:389"), pw(), None).unwrap();
        assert_eq!(s.transport, Transport::StartTls);
        let mut plain = spec("ldap://127.0.0.1:389");
        plain.start_tls = Some(false);
        let e = AdSettings::new(&plain, pw(), None).unwrap_err();
        assert!(
            e.to_string().contains("spec.activeDirectory.startTls"),
            "{e}"
        );
        assert!(e.to_string().contains("allowInsecure"), "{e}");
        plain.allow_insecure = true;
        let s = AdSettings::new(&plain, pw(), None).unwrap();
        assert_eq!(s.transport, Transport::Plain);
    }

    #[test]
    fn bad_urls_dns_and_passwords_name_the_field() {
        for (url, field) in [
            ("http://dc:389", "url"),
            ("ldaps://user:pw@dc:636", "url"),
            ("ldaps://dc:636/DC=x?cn", "url"),
            ("not a url", "url"),
        ] {
            let e = AdSettings::new(&spec(url), pw(), None).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with(&format!("spec.activeDirectory.{field}")),
                "{e}"
            );
            assert!(!e.to_string().contains("Passw0rd"));
        }
        let mut s = spec("ldaps://dc");
        s.unsynced_ou = "OU=Moved,OU=Synced,DC=corp,DC=example,DC=test".into();
        let e = AdSettings::new(&s, pw(), None).unwrap_err();
        assert!(e.to_string().contains("unsyncedOu"), "{e}");
        let mut s = spec("ldaps://dc");
        s.synced_ous = vec!["OU=Synced,DC=other".into()];
        assert!(
            AdSettings::new(&s, pw(), None)
                .unwrap_err()
                .to_string()
                .contains("baseDn")
        );
        let e = AdSettings::new(&spec("ldaps://dc"), SecretString::new(" "), None).unwrap_err();
        assert!(e.to_string().contains("passwordSecretRef"), "{e}");
    }

    #[test]
    fn the_ca_bundle_must_be_pem_certificates() {
        let e = AdSettings::new(&spec("ldaps://dc"), pw(), Some("hello".into())).unwrap_err();
        assert!(
            e.to_string().contains("spec.activeDirectory.caBundle"),
            "{e}"
        );
        assert_eq!(e.category(), AdErrorCategory::Config);
        let ca = rcgen::generate_simple_self_signed(vec!["dc".into()]).unwrap();
        let s = AdSettings::new(&spec("ldaps://dc"), pw(), Some(ca.cert.pem())).unwrap();
        assert!(s.tls_config().unwrap().is_some());
        let s = AdSettings::new(&spec("ldaps://dc"), pw(), None).unwrap();
        assert!(s.tls_config().unwrap().is_none());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let s = AdSettings::new(&spec("ldaps://dc"), pw(), None).unwrap();
        let shown = format!("{s:?} {s:#?}");
        assert!(!shown.contains("Passw0rd"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut s = spec(&format!("ldap://127.0.0.1:{port}"));
        s.start_tls = Some(false);
        s.allow_insecure = true;
        let settings = AdSettings::new(&s, pw(), None).unwrap();
        let e = AdClient::connect(&settings).await.unwrap_err();
        assert_eq!(e.category(), AdErrorCategory::Unreachable, "{e}");
        assert!(!e.to_string().contains("Passw0rd"));
    }

    #[test]
    fn filter_and_dn_values_are_escaped() {
        assert_eq!(ldap3::ldap_escape("a*)(uid=*"), "a\\2a\\29\\28uid=\\2a");
        let rdn = format!("CN={}", ldap3::dn_escape("Example, Alice"));
        let built = format!("{rdn},OU=Synced,DC=corp");
        assert_eq!(dn::first_rdn(&built), rdn);
        assert_eq!(dn::rdns(&built).len(), 3);
    }
}
