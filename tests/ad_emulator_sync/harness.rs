//! The harness itself: fresh OUs, add, move, read back, GUID round trip, userAccountControl.

use crate::common::samba::{self, guid_string, random_guid, samba_dc};

/// The harness itself: fresh OUs, add, move, read back, GUID round trip, userAccountControl.
#[tokio::test]
async fn harness_drives_the_real_directory() {
    let Some(dc) = samba_dc() else { return };
    let ous = dc.fresh_ous("harness").await;
    assert!(ous.synced.starts_with("OU=Synced,OU=harness-"));
    assert!(dc.users_in(&ous.parent).await.is_empty());

    let g = random_guid();
    let alice = dc.add_user(&ous.synced, "Alice", Some(g)).await;
    let bob = dc.add_user(&ous.synced, "Bob", None).await;
    assert!(alice.sam.len() <= 20 && alice.sam.starts_with("Alice"));
    assert_ne!(alice.sam, bob.sam);
    assert_eq!(alice.upn, format!("{}@{}", alice.sam, samba::UPN_SUFFIX));
    assert_eq!(
        alice.consistency_guid,
        Some(g),
        "the consistency GUID round-trips"
    );
    assert_eq!(bob.consistency_guid, None);
    assert_ne!(alice.object_guid, bob.object_guid);
    assert_eq!(alice.user_account_control, 512, "enabled, normal account");

    // Read back by objectGUID, then move: the GUID stays, the DN changes.
    let by_guid = dc.user(&alice.guid_string()).await.expect("found by GUID");
    assert!(by_guid.dn.eq_ignore_ascii_case(&alice.dn));
    let moved = dc.move_user(&alice.dn, &ous.unsynced).await;
    assert!(moved.ends_with(&ous.unsynced));
    assert!(dc.user(&alice.dn).await.is_none(), "the old DN is gone");
    let after = dc.user(&moved).await.expect("found at the new DN");
    assert_eq!(after.object_guid, alice.object_guid);
    assert_eq!(after.consistency_guid, Some(g));
    let in_synced = dc.users_in(&ous.synced).await;
    assert_eq!(in_synced.len(), 1);
    assert_eq!(in_synced[0].sam, bob.sam);
    assert_eq!(dc.users_in(&ous.unsynced).await, vec![after.clone()]);

    // Set, change and clear the consistency GUID; disable the account.
    let g2 = random_guid();
    dc.set_consistency_guid(&bob.dn, Some(g2)).await;
    assert_eq!(dc.user(&bob.dn).await.unwrap().consistency_guid, Some(g2));
    dc.set_consistency_guid(&moved, None).await;
    assert_eq!(dc.user(&moved).await.unwrap().consistency_guid, None);
    dc.set_user_account_control(&bob.dn, 514).await;
    assert_eq!(dc.user(&bob.dn).await.unwrap().user_account_control, 514);

    // GUID strings use AD byte order (the first three fields little-endian).
    let mut b = [0u8; 16];
    b.iter_mut().enumerate().for_each(|(i, x)| *x = i as u8);
    assert_eq!(guid_string(&b), "03020100-0504-0706-0809-0a0b0c0d0e0f");
    assert!(
        dc.user("00000000-0000-0000-0000-000000000000")
            .await
            .is_none()
    );
}
