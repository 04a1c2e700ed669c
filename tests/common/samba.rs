//! A real Active Directory for the LDAP tests: the one Samba AD DC of this machine
//! (`hack/samba-ad.sh`), started once per test process and shared by every test binary, and
//! fixtures over LDAP (ldap3, async). Every test makes its own OUs (`fresh_ous`), so tests can
//! share the directory without seeing each other's users.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Mod, Scope, SearchEntry, dn_escape};

/// How to reach the DC, as `hack/samba-ad.sh start` prints it.
#[derive(Debug)]
pub struct SambaDc {
    /// `ldap://127.0.0.1:389` (plain simple binds are allowed on this test DC; StartTLS too).
    pub ldap_url: String,
    /// `ldaps://127.0.0.1:636`, verified with `ca_pem`.
    pub ldaps_url: String,
    /// The domain's naming context, `DC=corp,DC=example,DC=test`.
    pub base_dn: String,
    /// The domain administrator's DN.
    pub bind_dn: String,
    /// The administrator's password (a test-only domain on 127.0.0.1).
    pub password: String,
    /// The CA that signed the DC's certificate (SAN `IP:127.0.0.1`).
    pub ca_pem: PathBuf,
}

/// A test's own OUs: `parent` = `OU=<tag>-<random>,<base>` holding `synced` (`OU=Synced`) and
/// `unsynced` (`OU=NotSynced`).
#[derive(Debug, Clone)]
pub struct TestOus {
    pub parent: String,
    pub synced: String,
    pub unsynced: String,
}

/// A user object as read from the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdUser {
    pub dn: String,
    pub sam: String,
    pub upn: String,
    /// `objectGUID` in AD byte order, as stored.
    pub object_guid: [u8; 16],
    /// `mS-DS-ConsistencyGuid` as stored, when set.
    pub consistency_guid: Option<[u8; 16]>,
    pub user_account_control: u32,
}

impl AdUser {
    /// `objectGUID` as the usual `xxxxxxxx-xxxx-...` string (what `<GUID=...>` takes).
    pub fn guid_string(&self) -> String {
        guid_string(&self.object_guid)
    }
}

/// The user principal name suffix of the test domain.
pub const UPN_SUFFIX: &str = "corp.example.test";

static DC: OnceLock<Option<SambaDc>> = OnceLock::new();

/// Starts (installing Samba if needed) or reuses the one DC of this machine; None, after
/// printing "skipped: <reason>" to stderr, where the machine cannot run it (not root, no apt).
/// With SAMBA_AD=required (set by `make test`) it panics instead of skipping.
pub fn samba_dc() -> Option<&'static SambaDc> {
    DC.get_or_init(|| match start() {
        Ok(dc) => Some(dc),
        Err(reason) => {
            if std::env::var("SAMBA_AD").as_deref() == Ok("required") {
                panic!("SAMBA_AD=required, but the Samba AD DC cannot run here: {reason}");
            }
            eprintln!("skipped: {reason}");
            None
        }
    })
    .as_ref()
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("hack/samba-ad.sh")
}

/// Runs `hack/samba-ad.sh <verb>`; exit status 2 means "this machine cannot" (a skip), any
/// other failure is a broken harness and panics.
fn run_script(verb: &str) -> Result<String, String> {
    let out = Command::new("bash")
        .arg(script())
        .arg(verb)
        .output()
        .unwrap_or_else(|e| panic!("hack/samba-ad.sh {verb}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Some(2) => Err(stderr.trim().lines().last().unwrap_or("").to_string()),
        _ => panic!("hack/samba-ad.sh {verb} failed ({}):\n{stderr}", out.status),
    }
}

fn start() -> Result<SambaDc, String> {
    run_script("install")?;
    let out = run_script("start")?;
    let kv: HashMap<&str, &str> = out.lines().filter_map(|l| l.split_once('=')).collect();
    let get = |k: &str| {
        kv.get(k)
            .map(|v| v.to_string())
            .unwrap_or_else(|| panic!("hack/samba-ad.sh start printed no {k}:\n{out}"))
    };
    let dc = SambaDc {
        ldap_url: get("SAMBA_AD_LDAP_URL"),
        ldaps_url: get("SAMBA_AD_LDAPS_URL"),
        base_dn: get("SAMBA_AD_BASE_DN"),
        bind_dn: get("SAMBA_AD_BIND_DN"),
        password: get("SAMBA_AD_PASSWORD"),
        ca_pem: PathBuf::from(get("SAMBA_AD_CA")),
    };
    // The script waited for an anonymous rootDSE read; wait (bounded) until a bind works too,
    // on a runtime of its own: callers are inside #[tokio::test] runtimes.
    let (url, dn, pw) = (dc.ldap_url.clone(), dc.bind_dn.clone(), dc.password.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut last = String::new();
            for _ in 0..100 {
                match connect(&url, &dn, &pw).await {
                    Ok(mut ldap) => {
                        let _ = ldap.unbind().await;
                        return;
                    }
                    Err(e) => last = e,
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("the Samba DC answers but a bind fails after 10 s: {last}");
        })
    })
    .join()
    .unwrap();
    Ok(dc)
}

async fn connect(url: &str, bind_dn: &str, password: &str) -> Result<Ldap, String> {
    let settings = LdapConnSettings::new().set_conn_timeout(Duration::from_secs(10));
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, url)
        .await
        .map_err(|e| format!("connect {url}: {e}"))?;
    ldap3::drive!(conn);
    ldap.simple_bind(bind_dn, password)
        .await
        .and_then(|r| r.success())
        .map_err(|e| format!("bind to {url}: {e}"))?;
    Ok(ldap)
}

/// `objectGUID` bytes (AD order: the first three fields little-endian) as a GUID string.
pub use entra_cloud_operator::ad::anchor::guid_string;

/// A random GUID (AD byte order), for consistency GUIDs.
pub fn random_guid() -> [u8; 16] {
    let mut g = [0u8; 16];
    g.iter_mut().for_each(|b| *b = fastrand::u8(..));
    g
}

/// The first RDN of a DN (`CN=a\,b` of `CN=a\,b,OU=x,...`), escapes kept.
pub fn first_rdn(dn: &str) -> &str {
    let mut escaped = false;
    for (i, c) in dn.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => return &dn[..i],
            _ => {}
        }
    }
    dn
}

const USER_ATTRS: [&str; 5] = [
    "sAMAccountName",
    "userPrincipalName",
    "objectGUID",
    "mS-DS-ConsistencyGuid",
    "userAccountControl",
];

use entra_cloud_operator::ad::entry::value_bytes as bytes;

fn text(e: &SearchEntry, name: &str) -> String {
    bytes(e, name)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn to_user(e: &SearchEntry) -> AdUser {
    let guid = |name: &str| {
        bytes(e, name).map(|b| {
            <[u8; 16]>::try_from(b.as_slice())
                .unwrap_or_else(|_| panic!("{name} of {} is not 16 bytes", e.dn))
        })
    };
    AdUser {
        dn: e.dn.clone(),
        sam: text(e, "sAMAccountName"),
        upn: text(e, "userPrincipalName"),
        object_guid: guid("objectGUID").expect("objectGUID"),
        consistency_guid: guid("mS-DS-ConsistencyGuid"),
        user_account_control: text(e, "userAccountControl").parse().unwrap_or(0),
    }
}

impl SambaDc {
    /// A bound connection as the administrator.
    pub async fn ldap(&self) -> Ldap {
        connect(&self.ldap_url, &self.bind_dn, &self.password)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// OU=<tag>-<random>,<base> holding OU=Synced and OU=NotSynced: every test its own OUs, so
    /// tests of every binary share the one DC.
    pub async fn fresh_ous(&self, tag: &str) -> TestOus {
        let parent = format!(
            "OU={}-{:08x},{}",
            dn_escape(tag),
            fastrand::u32(..),
            self.base_dn
        );
        let ous = TestOus {
            synced: format!("OU=Synced,{parent}"),
            unsynced: format!("OU=NotSynced,{parent}"),
            parent,
        };
        let mut ldap = self.ldap().await;
        for dn in [&ous.parent, &ous.synced, &ous.unsynced] {
            ldap.add(
                dn,
                vec![("objectClass", HashSet::from(["organizationalUnit"]))],
            )
            .await
            .and_then(|r| r.success())
            .unwrap_or_else(|e| panic!("add {dn}: {e}"));
        }
        let _ = ldap.unbind().await;
        ous
    }

    /// An enabled user (sAMAccountName unique domain-wide, at most 20 characters).
    pub async fn add_user(
        &self,
        ou_dn: &str,
        name: &str,
        consistency_guid: Option<[u8; 16]>,
    ) -> AdUser {
        let prefix: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(12)
            .collect();
        let sam = format!("{prefix}{:08x}", fastrand::u32(..));
        let upn = format!("{sam}@{UPN_SUFFIX}");
        let cn = format!("{name} {sam}");
        let dn = format!("CN={},{ou_dn}", dn_escape(&cn));
        let mut ldap = self.ldap().await;
        ldap.add(
            &dn,
            vec![
                ("objectClass", HashSet::from(["user"])),
                ("sAMAccountName", HashSet::from([sam.as_str()])),
                ("userPrincipalName", HashSet::from([upn.as_str()])),
                ("givenName", HashSet::from([name])),
                ("sn", HashSet::from(["Test"])),
                ("displayName", HashSet::from([cn.as_str()])),
                ("mail", HashSet::from([upn.as_str()])),
            ],
        )
        .await
        .and_then(|r| r.success())
        .unwrap_or_else(|e| panic!("add {dn}: {e}"));
        // Without a password AD creates the account disabled (546): set one, then enable it.
        let pw: Vec<u8> = format!("\"{sam}\"")
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let mut mods = vec![
            Mod::Replace(b"unicodePwd".to_vec(), HashSet::from([pw])),
            Mod::Replace(
                b"userAccountControl".to_vec(),
                HashSet::from([b"512".to_vec()]),
            ),
        ];
        if let Some(g) = consistency_guid {
            mods.push(Mod::Replace(
                b"mS-DS-ConsistencyGuid".to_vec(),
                HashSet::from([g.to_vec()]),
            ));
        }
        ldap.modify(&dn, mods)
            .await
            .and_then(|r| r.success())
            .unwrap_or_else(|e| panic!("enable {dn}: {e}"));
        let _ = ldap.unbind().await;
        self.user(&dn).await.expect("the new user reads back")
    }

    /// Sets (or with None clears) `mS-DS-ConsistencyGuid`.
    pub async fn set_consistency_guid(&self, dn: &str, guid: Option<[u8; 16]>) {
        let values: HashSet<Vec<u8>> = guid.map(|g| g.to_vec()).into_iter().collect();
        self.modify(
            dn,
            vec![Mod::Replace(b"mS-DS-ConsistencyGuid".to_vec(), values)],
        )
        .await;
    }

    /// Sets `userAccountControl` (512 enabled, 514 disabled).
    pub async fn set_user_account_control(&self, dn: &str, uac: u32) {
        self.modify(
            dn,
            vec![Mod::Replace(
                b"userAccountControl".to_vec(),
                HashSet::from([uac.to_string().into_bytes()]),
            )],
        )
        .await;
    }

    /// Any modification, panicking on failure.
    pub async fn modify(&self, dn: &str, mods: Vec<Mod<Vec<u8>>>) {
        let mut ldap = self.ldap().await;
        ldap.modify(dn, mods)
            .await
            .and_then(|r| r.success())
            .unwrap_or_else(|e| panic!("modify {dn}: {e}"));
        let _ = ldap.unbind().await;
    }

    /// Moves an object under `new_parent_dn` (modrdn with newSuperior; objectGUID unchanged);
    /// returns the new DN.
    pub async fn move_user(&self, dn: &str, new_parent_dn: &str) -> String {
        let rdn = first_rdn(dn);
        let mut ldap = self.ldap().await;
        ldap.modifydn(dn, rdn, true, Some(new_parent_dn))
            .await
            .and_then(|r| r.success())
            .unwrap_or_else(|e| panic!("move {dn} to {new_parent_dn}: {e}"));
        let _ = ldap.unbind().await;
        format!("{rdn},{new_parent_dn}")
    }

    /// Deletes an object (a leaf).
    pub async fn delete(&self, dn: &str) {
        let mut ldap = self.ldap().await;
        ldap.delete(dn)
            .await
            .and_then(|r| r.success())
            .unwrap_or_else(|e| panic!("delete {dn}: {e}"));
        let _ = ldap.unbind().await;
    }

    /// Reads a user back by DN or by objectGUID string; None when there is no such object.
    pub async fn user(&self, dn_or_guid: &str) -> Option<AdUser> {
        let base = if is_guid(dn_or_guid) {
            format!("<GUID={dn_or_guid}>")
        } else {
            dn_or_guid.to_string()
        };
        let mut ldap = self.ldap().await;
        let res = ldap
            .search(
                &base,
                Scope::Base,
                "(objectClass=user)",
                USER_ATTRS.to_vec(),
            )
            .await
            .unwrap_or_else(|e| panic!("read {base}: {e}"));
        let _ = ldap.unbind().await;
        if res.1.rc == 32 {
            return None; // noSuchObject
        }
        let (entries, _) = res.success().unwrap_or_else(|e| panic!("read {base}: {e}"));
        entries
            .into_iter()
            .next()
            .map(|e| to_user(&SearchEntry::construct(e)))
    }

    /// The users under an OU (subtree), sorted by DN.
    pub async fn users_in(&self, ou_dn: &str) -> Vec<AdUser> {
        let mut ldap = self.ldap().await;
        let (entries, _) = ldap
            .search(
                ou_dn,
                Scope::Subtree,
                "(&(objectCategory=person)(objectClass=user))",
                USER_ATTRS.to_vec(),
            )
            .await
            .and_then(|r| r.success())
            .unwrap_or_else(|e| panic!("list users in {ou_dn}: {e}"));
        let _ = ldap.unbind().await;
        let mut users: Vec<AdUser> = entries
            .into_iter()
            .filter(|e| !e.is_ref())
            .map(|e| to_user(&SearchEntry::construct(e)))
            .collect();
        users.sort_by(|a, b| a.dn.cmp(&b.dn));
        users
    }
}

fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}
