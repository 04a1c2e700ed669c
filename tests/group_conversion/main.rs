//! CloudGroupConversion against the in-process emulator: Plan vs Apply, nested groups
//! bottom-up, members unchanged, owners added once, mail-enabled groups left to Exchange,
//! exclusions, blast radius, auto-halt, drift, missing permission and owners.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod apply;
mod harness;
mod resume;
mod rollout;
