//! Unit tests of the application registry.

use super::*;

const APP_CRT: &str = include_str!("../../../tests/data/app.crt");

#[test]
fn compares_in_constant_time_and_correctly() {
    assert!(constant_time_eq(b"secret", b"secret"));
    assert!(!constant_time_eq(b"secret", b"secreT"));
    assert!(!constant_time_eq(b"secret", b"secret2"));
    assert!(!constant_time_eq(b"", b"x"));
}

#[test]
fn the_default_app_comes_from_the_config_and_hides_its_secret() {
    let config = EmulatorConfig {
        certificates: vec![APP_CRT.to_string()],
        ..EmulatorConfig::default()
    };
    let Ok(apps) = Apps::from_config(&config) else {
        panic!("the default config registers");
    };
    let app = apps.default_app();
    assert!(app.secret_matches(&config.client_secret));
    assert!(!app.secret_matches("nope"));
    assert_eq!(app.permissions, config.permissions);
    assert!(apps.get(&config.client_id.to_uppercase()).is_some());
    let shown = format!("{:?} {}", apps, apps.to_json());
    assert!(!shown.contains(&config.client_secret), "{shown}");
    let thumb = &app.certificates[0].certificate;
    assert!(app.certificate(Some(thumb.x5t_s256()), None).is_some());
    assert!(app.certificate(None, Some(thumb.x5t())).is_some());
    // x5t#S256 wins when both are present.
    assert!(app.certificate(Some("other"), Some(thumb.x5t())).is_none());
}

#[test]
fn registrations_are_validated_and_ids_unique() {
    let mut apps = Apps::from_config(&EmulatorConfig::default()).unwrap_or_else(|_| {
        panic!("default config");
    });
    let reg = |id: &str| AppRegistration {
        client_id: Some(id.into()),
        ..AppRegistration::default()
    };
    assert!(
        apps.register(reg("11111111-0000-0000-0000-000000000001"))
            .is_ok()
    );
    assert!(matches!(
        apps.register(reg("11111111-0000-0000-0000-000000000001")),
        Err(RegisterError::Conflict(_))
    ));
    assert!(matches!(
        apps.register(reg(crate::emulator::DEFAULT_CLIENT_ID)),
        Err(RegisterError::Conflict(_))
    ));
    assert!(matches!(
        apps.register(reg("a b")),
        Err(RegisterError::Invalid(_))
    ));
    let bad_cert = AppRegistration {
        certificates: vec!["x".into()],
        ..AppRegistration::default()
    };
    assert!(
        matches!(apps.register(bad_cert), Err(RegisterError::Invalid(m)) if m.starts_with("certificates[0]"))
    );
    let fic = |issuer: &str| FederatedCredentialSpec {
        issuer: issuer.into(),
        subject: "system:serviceaccount:identity:operator".into(),
        ..FederatedCredentialSpec::default()
    };
    let no_issuer = AppRegistration {
        federated_credentials: vec![fic("")],
        ..AppRegistration::default()
    };
    assert!(
        matches!(apps.register(no_issuer), Err(RegisterError::Invalid(m)) if m.contains("issuer is required"))
    );
    let Ok(app) = apps.register(AppRegistration {
        federated_credentials: vec![fic("https://oidc.example")],
        ..AppRegistration::default()
    }) else {
        panic!("a federated credential registers");
    };
    assert_eq!(app.federated[0].audiences, vec![DEFAULT_FEDERATED_AUDIENCE]);
    assert_eq!(app.client_id.len(), 36);
    let aud = vec![DEFAULT_FEDERATED_AUDIENCE.to_string()];
    assert!(
        app.federated_match(
            "https://oidc.example",
            "system:serviceaccount:identity:operator",
            &aud
        )
        .is_some()
    );
    assert!(
        app.federated_match(
            "https://oidc.example",
            "system:serviceaccount:identity:other",
            &aud
        )
        .is_none()
    );
    assert!(
        app.federated_match(
            "https://oidc.example",
            "system:serviceaccount:identity:operator",
            &["api://AzureADTokenExchangeUSGov".to_string()]
        )
        .is_none()
    );
}
