//! The `emulator` flags and the configuration they give.

use clap::Parser;

use super::*;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: EmulatorArgs,
}

fn config(flags: &[&str]) -> Option<EmulatorConfig> {
    let argv = std::iter::once("emulator").chain(flags.iter().copied());
    Cli::try_parse_from(argv).ok().map(|c| c.args.config())
}

#[test]
fn per_object_flags_default_like_the_config() {
    let Some(c) = config(&[]) else {
        panic!("no flags must parse");
    };
    let d = EmulatorConfig::default();
    assert_eq!(c.sync_interval, d.sync_interval);
    assert_eq!(c.block_hard_match_takeover, d.block_hard_match_takeover);
    assert_eq!(c.soa_patch_response, d.soa_patch_response);
    assert_eq!(c.soa_on_cloud_object, d.soa_on_cloud_object);
    assert_eq!(c.immutable_id_after_soa, d.immutable_id_after_soa);
    assert_eq!(c.hard_match_flag_app_only, d.hard_match_flag_app_only);
    assert_eq!(
        c.immutable_id_survives_restore,
        d.immutable_id_survives_restore
    );
    assert_eq!(c.owner_add_on_synced_group, d.owner_add_on_synced_group);
    assert_eq!(c.users_delta_cost, d.users_delta_cost);
    assert_eq!(c.batch_limit_code, d.batch_limit_code);
    assert_eq!(c.batch_order, d.batch_order);
    assert_eq!(c.last_owner_removal, d.last_owner_removal);
    assert_eq!(c.unavailable_owners, d.unavailable_owners);
    // Graph's owner rules are on unless turned off.
    assert_eq!(c.last_owner_removal, LastOwnerRemoval::Refuse);
    assert_eq!(c.unavailable_owners, UnavailableOwners::Refuse);
}

#[test]
fn owner_rule_flags_reach_the_config() {
    let parsed = config(&[
        "--last-owner-removal",
        "allow",
        "--unavailable-owners",
        "empty",
    ]);
    let Some(c) = parsed else {
        panic!("the owner rule flags must parse");
    };
    assert_eq!(c.last_owner_removal, LastOwnerRemoval::Allow);
    assert_eq!(c.unavailable_owners, UnavailableOwners::Empty);
    let listed = config(&["--unavailable-owners", "list"]).map(|c| c.unavailable_owners);
    assert_eq!(listed, Some(UnavailableOwners::List));
    assert!(config(&["--last-owner-removal", "maybe"]).is_none());
    assert!(config(&["--unavailable-owners", "error"]).is_none());
}

#[test]
fn batch_flags_reach_the_config() {
    let parsed = config(&[
        "--batch-limit-code",
        "request-bad-request",
        "--batch-order",
        "request",
    ]);
    let Some(c) = parsed else {
        panic!("the batch flags must parse");
    };
    assert_eq!(c.batch_limit_code, BatchLimitCode::RequestBadRequest);
    assert_eq!(c.batch_order, BatchOrder::Request);
    assert!(config(&["--batch-order", "random"]).is_none());
}

#[test]
fn per_object_flags_reach_the_config() {
    let parsed = config(&[
        "--sync-interval",
        "10m",
        "--block-hard-match-takeover",
        "false",
        "--soa-patch-response",
        "no-content",
        "--soa-on-cloud-object",
        "accept",
        "--immutable-id-after-soa",
        "refuse",
        "--hard-match-flag-app-only",
        "allow",
        "--immutable-id-survives-restore",
        "clear",
        "--owner-add-on-synced-group",
        "allow",
        "--users-delta-cost",
        "list",
    ]);
    let Some(c) = parsed else {
        panic!("the per-object flags must parse");
    };
    assert_eq!(c.sync_interval, Duration::from_secs(600));
    assert!(!c.block_hard_match_takeover);
    assert_eq!(c.soa_patch_response, SoaPatchResponse::NoContent);
    assert_eq!(c.soa_on_cloud_object, SoaOnCloudObject::Accept);
    assert_eq!(c.immutable_id_after_soa, ImmutableIdAfterSoa::Refuse);
    assert_eq!(c.hard_match_flag_app_only, HardMatchFlagAppOnly::Allow);
    assert_eq!(c.immutable_id_survives_restore, ImmutableIdOnRestore::Clear);
    assert_eq!(c.owner_add_on_synced_group, OwnerAddOnSyncedGroup::Allow);
    assert_eq!(c.users_delta_cost, UsersDeltaCost::List);
    assert!(config(&["--soa-patch-response", "maybe"]).is_none());
    assert!(config(&["--sync-interval", "soon"]).is_none());
    // crate::duration's grammar: no bare seconds or days.
    assert!(config(&["--sync-interval", "0"]).is_none());
    assert!(config(&["--sync-interval", "1d"]).is_none());
    assert!(config(&["--sync-interval", "0s"]).is_some());
}

#[test]
fn application_flags_reach_the_config() {
    let dir = std::env::temp_dir().join(format!("eco-cli-apps-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap_or_default();
    let cert = dir.join("app.crt");
    let apps = dir.join("apps.json");
    let pem = include_str!("../../tests/data/app.crt");
    std::fs::write(&cert, pem).unwrap_or_default();
    let body = serde_json::json!([{"clientId": "22222222-0000-0000-0000-000000000002",
        "permissions": ["User.Read.All"]}]);
    std::fs::write(&apps, body.to_string()).unwrap_or_default();
    let (cert, apps) = (cert.to_string_lossy(), apps.to_string_lossy());
    let parsed = config(&[
        "--client-certificate",
        &cert,
        "--federated-credential",
        "https://oidc.example,system:serviceaccount:identity:operator",
        "--federated-credential",
        "https://oidc.example,system:serviceaccount:identity:other,api://AzureADTokenExchangeUSGov",
        "--apps",
        &apps,
        "--assertion-algorithms",
        "rs256",
    ]);
    let Some(c) = parsed else {
        panic!("the application flags must parse");
    };
    assert_eq!(c.certificates, vec![pem.to_string()]);
    assert_eq!(c.federated_credentials.len(), 2);
    assert!(c.federated_credentials[0].audiences.is_empty());
    assert_eq!(
        c.federated_credentials[1].audiences,
        vec!["api://AzureADTokenExchangeUSGov"]
    );
    assert_eq!(c.apps.len(), 1);
    assert_eq!(c.apps[0].permissions, vec!["User.Read.All"]);
    assert_eq!(c.assertion_algorithms, AssertionAlgorithms::Rs256);
    assert_eq!(
        config(&[]).map(|c| c.assertion_algorithms),
        Some(AssertionAlgorithms::default())
    );
    assert!(config(&["--federated-credential", "only-an-issuer"]).is_none());
    assert!(config(&["--client-certificate", &apps]).is_none());
    assert!(config(&["--apps", &cert]).is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tls_is_off_by_default_and_the_cert_path_needs_it() {
    assert!(!config(&[]).is_some_and(|c| c.tls));
    assert!(config(&["--tls"]).is_some_and(|c| c.tls));
    assert!(config(&["--tls", "--tls-cert-out", "/tmp/ca.pem"]).is_some_and(|c| c.tls));
    assert!(config(&["--tls-cert-out", "/tmp/ca.pem"]).is_none());
}

#[test]
#[allow(clippy::unwrap_used)]
fn the_ca_file_is_written_whole() {
    let dir = std::env::temp_dir().join(format!("eco-ca-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ca.pem");
    write_ca(&path, "-----BEGIN CERTIFICATE-----\n").unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "-----BEGIN CERTIFICATE-----\n"
    );
    assert!(!dir.join("ca.pem.tmp").exists());
    assert!(write_ca(&dir.join("missing/ca.pem"), "x").is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_accidental_delete_threshold_is_a_count_or_off() {
    assert_eq!(
        config(&[]).map(|c| c.accidental_delete_threshold),
        Some(Some(500))
    );
    assert_eq!(
        config(&["--accidental-delete-threshold", "20"]).map(|c| c.accidental_delete_threshold),
        Some(Some(20))
    );
    assert_eq!(
        config(&["--accidental-delete-threshold", "off"]).map(|c| c.accidental_delete_threshold),
        Some(None)
    );
    assert!(config(&["--accidental-delete-threshold", "0"]).is_none());
    assert!(config(&["--accidental-delete-threshold", "many"]).is_none());
}

#[test]
fn read_lag_flags_default_on_and_take_zero() {
    let Some(c) = config(&[]) else {
        panic!("no flags must parse");
    };
    let d = EmulatorConfig::default();
    assert_eq!((c.read_lag, c.index_lag), (d.read_lag, d.index_lag));
    assert_eq!(
        (c.read_lag, c.index_lag),
        (Duration::from_secs(2), Duration::from_secs(10)),
        "eventual consistency is on by default"
    );
    let off = config(&["--read-lag", "0", "--index-lag", "0s"]).map(|c| (c.read_lag, c.index_lag));
    assert_eq!(off, Some((Duration::ZERO, Duration::ZERO)));
    let set =
        config(&["--read-lag", "1500ms", "--index-lag", "1m"]).map(|c| (c.read_lag, c.index_lag));
    assert_eq!(
        set,
        Some((Duration::from_millis(1500), Duration::from_secs(60)))
    );
    for bad in ["-1s", "soon", "25h", ""] {
        assert!(config(&["--read-lag", bad]).is_none(), "{bad}");
    }
}

#[test]
fn tokens_are_jwts_unless_asked_opaque_and_the_default_permissions_are_the_configs() {
    let Some(c) = config(&[]) else {
        panic!("no flags must parse");
    };
    assert_eq!(c.access_token_format, AccessTokenFormat::Jwt);
    assert_eq!(c.permissions, EmulatorConfig::default().permissions);
    let opaque = config(&["--access-token-format", "opaque"]).map(|c| c.access_token_format);
    assert_eq!(opaque, Some(AccessTokenFormat::Opaque));
    assert!(config(&["--access-token-format", "jwe"]).is_none());
}
