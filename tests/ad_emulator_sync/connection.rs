//! How the emulator reaches the directory: LDAPS and StartTLS verified with the DC's CA, a
//! foreign CA refused, and the command-line flags.

use serde_json::{Value, json};

use super::{DOMAIN, emulator, source, twin};
use crate::common::samba::{random_guid, samba_dc};
use crate::common::{control_get, temp_dir};

#[tokio::test]
async fn reads_over_ldaps_and_starttls_verifying_the_dc_with_its_ca() {
    let Some(dc) = samba_dc() else { return };
    let ous = dc.fresh_ous("tls").await;
    let frank = dc.add_user(&ous.synced, "Frank", Some(random_guid())).await;
    let ca = std::fs::read_to_string(&dc.ca_pem).unwrap();
    for (url, starttls) in [(dc.ldaps_url.as_str(), false), (dc.ldap_url.as_str(), true)] {
        let mut ad = source(dc, &ous.parent, &ous);
        ad.url = url.to_string();
        ad.starttls = starttls;
        ad.ca_pem = Some(ca.clone());
        let emu = emulator(ad).await;
        assert!(
            twin(&emu, &frank).await.is_some(),
            "{url} starttls={starttls}"
        );
        emu.shutdown().await;
    }
    // A CA that did not sign the DC's certificate: the TLS handshake fails, nothing synced.
    let mut ad = source(dc, &ous.parent, &ous);
    ad.url = dc.ldaps_url.clone();
    ad.ca_pem = Some(include_str!("../data/app.crt").to_string());
    let emu = emulator(ad).await;
    assert!(twin(&emu, &frank).await.is_none());
    let s = control_get(&emu, "directory").await["status"].clone();
    assert!(
        s["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("connecting")),
        "{s}"
    );
    emu.shutdown().await;
}

/// The command line: `emulator --ad-url … --ad-password-file …` imports at start.
#[tokio::test]
async fn the_emulator_process_reads_the_directory_named_by_its_flags() {
    let Some(dc) = samba_dc() else { return };
    let ous = dc.fresh_ous("cli").await;
    let gina = dc.add_user(&ous.synced, "Gina", Some(random_guid())).await;
    let dir = temp_dir("ad-cli");
    let pw = dir.join("ad-password");
    std::fs::write(&pw, format!("{}\n", dc.password)).unwrap();
    let emu = crate::common::process::EmulatorProcess::start(
        env!("CARGO_BIN_EXE_entra-cloud-operator"),
        &[
            "--users",
            "0",
            "--domain",
            DOMAIN,
            "--latency",
            "0",
            "--ad-url",
            &dc.ldap_url,
            "--ad-bind-dn",
            &dc.bind_dn,
            "--ad-password-file",
            pw.to_str().unwrap(),
            "--ad-base-dn",
            &ous.parent,
            "--ad-synced-ou",
            &ous.synced,
        ],
    );
    let get = |path: &str| {
        let url = format!("{}/_emulator/{path}", emu.url);
        async move {
            reqwest::get(url)
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let status = get("directory").await;
    assert_eq!(status["linked"], json!(true), "{status}");
    assert_eq!(status["status"]["reads"], json!(1), "{status}");
    assert!(!status.to_string().contains(&dc.password));
    let users = get("users").await["value"].as_array().cloned().unwrap();
    assert!(
        users
            .iter()
            .any(|u| u["userPrincipalName"] == json!(gina.upn) && u["kind"] == json!("synced")),
        "gina imported"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
