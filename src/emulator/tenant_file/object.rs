//! What the entries of users, groups and contacts share: the object id (given, or derived
//! from the name so that loads repeat), the DC path of a domain, and the synchronisation state
//! both ways (`sync_info` reads an entry's, `state` writes an object's).

use fastrand::Rng;
use jiff::Timestamp;

use super::{StateEntry, TenantFileError, bad, from_entry, parse_time, to_entry};
use crate::emulator::clock::{add_secs, rfc3339};
use crate::emulator::model::{Kind, OnPremIdentity, SyncInfo};
use crate::emulator::seed::guid;

/// FNV-1a: a stable seed from a name, so derived ids and anchors do not change between loads.
pub(super) fn stable_seed(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Whether `s` is a hyphenated GUID (either case).
pub(super) fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The id an entry gives (checked), else one derived from `name`.
pub(super) fn object_id(
    given: Option<&str>,
    what: &str,
    name: &str,
) -> Result<String, TenantFileError> {
    match given {
        Some(id) if is_guid(id) => Ok(id.to_lowercase()),
        Some(id) => Err(bad(format!(
            "{what}: id '{id}' is not a GUID (leave it out to have one generated)"
        ))),
        None => Ok(guid(&mut Rng::with_seed(stable_seed(name)))),
    }
}

/// `DC=fabrikam,DC=com` of `fabrikam.com`.
pub(super) fn dc_path(domain: &str) -> String {
    domain
        .split('.')
        .map(|p| format!("DC={p}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The sync information of an object of `kind` with these AD values and state.
pub(super) fn sync_info(
    what: &str,
    kind: Kind,
    ad: Option<OnPremIdentity>,
    state: Option<&StateEntry>,
    now: Timestamp,
) -> Result<SyncInfo, TenantFileError> {
    let last = |s: Option<&StateEntry>| -> Result<Option<Timestamp>, TenantFileError> {
        s.and_then(|s| s.last_sync.as_deref())
            .map(|t| parse_time(&format!("{what}: state.lastSync"), t))
            .transpose()
    };
    match (kind, ad) {
        (Kind::Synced, Some(ad)) => {
            let Some(state) = state else {
                return Ok(SyncInfo {
                    enabled: Some(true),
                    last_sync: Some(add_secs(now, -120.0)),
                    values: ad.clone(),
                    ad_twin: Some(Box::new(ad)),
                    cloud_managed: false,
                    in_scope: true,
                    joined: true,
                });
            };
            Ok(SyncInfo {
                enabled: state.on_premises_sync_enabled,
                last_sync: last(Some(state))?,
                values: state.shown.as_ref().map_or_else(|| ad.clone(), from_entry),
                ad_twin: Some(Box::new(ad)),
                cloud_managed: state.is_cloud_managed,
                in_scope: state.in_scope,
                joined: state.joined,
            })
        }
        (_, None) => {
            if state.is_some_and(|s| s.on_premises_sync_enabled.is_some() || s.is_cloud_managed) {
                return Err(bad(format!(
                    "{what}: only a synced object has a synchronisation state (set kind: synced)"
                )));
            }
            Ok(SyncInfo {
                last_sync: last(state)?,
                ..SyncInfo::default()
            })
        }
        (_, Some(_)) => Err(bad(format!("{what}: onPremises is only for kind synced"))),
    }
}

/// The `state` of an object's entry (deleted ones: when, and the groups they come back to).
pub(super) fn state(
    sync: &SyncInfo,
    deleted: Option<(&str, &[String], &[String])>,
) -> Option<StateEntry> {
    // Always written: an entry with a state is taken as complete (nothing derived) on load.
    let twin = sync.ad_twin.as_deref();
    let (deleted_date_time, member_of, owner_of) = match deleted {
        Some((at, m, o)) => (Some(at.to_string()), m.to_vec(), o.to_vec()),
        None => (None, Vec::new(), Vec::new()),
    };
    Some(StateEntry {
        on_premises_sync_enabled: sync.enabled,
        is_cloud_managed: sync.cloud_managed,
        in_scope: sync.in_scope,
        joined: sync.joined,
        last_sync: sync.last_sync.map(rfc3339),
        shown: (twin != Some(&sync.values)).then(|| to_entry(&sync.values)),
        deleted_date_time,
        member_of,
        owner_of,
    })
}
