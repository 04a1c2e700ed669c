//! The operator's LDAP client: one bound connection, paged user searches, moves and
//! enable/disable. Every filter value is escaped (RFC 4515), every built DN component too.

use std::collections::HashSet;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{LdapConnAsync, LdapConnSettings, Mod, Scope, SearchEntry};
use tracing::{Instrument, debug, info_span};

use super::anchor;
use super::error::{AdError, AdErrorCategory};
use super::settings::{AdSettings, Transport};

/// `userAccountControl` bit of a disabled account.
pub const ACCOUNT_DISABLED: u32 = 0x2;
/// Entries a search of the sync scope may return before it is refused as unbounded: the
/// largest directory the operator targets (the Graph side lists as many,
/// `graph::limits::MAX_LISTED_OBJECTS`). Every entry received counts, kept or not.
pub const MAX_ENTRIES: usize = 1_000_000;
/// Entries a lookup of one user (by GUID, anchor or UPN) may return: one or two match in a
/// sound directory; more is refused instead of collected.
pub const MAX_LOOKUP_ENTRIES: usize = 100;
/// Largest entry accepted, in bytes of DN, attribute names and values: AD bounds what is
/// asked for (userPrincipalName 1,024 characters, sAMAccountName 256, GUIDs and SIDs under
/// 100 bytes, a DN a few hundred), so 16 KiB is generous; with [`PAGE_SIZE`] it bounds a
/// page to 8 MiB and a whole search to [`MAX_ENTRIES`] such entries.
pub const MAX_ENTRY_BYTES: usize = 16 * 1024;
/// Page size of searches (AD's default MaxPageSize is 1,000).
const PAGE_SIZE: i32 = 500;
/// Users, not computers (which are `user` objects too).
const USERS: &str = "(&(objectClass=user)(!(objectClass=computer)))";
const ATTRS: [&str; 9] = [
    "objectGUID",
    "mS-DS-ConsistencyGuid",
    "objectSid",
    "userAccountControl",
    "userPrincipalName",
    "sAMAccountName",
    "adminCount",
    "msExchRecipientTypeDetails",
    "msExchHomeServerName",
];

/// `msExchRecipientTypeDetails` of mailboxes hosted by an on-premises Exchange server
/// (UserMailbox, LinkedMailbox, SharedMailbox, LegacyMailbox, RoomMailbox, EquipmentMailbox);
/// a mailbox moved to Exchange Online is a RemoteUserMailbox (2147483648) and not among them.
const ON_PREMISES_MAILBOXES: [u64; 6] = [1, 2, 4, 8, 16, 32];

/// An AD user as the operator reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryUser {
    /// Its DN.
    pub dn: String,
    /// `objectGUID` (AD byte order).
    pub object_guid: [u8; 16],
    /// `mS-DS-ConsistencyGuid`, when set (16 bytes).
    pub consistency_guid: Option<[u8; 16]>,
    /// `objectSid` as `S-1-5-21-…`.
    pub sid: Option<String>,
    /// `userPrincipalName`.
    pub upn: Option<String>,
    /// `sAMAccountName`.
    pub sam_account_name: Option<String>,
    /// `userAccountControl`.
    pub user_account_control: u32,
    /// `adminCount=1`: protected by AdminSDHolder, an administrative object whose Source of
    /// Authority Entra refuses to change.
    pub admin_count: bool,
    /// Its mailbox is on an on-premises Exchange server (`msExchHomeServerName`, or an
    /// on-premises mailbox type in `msExchRecipientTypeDetails`): Microsoft requires mailboxes
    /// in Exchange Online before conversion.
    pub mailbox_on_premises: bool,
}

impl DirectoryUser {
    /// The source anchor Entra Connect uses: the consistency GUID, else the objectGUID.
    pub fn anchor(&self) -> [u8; 16] {
        self.consistency_guid.unwrap_or(self.object_guid)
    }

    /// The ImmutableID its cloud twin must carry.
    pub fn immutable_id(&self) -> String {
        anchor::immutable_id(&self.anchor())
    }

    /// Whether the account is enabled.
    pub fn enabled(&self) -> bool {
        self.user_account_control & ACCOUNT_DISABLED == 0
    }

    fn from_entry(e: SearchEntry) -> Option<Self> {
        use super::entry::{value_bytes, value_guid, value_text};
        let text = |name: &str| value_text(&e, name);
        let object_guid = value_guid(&e, "objectGUID")?;
        Some(DirectoryUser {
            object_guid,
            consistency_guid: value_guid(&e, "mS-DS-ConsistencyGuid"),
            sid: value_bytes(&e, "objectSid").and_then(|v| anchor::sid_string(&v)),
            upn: text("userPrincipalName"),
            sam_account_name: text("sAMAccountName"),
            user_account_control: text("userAccountControl")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            admin_count: text("adminCount").is_some_and(|v| v.trim() == "1"),
            mailbox_on_premises: text("msExchHomeServerName").is_some_and(|v| !v.is_empty())
                || text("msExchRecipientTypeDetails")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .is_some_and(|t| ON_PREMISES_MAILBOXES.contains(&t)),
            dn: e.dn,
        })
    }
}

/// A bound connection to the directory.
pub struct AdClient {
    ldap: ldap3::Ldap,
    settings: AdSettings,
}

impl std::fmt::Debug for AdClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn connect_error(url: &str, e: ldap3::LdapError) -> AdError {
    let tls = match &e {
        ldap3::LdapError::Rustls { .. } | ldap3::LdapError::DNSName { .. } => true,
        ldap3::LdapError::Io { source } => source.get_ref().is_some_and(|inner| {
            inner
                .downcast_ref::<tokio_rustls::rustls::Error>()
                .is_some()
        }),
        // StartTLS refused by the server.
        ldap3::LdapError::LdapResult { .. } => true,
        _ => false,
    };
    AdError::Connect {
        url: url.to_string(),
        detail: e.to_string(),
        category: if tls {
            AdErrorCategory::Tls
        } else {
            AdErrorCategory::Unreachable
        },
    }
}

impl AdClient {
    /// Connect (TLS, StartTLS or plain as configured) and bind.
    pub async fn connect(settings: &AdSettings) -> Result<Self, AdError> {
        let span = info_span!("ldap_connect", url = %settings.url);
        async {
            let mut s = LdapConnSettings::new().set_conn_timeout(settings.timeout);
            if settings.transport == Transport::StartTls {
                s = s.set_starttls(true);
            }
            if settings.transport != Transport::Plain
                && let Some(config) = settings.tls_config()?
            {
                s = s.set_config(config);
            }
            let (conn, mut ldap) = LdapConnAsync::with_settings(s, &settings.url)
                .await
                .map_err(|e| connect_error(&settings.url, e))?;
            ldap3::drive!(conn);
            let bound = ldap
                .with_timeout(settings.timeout)
                .simple_bind(&settings.bind_dn, settings.password.expose())
                .await
                .map_err(|e| connect_error(&settings.url, e))?;
            if bound.rc != 0 {
                return Err(match bound.rc {
                    49 | 50 | 53 => AdError::Bind {
                        url: settings.url.clone(),
                        bind_dn: settings.bind_dn.clone(),
                        rc: bound.rc,
                        detail: bound.text,
                    },
                    rc => AdError::Operation {
                        operation: "bind",
                        target: settings.bind_dn.clone(),
                        rc,
                        detail: bound.text,
                    },
                });
            }
            debug!("bound");
            Ok(AdClient {
                ldap,
                settings: settings.clone(),
            })
        }
        .instrument(span)
        .await
    }

    /// The settings this client was made with.
    pub fn settings(&self) -> &AdSettings {
        &self.settings
    }

    /// Every user below `base` matching `extra` (an already escaped filter, or none), paged;
    /// more than `max_entries` entries, or one larger than [`MAX_ENTRY_BYTES`], is an error.
    async fn search(
        &self,
        base: &str,
        extra: Option<&str>,
        max_entries: usize,
    ) -> Result<Vec<DirectoryUser>, AdError> {
        let filter = match extra {
            Some(f) => format!("(&{USERS}{f})"),
            None => USERS.to_string(),
        };
        let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(PAGE_SIZE)),
        ];
        let mut ldap = self.ldap.clone();
        let mut stream = ldap
            .with_timeout(self.settings.timeout)
            .streaming_search_with(adapters, base, Scope::Subtree, &filter, ATTRS.to_vec())
            .await
            .map_err(|e| AdError::from_ldap("search", base, e))?;
        let mut out = Vec::new();
        let mut tally = Tally::new(base, max_entries);
        while let Some(entry) = stream
            .next()
            .await
            .map_err(|e| AdError::from_ldap("search", base, e))?
        {
            let entry = SearchEntry::construct(entry);
            tally.admit(&entry)?;
            if let Some(u) = DirectoryUser::from_entry(entry) {
                out.push(u);
            }
        }
        stream
            .finish()
            .await
            .success()
            .map_err(|e| AdError::from_ldap("search", base, e))?;
        Ok(out)
    }

    /// Every user below `ou`.
    pub async fn users_in(&self, ou: &str) -> Result<Vec<DirectoryUser>, AdError> {
        self.search(ou, None, MAX_ENTRIES).await
    }

    /// Every user in sync scope (below any of the synchronised OUs), each once.
    pub async fn synced_users(&self) -> Result<Vec<DirectoryUser>, AdError> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for ou in &self.settings.synced_ous {
            for u in self.users_in(ou).await? {
                if seen.insert(u.object_guid) {
                    out.push(u);
                }
            }
        }
        Ok(out)
    }

    /// The user with this `objectGUID`, anywhere below the base DN.
    pub async fn user_by_guid(&self, guid: &[u8; 16]) -> Result<Option<DirectoryUser>, AdError> {
        let f = format!("(objectGUID={})", anchor::filter_bytes(guid));
        Ok(self
            .search(&self.settings.base_dn, Some(&f), MAX_LOOKUP_ENTRIES)
            .await?
            .into_iter()
            .next())
    }

    /// The user with this source anchor (consistency GUID, or objectGUID where it has none).
    pub async fn user_by_anchor(
        &self,
        anchor_bytes: &[u8; 16],
    ) -> Result<Option<DirectoryUser>, AdError> {
        let b = anchor::filter_bytes(anchor_bytes);
        let f = format!("(|(mS-DS-ConsistencyGuid={b})(objectGUID={b}))");
        let found = self
            .search(&self.settings.base_dn, Some(&f), MAX_LOOKUP_ENTRIES)
            .await?;
        Ok(found.into_iter().find(|u| &u.anchor() == anchor_bytes))
    }

    /// The user with this UPN.
    pub async fn user_by_upn(&self, upn: &str) -> Result<Option<DirectoryUser>, AdError> {
        let f = format!("(userPrincipalName={})", ldap3::ldap_escape(upn));
        Ok(self
            .search(&self.settings.base_dn, Some(&f), MAX_LOOKUP_ENTRIES)
            .await?
            .into_iter()
            .next())
    }

    /// Move the object `dn` below `new_parent` (its RDN kept); returns the new DN.
    pub async fn move_to(&self, dn: &str, new_parent: &str) -> Result<String, AdError> {
        let rdn = super::dn::first_rdn(dn).to_string();
        let mut ldap = self.ldap.clone();
        ldap.with_timeout(self.settings.timeout)
            .modifydn(dn, &rdn, true, Some(new_parent))
            .await
            .and_then(|r| r.success())
            .map_err(|e| AdError::from_ldap("move", dn, e))?;
        Ok(format!("{rdn},{new_parent}"))
    }

    /// Enable or disable the account `dn` (userAccountControl bit 2); returns the prior value.
    pub async fn set_enabled(&self, user: &DirectoryUser, enabled: bool) -> Result<u32, AdError> {
        let prior = user.user_account_control;
        let next = if enabled {
            prior & !ACCOUNT_DISABLED
        } else {
            prior | ACCOUNT_DISABLED
        };
        if next != prior {
            self.set_user_account_control(&user.dn, next).await?;
        }
        Ok(prior)
    }

    /// Write `userAccountControl` (a revert puts the journaled prior value back).
    pub async fn set_user_account_control(&self, dn: &str, value: u32) -> Result<(), AdError> {
        let v = value.to_string();
        let mut ldap = self.ldap.clone();
        ldap.with_timeout(self.settings.timeout)
            .modify(
                dn,
                vec![Mod::Replace(
                    "userAccountControl",
                    HashSet::from([v.as_str()]),
                )],
            )
            .await
            .and_then(|r| r.success())
            .map_err(|e| AdError::from_ldap("modify", dn, e))?;
        Ok(())
    }

    /// Close the connection.
    pub async fn close(mut self) {
        // Best effort: the server drops the connection on its own when the socket closes.
        let _ = self.ldap.unbind().await;
    }
}

/// Counts a search's entries against its caps, before any is kept.
struct Tally<'a> {
    base: &'a str,
    max_entries: usize,
    seen: usize,
}

impl<'a> Tally<'a> {
    fn new(base: &'a str, max_entries: usize) -> Self {
        Tally {
            base,
            max_entries,
            seen: 0,
        }
    }

    /// One more entry: an error past the count, or when the entry is larger than any user
    /// AD can hold (rc 4, sizeLimitExceeded, as a server's own cap would say).
    fn admit(&mut self, entry: &SearchEntry) -> Result<(), AdError> {
        self.seen += 1;
        let refuse = |detail: String| AdError::Operation {
            operation: "search",
            target: self.base.to_string(),
            rc: 4,
            detail,
        };
        if self.seen > self.max_entries {
            return Err(refuse(format!(
                "more than {} entries; narrow syncedOus",
                self.max_entries
            )));
        }
        let size = entry_bytes(entry);
        if size > MAX_ENTRY_BYTES {
            return Err(refuse(format!(
                "an entry of {size} bytes, over the {MAX_ENTRY_BYTES} an AD user can take"
            )));
        }
        Ok(())
    }
}

/// An entry's size: its DN, attribute names and values (text and binary).
fn entry_bytes(e: &SearchEntry) -> usize {
    let text = e
        .attrs
        .iter()
        .map(|(k, vs)| k.len() + vs.iter().map(String::len).sum::<usize>());
    let binary = e
        .bin_attrs
        .iter()
        .map(|(k, vs)| k.len() + vs.iter().map(Vec::len).sum::<usize>());
    e.dn.len() + text.chain(binary).sum::<usize>()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn entry(dn: &str, upn: &str) -> SearchEntry {
        SearchEntry {
            dn: dn.into(),
            attrs: HashMap::from([("userPrincipalName".into(), vec![upn.into()])]),
            bin_attrs: HashMap::from([("objectGUID".into(), vec![vec![7; 16]])]),
        }
    }

    #[test]
    fn entries_are_counted_kept_or_not() {
        let mut t = Tally::new("OU=Users,DC=corp", 3);
        let e = entry("CN=a,OU=Users,DC=corp", "a@corp.example");
        for _ in 0..3 {
            t.admit(&e).unwrap();
        }
        let err = t.admit(&e).unwrap_err();
        assert!(err.to_string().contains("more than 3 entries"), "{err}");
        assert_eq!(err.category(), AdErrorCategory::Refused);
    }

    #[test]
    fn an_entry_larger_than_ad_allows_is_refused() {
        let mut t = Tally::new("DC=corp", MAX_ENTRIES);
        let fits = entry("CN=a,DC=corp", &"u".repeat(1024));
        t.admit(&fits).unwrap();
        let huge = entry("CN=a,DC=corp", &"u".repeat(MAX_ENTRY_BYTES));
        let err = t.admit(&huge).unwrap_err();
        assert!(err.to_string().contains("an entry of"), "{err}");
        assert!(!err.to_string().contains("uuuu"), "{err}");
        assert_eq!(
            entry_bytes(&entry("CN=a", "b")),
            4 + "userPrincipalName".len() + 1 + "objectGUID".len() + 16
        );
    }
}
