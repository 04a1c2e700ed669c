//! The rollout engine: one driver for every per-object conversion kind (users, groups).
//!
//! A pass reads its inputs, validates the spec once into a typed value, observes (the kind
//! selects its objects and reads its journal), classifies, decides the next step (pure,
//! [`plan`]), acts (a wave), and writes the status. What differs between kinds (how objects
//! are selected, the steps of one object and how they are verified, what drift means, the
//! words) sits behind the [`Rollout`] trait; everything else (blast radius, `mode: Plan`,
//! canary and waves, pauses, halting on failures, drift reporting, counts, conditions) is
//! here, once.

pub mod approval;
pub mod consistency;
pub mod eta;
mod failure;
mod gate;
mod overlap;
pub mod plan;
mod report;
pub mod status;

use std::future::Future;

use tracing::{Instrument, info, info_span};

use kube::core::object::{HasSpec, HasStatus};

use crate::api::common::{ConversionMode, ObjectFailure, OnDelete, Rollout as RolloutSpec};
use crate::api::tenant::TenantSyncPolicySpec;
use crate::graph::GraphError;

use super::health::{Conditioned, Pass};
use super::validate::{SpecError, Valid};
use super::{Context, Outcome, ReconcileError, ReconcileEvent, Stall};
pub use failure::{SelectError, at, graph_failed, select_failed};
use plan::{Classified, Step};
pub use report::Preview;
use status::RolloutStatus;

/// What a pass works on.
pub struct Input<'a, S, St> {
    /// The declared state.
    pub spec: &'a S,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// The last status written.
    pub status: Option<&'a St>,
    /// The tenant (`spec.tenantRef`): its id and drift policy.
    pub tenant: &'a TenantSyncPolicySpec,
}

/// What every kind's spec declares about its rollout, how it is checked, and the kind's
/// functions that act outside a pass (its permissions, its revert).
pub trait ConversionSpec: Send + Sync + Sized + 'static {
    /// The objects the selector selects.
    type Selection: Send + Sync;
    /// `Plan` or `Apply`.
    fn mode(&self) -> ConversionMode;
    /// `spec.suspend`.
    fn suspend(&self) -> bool;
    /// `spec.rollout`.
    fn rollout(&self) -> &RolloutSpec;
    /// `spec.tenantRef.name`: the TenantSyncPolicy it acts for.
    fn tenant_ref(&self) -> &str;
    /// `spec.onDelete`.
    fn on_delete(&self) -> OnDelete;
    /// Check the spec (no I/O).
    fn validate(&self) -> Result<Valid<'_, Self>, SpecError>;
    /// Resolve the selector (reads only).
    fn select<'a>(
        &'a self,
        graph: &'a crate::graph::GraphClient,
    ) -> impl Future<Output = Result<Self::Selection, SelectError>> + Send + 'a;
    /// `spec.requireApproval`, `spec.approvedPlan`, `spec.planTolerance`.
    fn approval(&self) -> approval::Approval<'_>;
    /// The Graph operations the resource calls (`reconcile::permissions`).
    fn operations(&self) -> Vec<crate::graph::Operation>;
    /// The application permissions the resource needs (named in stall messages).
    fn permissions(&self) -> Vec<&'static str> {
        super::permissions::needed(&self.operations())
    }
    /// Undo what a resource of this kind did, from its journal (`onDelete: Revert`).
    fn revert<'a>(
        ctx: &'a Context<'a>,
        tenant_id: &'a str,
    ) -> impl Future<Output = Result<super::RevertOutcome, ReconcileError>> + Send + 'a;
}

/// How a kind names things in status and messages.
#[derive(Clone, Copy, Debug)]
pub struct Words {
    /// The resource kind, e.g. `CloudUserConversion`.
    pub kind: &'static str,
    /// The objects, plural, e.g. `users`.
    pub objects: &'static str,
    /// What converged means, e.g. `every selected user is cloud-managed`.
    pub converged: &'static str,
    /// What a finished revert did, after the count, e.g. `users switched back to AD …`.
    pub reverted: &'static str,
}

/// The spec of rollout kind `K`.
pub type SpecOf<K> = <K as HasSpec>::Spec;
/// The status of rollout kind `K`.
pub type StatusOf<K> = <K as HasStatus>::Status;
/// The selection of rollout kind `K`.
pub type SelectionOf<K> = <SpecOf<K> as ConversionSpec>::Selection;
/// What a pass of kind `K` works on.
pub type InputOf<'a, K> = Input<'a, SpecOf<K>, StatusOf<K>>;

/// What the kind's steps see of the pass.
pub struct Cx<'a, S> {
    /// Graph, the journal, the time.
    pub ctx: &'a Context<'a>,
    /// The spec, checked.
    pub spec: Valid<'a, S>,
    /// The tenant policy.
    pub tenant: &'a TenantSyncPolicySpec,
    /// Only reads: the CLI's `plan` (nothing is written, not even the journal).
    pub preview: bool,
}

impl<S: ConversionSpec> Cx<'_, S> {
    /// Whether the pass may write (journal included).
    pub fn applies(&self) -> bool {
        !self.preview && self.spec.mode() == ConversionMode::Apply
    }
}

/// What a wave did, in the engine's terms.
#[derive(Debug, Default)]
pub struct WaveDone {
    /// Objects fully converted.
    pub converted: i64,
    /// Objects that failed, with why.
    pub failures: Vec<ObjectFailure>,
    /// A failure that stopped the wave: missing permission or refused credentials.
    pub fatal: Option<GraphError>,
    /// Appended to the `WaveCompleted` note (e.g. ", 3 owners added").
    pub note: String,
    /// Events after `WaveCompleted`.
    pub events: Vec<ReconcileEvent>,
}

/// The kind's selection, as the engine counts it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Matched {
    /// Objects the selector matched, exclusions included.
    pub matched: i64,
    /// The selection stopped counting past `maxObjects`.
    pub truncated: bool,
    /// Objects excluded (by the spec, or as sync service accounts).
    pub excluded: i64,
    /// Objects named in the selector that do not exist.
    pub missing: i64,
}

/// The status list of exclusions: the excluded objects, then those named but missing (as
/// `not_found` makes them), at most [`status::MAX_LISTED`].
pub fn exclusions<E: Clone>(
    excluded: &[E],
    missing: &[String],
    not_found: impl Fn(&String) -> E,
) -> Vec<E> {
    excluded
        .iter()
        .cloned()
        .chain(missing.iter().map(not_found))
        .take(status::MAX_LISTED)
        .collect()
}

/// A per-object conversion kind (the custom resource itself): what differs between users
/// and groups.
pub trait Rollout:
    HasSpec<Spec: ConversionSpec>
    + HasStatus<Status: RolloutStatus>
    + kube::Resource<DynamicType = ()>
    + Clone
    + serde::Serialize
    + Send
    + Sync
    + 'static
{
    /// What a pass read: the selection, the journal, the kind's own findings.
    type World: Send + Sync;
    /// One object of a wave (or where to find it in the world).
    type Item: Clone + Send + Sync + std::fmt::Debug;

    /// How the kind names things.
    const WORDS: Words;

    /// With the selection, read the journal (settling what a stop left open when the pass
    /// applies) and what else the kind needs; `Err(Stall)` ends the pass.
    fn observe<'a>(
        cx: &'a Cx<'a, SpecOf<Self>>,
        selection: SelectionOf<Self>,
        pass: &'a mut Pass<StatusOf<Self>>,
    ) -> impl Future<Output = Result<Result<Self::World, Stall>, ReconcileError>> + Send + 'a;

    /// Sort the selection by what it needs, in the order waves take it.
    fn classify(cx: &Cx<'_, SpecOf<Self>>, world: &Self::World) -> Classified<Self::Item>;

    /// How many objects the selector matched.
    fn matched(world: &Self::World) -> Matched;

    /// An object's name in status and messages.
    fn name(world: &Self::World, item: &Self::Item) -> String;

    /// The kind's own status fields (exclusions, …).
    fn tally(world: &Self::World, classified: &Classified<Self::Item>, status: &mut StatusOf<Self>);

    /// Work that follows the decision in the same pass (users: their AD objects), when the
    /// step acts. Returns how many of its changes failed: those stay in `recentFailures`.
    fn follow_up<'a>(
        _cx: &'a Cx<'a, SpecOf<Self>>,
        _world: &'a Self::World,
        _waiting: &'a [String],
        _pass: &'a mut Pass<StatusOf<Self>>,
    ) -> impl Future<Output = Result<usize, ReconcileError>> + Send + 'a {
        async { Ok(0) }
    }

    /// `mode: Plan`: what `Apply` would do, in words.
    fn plan_message(
        world: &Self::World,
        classified: &Classified<Self::Item>,
        waves: usize,
        summary: &str,
    ) -> String;

    /// Objects wait for something outside the operator: what, in words.
    fn waiting_message(
        world: &Self::World,
        classified: &Classified<Self::Item>,
        summary: &str,
    ) -> String {
        let _ = world;
        format!(
            "{} {} wait for a change outside the operator; {summary}",
            classified.waiting.len(),
            Self::WORDS.objects
        )
    }

    /// Convert one wave, journaling every change before it is made; the kind's own status
    /// fields may change on the way.
    fn run_wave<'a>(
        cx: &'a Cx<'a, SpecOf<Self>>,
        world: &'a Self::World,
        items: Vec<Self::Item>,
        status: &'a mut StatusOf<Self>,
    ) -> impl Future<Output = Result<WaveDone, ReconcileError>> + Send + 'a;

    /// The object ids the selector selected (exclusions left out), for `plan` to find
    /// objects two resources select.
    fn selected(world: &Self::World) -> impl Iterator<Item = &str>;

    /// The selected objects by id and name, for `plan -o json` to list each.
    fn named(world: &Self::World) -> Vec<(String, String)>;

    /// An object's id.
    fn object_id(world: &Self::World, item: &Self::Item) -> String;

    /// What a wave does to an object, in a word or two (`plan -o json`).
    fn action(_world: &Self::World, _item: &Self::Item) -> &'static str {
        "convert"
    }

    /// The link audit of this pass with every finding, for `plan` (kinds that audit).
    fn audit(_world: &Self::World) -> Option<crate::api::active_directory::LinkAudit> {
        None
    }

    /// The requests `apply` would send, for `plan` (reads only).
    fn describe(
        cx: &Cx<'_, SpecOf<Self>>,
        world: &Self::World,
        classified: &Classified<Self::Item>,
        step: &Step<Self::Item>,
    ) -> Vec<super::outcome::PlannedChange>;
}

/// A pass that could not start (no tenant or credentials, say): `Stalled`, no Graph call.
pub fn stall<K: Rollout>(
    input: InputOf<'_, K>,
    now: jiff::Timestamp,
    stall: Stall,
) -> Outcome<StatusOf<K>> {
    begin::<K>(&input, now).0.stall(stall)
}

/// One reconcile pass of kind `K`.
pub async fn reconcile<K: Rollout>(
    input: InputOf<'_, K>,
    ctx: &Context<'_>,
) -> Result<Outcome<StatusOf<K>>, ReconcileError> {
    let span = info_span!("reconcile", kind = K::WORDS.kind, resource = %ctx.resource);
    run::<K>(input, ctx).instrument(span).await
}

/// The status to build on, reset for a new generation, and whether it is one.
fn begin<K: Rollout>(input: &InputOf<'_, K>, now: jiff::Timestamp) -> (Pass<StatusOf<K>>, bool) {
    let mut status = input.status.cloned().unwrap_or_default();
    let fresh = input.status.and_then(|s| s.observed_generation()) != input.generation;
    if fresh {
        // A new instruction: a halted rollout resumes, waves count anew.
        let p = status.progress();
        *p.phase = None;
        *p.waves_completed = 0;
        *p.last_wave_at = None;
    }
    let pass = Pass {
        status,
        generation: input.generation,
        now,
        events: Vec::new(),
    };
    (pass, fresh)
}

async fn run<K: Rollout>(
    input: InputOf<'_, K>,
    ctx: &Context<'_>,
) -> Result<Outcome<StatusOf<K>>, ReconcileError> {
    let (mut pass, fresh) = begin::<K>(&input, ctx.now);
    let cx = match checked::<K>(&input, ctx, false) {
        Ok(cx) => cx,
        Err(stall) => return Ok(pass.stall(stall)),
    };
    if cx.spec.suspend() {
        pass.status.set_observed_generation(input.generation);
        return Ok(Outcome {
            status: pass.status,
            events: pass.events,
            requeue_after: None,
        });
    }
    let (world, classified, step) = match decided::<K>(&cx, &mut pass, fresh).await? {
        Ok(d) => d,
        Err(stall) => return Ok(pass.stall(stall)),
    };
    overlap::register::<K>(&cx, &world);
    info!(
        ?step,
        matched = K::matched(&world).matched,
        pending = classified.pending_count(),
        "decided"
    );
    let summary = report::tally::<K>(&world, &classified, &step, &mut pass);
    *pass.status.progress().plan = Some(digest::<K>(&cx, &world).to_status());
    let mut kept_failures = 0;
    if cx.applies() && step.acts() {
        if let Some(wait) = overlap::waiting::<K>(&cx) {
            return Ok(pass.finish(wait, Some(overlap::RECHECK)));
        }
        if let Err(stall) = gate::check::<K>(&cx, &world, &classified).await? {
            return Ok(pass.stall(stall));
        }
        kept_failures = K::follow_up(&cx, &world, &classified.waiting, &mut pass).await?;
    }
    match step {
        Step::Wave { items, canary } => {
            let size = items.len();
            let done = K::run_wave(&cx, &world, items, &mut pass.status).await?;
            Ok(report::after_wave::<K>(pass, &cx, size, canary, done))
        }
        step => Ok(report::conclude::<K>(
            pass,
            &cx,
            &world,
            &classified,
            step,
            &summary,
            kept_failures,
        )),
    }
}

/// The plan of the selection a pass observed (to approve under `spec.requireApproval`).
fn digest<K: Rollout>(cx: &Cx<'_, SpecOf<K>>, world: &K::World) -> approval::ConversionDigest {
    approval::ConversionDigest::new(&cx.tenant.tenant_id, K::WORDS.objects, K::selected(world))
}

/// What the kind's steps see, once the spec is checked (into a typed value, once a pass).
fn checked<'a, K: Rollout>(
    input: &InputOf<'a, K>,
    ctx: &'a Context<'a>,
    preview: bool,
) -> Result<Cx<'a, SpecOf<K>>, Stall> {
    let spec = input
        .spec
        .validate()
        .map_err(|e| Stall::invalid_spec(e.to_string()))?;
    approval::validate(&input.spec.approval(), K::WORDS.objects).map_err(Stall::invalid_spec)?;
    Ok(Cx {
        ctx,
        spec,
        tenant: input.tenant,
        preview,
    })
}

/// Observe, classify and decide: what a pass and the preview share.
async fn decided<K: Rollout>(
    cx: &Cx<'_, SpecOf<K>>,
    pass: &mut Pass<StatusOf<K>>,
    fresh: bool,
) -> Result<Result<(K::World, Classified<K::Item>, Step<K::Item>), Stall>, ReconcileError> {
    let world = match observe::<K>(cx, pass).await? {
        Ok(w) => w,
        Err(stall) => return Ok(Err(stall)),
    };
    let classified = K::classify(cx, &world);
    let step = decide::<K>(cx, &world, &classified, &mut pass.status, fresh);
    Ok(Ok((world, classified, step)))
}

/// Select, then let the kind observe the rest; a selection Graph refused stalls.
async fn observe<K: Rollout>(
    cx: &Cx<'_, SpecOf<K>>,
    pass: &mut Pass<StatusOf<K>>,
) -> Result<Result<K::World, Stall>, ReconcileError> {
    let selection = match cx.spec.spec.select(cx.ctx.graph).await {
        Ok(s) => s,
        Err(e) => return select_failed(cx, e).map(Err),
    };
    K::observe(cx, selection, pass).await
}

fn decide<K: Rollout>(
    cx: &Cx<'_, SpecOf<K>>,
    world: &K::World,
    classified: &Classified<K::Item>,
    status: &mut StatusOf<K>,
    fresh: bool,
) -> Step<K::Item> {
    plan::decide(
        &cx.spec.rollout,
        cx.spec.mode(),
        classified,
        status.previous(fresh),
        cx.tenant.drift,
        K::matched(world).truncated,
        cx.ctx.now,
    )
}

/// What `apply` would do next, from reads only: the same observation, classification and
/// decision as a pass, rendered for `plan`.
pub async fn preview<K: Rollout>(
    input: InputOf<'_, K>,
    ctx: &Context<'_>,
) -> Result<Result<Preview, Stall>, ReconcileError> {
    let (mut pass, fresh) = begin::<K>(&input, ctx.now);
    let cx = match checked::<K>(&input, ctx, true) {
        Ok(cx) => cx,
        Err(stall) => return Ok(Err(stall)),
    };
    let (world, classified, step) = match decided::<K>(&cx, &mut pass, fresh).await? {
        Ok(d) => d,
        Err(stall) => return Ok(Err(stall)),
    };
    let mut preview = report::preview::<K>(&cx, &world, &classified, &step);
    let ops = cx.spec.spec.operations();
    preview.permissions = Some(super::preflight::check(ctx.graph, &ops).await?);
    Ok(Ok(preview))
}
