//! CloudGroupConversion against the in-process emulator: Plan vs Apply, nested groups
//! bottom-up, members unchanged, owners added once, mail-enabled groups left to Exchange,
//! exclusions, blast radius, auto-halt, drift, missing permission and owners, and the revert
//! under Graph's owner rules (the last owner stays; owners of synced groups are not available).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod apply;
mod harness;
mod resume;
mod revert;
mod rollout;
