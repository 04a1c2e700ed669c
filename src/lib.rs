//! entra-cloud-operator: converts Entra Connect-synchronised identities into cloud-managed
//! identities in Microsoft Entra ID by driving Microsoft Graph toward the state declared in
//! custom resources.
//!
//! The reconcilers (`reconcile`) are independent of Kubernetes; the local runner (`local`)
//! drives them from manifest files, and the emulator (`emulator`) stands in for Graph.

pub mod ad;
pub mod api;
pub mod clock;
pub mod controller;
pub mod demo;
pub mod duration;
pub mod emulator;
pub mod endpoints;
pub mod graph;
pub mod guid;
pub mod input;
pub mod journal;
pub mod local;
pub mod reasons;
pub mod reconcile;
