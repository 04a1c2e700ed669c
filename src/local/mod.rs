//! The reconcilers over manifest files, without a cluster: `apply` drives each resource until
//! it is Ready or Stalled; `plan` observes and says what would change, writing nothing;
//! `revert` undoes, from the journal, what the conversions did.

pub mod conflicts;
pub mod credentials;
pub mod directory;
pub mod journal_cmd;
pub mod journal_report;
pub mod journal_view;
pub mod manifests;
pub mod output;
mod plan;
pub mod progress;
pub mod revert;
pub mod runner;
pub mod saved_plan;
pub mod schema;
mod stop;

pub use plan::{PlanReport, Verdict, plan};
pub use runner::{Ran, RunOptions, RunResult, Settled, Stop, apply, apply_until};
