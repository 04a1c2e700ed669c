//! The reconcilers over manifest files, without a cluster: `apply` drives each resource until
//! it is Ready or Stalled; `plan` observes and says what would change, writing nothing.

pub mod credentials;
pub mod directory;
mod groups;
pub mod manifests;
pub mod output;
pub mod progress;
mod runnables;
pub mod runner;
pub mod schema;
mod stop;

pub use runner::{PlanReport, Ran, RunOptions, RunResult, Settled, Stop, apply, apply_until, plan};
