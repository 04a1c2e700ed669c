//! The `emulator` flags that link the sync client to a real Active Directory.

use std::path::PathBuf;

use anyhow::Context as _;

use super::AdSourceConfig;

/// `--ad-*` flags of the `emulator` subcommand.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct AdArgs {
    /// A real Active Directory the simulated sync client reads before each cycle:
    /// `ldap://host:389` (plain LDAP is allowed here; see --ad-starttls) or
    /// `ldaps://host:636`. Needs --ad-bind-dn, --ad-password-file, --ad-base-dn and
    /// --ad-synced-ou.
    #[arg(long, value_name = "URL", requires_all = ["ad_bind_dn", "ad_password_file", "ad_base_dn"])]
    pub ad_url: Option<String>,
    /// The account the sync client binds as (a DN or `user@domain`).
    #[arg(long, value_name = "DN", requires = "ad_url")]
    pub ad_bind_dn: Option<String>,
    /// A file holding its password (one line; never pass a password on a command line).
    #[arg(long, value_name = "PATH", requires = "ad_url")]
    pub ad_password_file: Option<PathBuf>,
    /// PEM CA certificates that verify the DC's certificate (LDAPS, StartTLS); default: the
    /// platform's roots.
    #[arg(long, value_name = "PEM_FILE", requires = "ad_url")]
    pub ad_ca_file: Option<PathBuf>,
    /// Upgrade the ldap:// connection with StartTLS.
    #[arg(long, requires = "ad_url")]
    pub ad_starttls: bool,
    /// Where the search for user objects starts (e.g. DC=corp,DC=example,DC=test).
    #[arg(long, value_name = "DN", requires = "ad_url")]
    pub ad_base_dn: Option<String>,
    /// An OU Entra Connect synchronises: users under it are in scope (repeatable).
    #[arg(long = "ad-synced-ou", value_name = "DN", requires = "ad_url")]
    pub ad_synced_ous: Vec<String>,
}

impl AdArgs {
    /// The source these flags describe (reads the password and CA files); `None` without
    /// `--ad-url`.
    pub fn source(&self) -> anyhow::Result<Option<AdSourceConfig>> {
        let Some(url) = &self.ad_url else {
            return Ok(None);
        };
        let (Some(bind_dn), Some(password_file), Some(base_dn)) =
            (&self.ad_bind_dn, &self.ad_password_file, &self.ad_base_dn)
        else {
            anyhow::bail!("--ad-url needs --ad-bind-dn, --ad-password-file and --ad-base-dn");
        };
        anyhow::ensure!(
            !self.ad_synced_ous.is_empty(),
            "--ad-url needs at least one --ad-synced-ou (the OUs Entra Connect synchronises)"
        );
        // A password is short: the cap keeps a wrong path (a device, a log) from being read whole.
        let password = crate::input::read_text(password_file, 64 * 1024)
            .context("reading --ad-password-file")?;
        let password = password.trim_end_matches(['\r', '\n']);
        anyhow::ensure!(
            !password.is_empty(),
            "--ad-password-file {} is empty: write the bind password into it",
            password_file.display()
        );
        let mut config = AdSourceConfig::new(url, bind_dn, password, base_dn);
        config.starttls = self.ad_starttls;
        config.synced_ous = self.ad_synced_ous.clone();
        if let Some(path) = &self.ad_ca_file {
            let pem = crate::input::read_text(path, crate::input::MAX_FILE_BYTES)
                .context("reading --ad-ca-file")?;
            config.ca_pem = Some(pem);
        }
        Ok(Some(config))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        ad: AdArgs,
    }

    fn parse(flags: &[&str]) -> Option<AdArgs> {
        let argv = std::iter::once("emulator").chain(flags.iter().copied());
        Cli::try_parse_from(argv).ok().map(|c| c.ad)
    }

    #[test]
    fn the_flags_build_a_source_with_the_password_from_its_file() {
        let dir = std::env::temp_dir().join(format!("eco-ad-args-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let pw = dir.join("pw");
        std::fs::write(&pw, "Secret-From-File\n").unwrap_or_default();
        let pw = pw.to_string_lossy().to_string();
        let base = [
            "--ad-url",
            "ldap://127.0.0.1:389",
            "--ad-bind-dn",
            "CN=sync,DC=corp",
            "--ad-password-file",
            &pw,
            "--ad-base-dn",
            "DC=corp",
        ];
        let mut flags = base.to_vec();
        flags.extend([
            "--ad-synced-ou",
            "OU=A,DC=corp",
            "--ad-synced-ou",
            "OU=B,DC=corp",
        ]);
        let Some(args) = parse(&flags) else {
            panic!("the AD flags must parse");
        };
        let source = args.source().ok().flatten();
        let Some(source) = source else {
            panic!("a source must be built");
        };
        assert_eq!(source.password, "Secret-From-File");
        assert_eq!(source.synced_ous, vec!["OU=A,DC=corp", "OU=B,DC=corp"]);
        assert!(!source.starttls && source.ca_pem.is_none());

        // Without a synced OU the source is refused with a message naming the flag.
        let Some(no_ou) = parse(&base) else {
            panic!("parses");
        };
        let err = no_ou
            .source()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("--ad-synced-ou"), "{err}");
        // Every connection flag needs the URL, and the URL needs them.
        assert!(parse(&["--ad-bind-dn", "x"]).is_none());
        assert!(parse(&["--ad-url", "ldap://x"]).is_none());
        assert!(parse(&[]).is_some_and(|a| a.source().ok().flatten().is_none()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
