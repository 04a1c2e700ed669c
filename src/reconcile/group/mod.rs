//! Per-object conversion of groups (`CloudGroupConversion`): select (with nested groups),
//! exclude, guard the blast radius, order bottom-up, then convert wave by wave (canary first):
//! journal each prior value, switch the Source of Authority, verify it and the membership, add
//! the owners; halt when a wave fails too often; watch the converted groups for AD taking them
//! back. Mail-enabled groups are reported as Exchange-managed once converted.

mod confirm;
pub mod convert;
pub mod order;
pub mod plan;
pub mod prerequisites;
pub mod revert;
pub mod select;
pub mod steps;
pub mod validate;

use crate::api::group::{
    CloudGroupConversion, CloudGroupConversionSpec, CloudGroupConversionStatus, GroupExclusion,
};
use crate::journal::{Action, Phase, Record};
use crate::reconcile::health::Pass;
use crate::reconcile::outcome::PlannedChange;
use crate::reconcile::rollout::plan::{Classified, Step};
use crate::reconcile::rollout::status::{MAX_LISTED, listed};
use crate::reconcile::rollout::{self, Cx, Matched, Rollout, WaveDone, Words};
use crate::reconcile::settle::{self, OpenIntents};
use crate::reconcile::{ReconcileError, ReconcileEvent, Stall};
use plan::{Done, Work};

/// What a pass of a group conversion read.
pub struct World {
    /// The selected groups, their nesting and owners.
    pub sel: select::Selection,
    /// The selected groups' ids, bottom-up.
    pub order: Vec<String>,
    /// What this resource did before (journal).
    pub done: Done,
    /// Groups it switched that do not read back yet, within the consistency window.
    pub confirming: std::collections::BTreeSet<String>,
}

/// Record what an applied journal record says this resource did.
/// What a pass reads from the journal: what was done and what was left open (kept by the
/// journal between passes, so a steady pass reads only what is new).
#[derive(Clone, Default)]
struct GroupScan {
    done: Done,
    open: OpenIntents,
}

impl crate::journal::Scan for GroupScan {
    fn feed(&mut self, e: &crate::journal::Entry) {
        self.open.visit(&e.record);
        take(e.record.clone(), &mut self.done);
    }
}

fn take(r: Record, done: &mut Done) {
    if r.phase != Phase::Applied {
        return;
    }
    match r.action {
        Action::SwitchToCloud => {
            done.switched.insert(r.object_id);
        }
        Action::AddOwner => {
            if let Some(owner) = r.prior.get("owner").and_then(|o| o.as_str()) {
                done.owners.insert((r.object_id, owner.to_string()));
            }
        }
        _ => {}
    }
}

impl Rollout for CloudGroupConversion {
    type World = World;
    type Item = Work;

    const WORDS: Words = crate::reconcile::kinds::GROUPS;

    async fn observe<'a>(
        cx: &'a Cx<'a, CloudGroupConversionSpec>,
        sel: select::Selection,
        pass: &'a mut Pass<CloudGroupConversionStatus>,
    ) -> Result<Result<World, Stall>, ReconcileError> {
        let ctx = cx.ctx;
        if !sel.missing_owners.is_empty() {
            let msg = format!(
                "spec.owners: no such user in the tenant: {}; fix the UPN or object id",
                listed(&sel.missing_owners)
            );
            return Ok(Err(Stall::fixable(crate::reasons::OWNER_NOT_FOUND, msg)));
        }
        let ids: Vec<String> = sel.candidates.keys().cloned().collect();
        let order = match order::bottom_up(&ids, &sel.nesting) {
            Ok(o) => o,
            Err(cycle) => {
                let names: Vec<String> = cycle
                    .iter()
                    .filter_map(|id| sel.candidates.get(id).map(|c| c.name.clone()))
                    .collect();
                let msg = format!(
                    "spec.selector: these groups are nested in one another in a cycle, so there is no bottom-up order to convert them in: {}. Break the cycle in AD, or exclude one of them (spec.exclude.groupIds)",
                    listed(&names)
                );
                return Ok(Err(Stall::fixable(crate::reasons::NESTING_CYCLE, msg)));
            }
        };
        let GroupScan { mut done, open } =
            crate::journal::scan::<GroupScan>(ctx.journal, &ctx.resource).await?;
        // Changes a stop left without an outcome are settled by reading them back first, so
        // the plan sees the journal as Graph is.
        if cx.applies() && !open.is_empty() {
            let records =
                settle::settle(ctx, open, |r| settle::group_change_made(ctx.graph, r)).await?;
            pass.events.extend(settle::resumed_event(&records));
            for r in records {
                take(r, &mut done);
            }
        }
        // The selection may lag behind the switches (eventual consistency): confirmed
        // through per-object reads; within the window after the last wave, a group that does
        // not read back yet waits.
        let last_wave = pass.status.last_wave_at.as_ref().map(|t| t.0);
        let within = rollout::consistency::within_window(last_wave, ctx.now);
        let mut sel = sel;
        let confirming = match confirm::waiting(ctx, &mut sel, &done.switched, within).await {
            Ok(c) => c,
            Err(e) => return rollout::graph_failed(cx, e).map(Err),
        };
        pass.status.prerequisites = prerequisites::check(cx.spec.spec, &sel);
        Ok(Ok(World {
            sel,
            order,
            done,
            confirming,
        }))
    }

    fn classify(_: &Cx<'_, CloudGroupConversionSpec>, world: &World) -> Classified<Work> {
        plan::classify(&world.sel, &world.done, &world.order, &world.confirming)
    }

    fn matched(world: &World) -> Matched {
        Matched {
            matched: world.sel.matched,
            truncated: world.sel.truncated,
            excluded: world.sel.excluded.len() as i64,
            missing: world.sel.missing.len() as i64,
        }
    }

    fn selected(world: &World) -> impl Iterator<Item = &str> {
        world.sel.candidates.keys().map(String::as_str)
    }

    fn named(world: &World) -> Vec<(String, String)> {
        let c = world.sel.candidates.values();
        c.map(|g| (g.id.clone(), g.name.clone())).collect()
    }

    fn object_id(_: &World, item: &Work) -> String {
        item.group.id.clone()
    }

    fn action(_: &World, item: &Work) -> &'static str {
        if item.switch { "convert" } else { "add owners" }
    }

    fn name(_: &World, item: &Work) -> String {
        item.group.name.clone()
    }

    fn tally(world: &World, _: &Classified<Work>, st: &mut CloudGroupConversionStatus) {
        let sel = &world.sel;
        st.exclusions = rollout::exclusions(&sel.excluded, &sel.missing, |id| GroupExclusion {
            id: id.clone(),
            display_name: None,
            reason: "NotFound".into(),
        });
        st.exchange_managed = plan::exchange_managed(sel, &world.order)
            .into_iter()
            .take(MAX_LISTED)
            .collect();
    }

    fn plan_message(_: &World, c: &Classified<Work>, waves: usize, summary: &str) -> String {
        let switches = c.pending().filter(|w| w.switch).count();
        let mail = c
            .pending()
            .filter(|w| w.switch && w.group.exchange_managed)
            .count();
        let owned = c.pending().filter(|w| !w.owners.is_empty()).count();
        format!(
            "plan: would convert {switches} groups bottom-up (nested groups first; {mail} mail-enabled, Exchange-managed afterwards) and add owners to {owned}, in {waves} waves; {summary}"
        )
    }

    async fn run_wave<'a>(
        cx: &'a Cx<'a, CloudGroupConversionSpec>,
        world: &'a World,
        items: Vec<Work>,
        st: &'a mut CloudGroupConversionStatus,
    ) -> Result<WaveDone, ReconcileError> {
        let heights = order::heights(&world.order, &world.sel.nesting);
        // Converted groups prove the token's switches only once this resource has run a wave.
        let converted = if st.waves_completed > 0 {
            st.converted
        } else {
            0
        };
        let earlier = convert::Earlier::new(converted, &st.recent_failures);
        let report = convert::run_wave(
            cx.ctx,
            &cx.tenant.tenant_id,
            &items,
            &heights,
            &world.sel.nesting,
            earlier,
        )
        .await?;
        for name in &report.exchange_managed {
            if st.exchange_managed.len() < MAX_LISTED && !st.exchange_managed.contains(name) {
                st.exchange_managed.push(name.clone());
            }
        }
        let mut note = format!(", {} owners added", report.owners_added);
        if !report.deferred.is_empty() {
            note.push_str(&format!(
                "; {} left for a later wave (a group nested in them failed): {}",
                report.deferred.len(),
                listed(&report.deferred)
            ));
        }
        let mut events = Vec::new();
        if !report.exchange_managed.is_empty() {
            events.push(ReconcileEvent::normal(
                crate::reasons::EXCHANGE_MANAGED,
                "Convert",
                format!(
                    "{} mail-enabled groups are now managed in Exchange Online (Graph refuses writes to them; no owners were added): {}",
                    report.exchange_managed.len(),
                    listed(&report.exchange_managed)
                ),
            ));
        }
        if let Some(first) = report.unconfirmed.first() {
            note.push_str(&format!(
                "; {} switched but not read back yet (eventual consistency; first: {first})",
                report.unconfirmed.len()
            ));
        }
        Ok(WaveDone {
            converted: report.converted,
            failures: report.failures,
            fatal: report.fatal,
            note,
            events,
        })
    }

    fn describe(
        cx: &Cx<'_, CloudGroupConversionSpec>,
        world: &World,
        c: &Classified<Work>,
        step: &Step<Work>,
    ) -> Vec<PlannedChange> {
        let mut changes = plan::describe(&world.sel, c, step);
        let checks = prerequisites::check(cx.spec.spec, &world.sel);
        changes.extend(checks.iter().map(PlannedChange::prerequisite));
        changes
    }
}
