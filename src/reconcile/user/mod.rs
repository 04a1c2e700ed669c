//! Per-object conversion of users (`CloudUserConversion`): select, exclude, guard the blast
//! radius, then convert wave by wave (canary first), journaling each prior value, verifying
//! each switch by reading it back, halting when a wave fails too often, and watching the
//! converted users for AD taking them back.

pub mod ad_after;
pub mod ad_follow_up;
pub mod ad_move;
mod ad_revert;
pub mod ad_scan;
pub mod candidate;
mod confirm;
pub mod convert;
pub mod directory;
mod drift;
pub mod memberships;
pub mod plan;
pub mod prerequisites;
pub mod resume;
pub mod revert;
mod revert_anchor;
pub mod select;
pub mod validate;

use tracing::info;

use crate::api::user::{
    CloudUserConversion, CloudUserConversionSpec, CloudUserConversionStatus, Exclusion,
    UserConversionMethod,
};
use crate::guid::IdSet;
use crate::reconcile::health::Pass;
use crate::reconcile::outcome::PlannedChange;
use crate::reconcile::rollout::plan::{Classified, Step, wave_size};
use crate::reconcile::rollout::{self, Cx, Matched, Rollout, WaveDone, Words, graph_failed};
use crate::reconcile::{ReconcileError, ReconcileEvent, Stall};
use select::Candidate;

/// What a pass of a user conversion read.
pub struct World {
    /// The selected users.
    pub selection: select::Selection,
    /// Users this resource switched before (journal).
    pub applied: IdSet,
    /// Users it switched that do not read back yet, within the consistency window.
    pub confirming: IdSet,
    /// The tenant's Active Directory, bound and audited (with `activeDirectory`).
    pub directory: Option<Box<directory::Directory>>,
    /// The selected users' group memberships, as far as they were read or recorded.
    pub memberships: memberships::Seen,
}

impl Rollout for CloudUserConversion {
    type World = World;
    type Item = usize;

    const WORDS: Words = crate::reconcile::kinds::USERS;

    async fn observe<'a>(
        cx: &'a Cx<'a, CloudUserConversionSpec>,
        mut selection: select::Selection,
        pass: &'a mut Pass<CloudUserConversionStatus>,
    ) -> Result<Result<World, Stall>, ReconcileError> {
        let (ctx, spec) = (cx.ctx, cx.spec.spec);
        // Said once per generation (its first pass), not on every pass while it lasts.
        let first_pass = pass.status.observed_generation != pass.generation;
        if cx.applies() && first_pass && !selection.unverified.is_empty() {
            // Graph refuses their conversion one by one; without these reads they fail alone.
            pass.events.push(ReconcileEvent::normal(
                crate::reasons::PRIVILEGED_UNVERIFIED,
                "Select",
                format!(
                    "could not look for privileged users before converting: {}; any among the selection fail alone when Graph refuses them",
                    selection.unverified.join("; ")
                ),
            ));
        }
        // The on-premises side (with `activeDirectory`): bind and audit the links before
        // anything changes; a bad password or an unreachable DC stalls here.
        let directory =
            match directory::prepare(ctx, spec, &selection, &mut pass.status, &mut pass.events)
                .await?
            {
                directory::Prepared::Stall(stall) => return Ok(Err(stall)),
                directory::Prepared::Absent => None,
                directory::Prepared::Ready(d) => Some(d),
            };
        // What only AD shows: administrative objects (AdminSDHolder, `adminCount=1`), whose
        // Source of Authority Entra refuses to change, and users whose mailbox is still on an
        // on-premises Exchange server (Microsoft: move mailboxes to Exchange Online first).
        if let Some(d) = &directory {
            selection.exclude_where(|c| {
                let u = d.audit.joined.get(c.id())?;
                if u.admin_count {
                    Some("AdminSdHolder")
                } else if u.mailbox_on_premises {
                    Some("OnPremisesMailbox")
                } else {
                    None
                }
            });
        }
        // Read entry by entry: one id per converted user and the changes still open are kept.
        let mut scan = resume::JournalScan::read(ctx).await?;
        // Changes a stop left without an outcome are settled by reading them back first, so
        // the plan sees the journal as Graph is.
        if cx.applies() {
            let (settled, records) = resume::settle(ctx, &selection, &scan).await?;
            if settled != resume::Settled::default() {
                info!(
                    applied = settled.applied,
                    abandoned = settled.abandoned,
                    "settled open journal intents"
                );
                pass.events.push(ReconcileEvent::normal(
                    crate::reasons::RESUMED,
                    "Resume",
                    format!(
                        "read back {} changes left without an outcome: {} had been made, {} had not",
                        settled.applied + settled.abandoned,
                        settled.applied,
                        settled.abandoned
                    ),
                ));
            }
            for r in records {
                scan.visit(r);
            }
        }
        let applied = scan.switched;
        // The selection is an advanced query and lags behind writes: what it says of the
        // users this resource changed is confirmed through per-object reads, and within the
        // consistency window after the last wave a user that does not read back yet waits.
        let last_wave = pass.status.last_wave_at.as_ref().map(|t| t.0);
        let within = rollout::consistency::within_window(last_wave, ctx.now);
        confirm::cleared(ctx, &mut selection, &scan.cleared, within).await;
        if spec.method == UserConversionMethod::SourceOfAuthority
            && let Err(e) = confirm::switched(ctx, &mut selection, &applied).await
        {
            return graph_failed(cx, e).map(Err);
        }
        // A user this resource switched that someone switched back is drift at once, before
        // the next sync cycle takes it over: the switch of those that look converted is read
        // back. That is a request per converted user, so it is done once nothing is pending:
        // while a rollout goes on, its passes spend their requests on the waves (a user AD
        // takes back in the meantime reads as synchronised again and is drift all the same).
        if spec.method == UserConversionMethod::SourceOfAuthority
            && plan::classify(spec, &selection, &applied, &IdSet::default())
                .pending()
                .next()
                .is_none()
            && let Err(e) = drift::read_switches(ctx, &mut selection, &applied).await
        {
            return graph_failed(cx, e).map(Err);
        }
        let confirming = confirm::waiting(&selection, &applied, within);
        // Group memberships: what `RestoreDeleted` users lose (recorded before they leave sync
        // scope), or whether `SourceOfAuthority` users come before their groups.
        let size = wave_size(&cx.spec.rollout, pass.status.waves_completed);
        let journaled = std::mem::take(&mut scan.memberships);
        let seen = memberships::observe(cx, &selection, &applied, size, journaled).await?;
        if let (true, Some(why)) = (cx.applies(), &seen.refused) {
            pass.events.push(ReconcileEvent::warning(
                crate::reasons::MEMBERSHIPS_UNVERIFIED,
                "Memberships",
                format!("could not read the users' group memberships (grant GroupMember.Read.All): {why}; see status.prerequisites"),
            ));
        }
        if spec.method == UserConversionMethod::RestoreDeleted {
            let not_restored = pass
                .status
                .memberships
                .as_ref()
                .map_or(0, |m| m.not_restored);
            pass.status.memberships = seen.recorded.summary(not_restored);
        }
        pass.status.prerequisites =
            prerequisites::check(spec, &selection, directory.is_some(), &seen);
        Ok(Ok(World {
            selection,
            applied,
            confirming,
            directory,
            memberships: seen,
        }))
    }

    fn classify(cx: &Cx<'_, CloudUserConversionSpec>, world: &World) -> Classified<usize> {
        plan::classify(
            cx.spec.spec,
            &world.selection,
            &world.applied,
            &world.confirming,
        )
    }

    fn matched(world: &World) -> Matched {
        Matched {
            matched: world.selection.matched,
            truncated: false,
            excluded: world.selection.excluded.len() as i64,
            missing: world.selection.missing.len() as i64,
        }
    }

    fn name(world: &World, item: &usize) -> String {
        world
            .selection
            .candidates
            .at(*item)
            .map(|c| c.upn().to_string())
            .unwrap_or_default()
    }

    fn tally(world: &World, _: &Classified<usize>, st: &mut CloudUserConversionStatus) {
        let sel = &world.selection;
        st.exclusions = rollout::exclusions(&sel.excluded, &sel.missing, |u| Exclusion {
            user_principal_name: u.clone(),
            reason: "NotFound".into(),
        });
    }

    async fn follow_up<'a>(
        cx: &'a Cx<'a, CloudUserConversionSpec>,
        world: &'a World,
        waiting: &'a [String],
        pass: &'a mut Pass<CloudUserConversionStatus>,
    ) -> Result<usize, ReconcileError> {
        let Some(d) = &world.directory else {
            return Ok(0);
        };
        let size = wave_size(&cx.spec.rollout, pass.status.waves_completed);
        // Without the permission to read memberships, users move unrecorded (said in status).
        let m = &world.memberships;
        let recorded = m.refused.is_none().then_some(&m.recorded.users);
        ad_follow_up::after_decide(cx, d, &world.selection, waiting, (size, recorded), pass).await
    }

    fn plan_message(_: &World, c: &Classified<usize>, waves: usize, summary: &str) -> String {
        format!(
            "plan: would convert {} users in {waves} waves; {summary}",
            c.pending().count()
        )
    }

    fn waiting_message(world: &World, c: &Classified<usize>, summary: &str) -> String {
        format!(
            "{} users are still synchronised: {}; Entra soft-deletes them at the next sync cycle and they are restored then (first: {}); {summary}",
            c.waiting.len(),
            match &world.directory {
                Some(d) => format!(
                    "their AD objects are moved to {} a wave at a time",
                    d.client.settings().unsynced_ou
                ),
                None => "move their AD objects out of sync scope".into(),
            },
            c.waiting.first().cloned().unwrap_or_default()
        )
    }

    async fn run_wave<'a>(
        cx: &'a Cx<'a, CloudUserConversionSpec>,
        world: &'a World,
        items: Vec<usize>,
        st: &'a mut CloudUserConversionStatus,
    ) -> Result<WaveDone, ReconcileError> {
        let users: Vec<&Candidate> = plan::users(&world.selection, &items).collect();
        // Converted users prove the token's steps only once this resource has run a wave.
        let converted = if st.waves_completed > 0 {
            st.converted
        } else {
            0
        };
        let earlier = convert::Earlier::new(cx.spec.spec, converted, &st.recent_failures);
        let tenant = &cx.tenant.tenant_id;
        let cloud = &world.memberships.recorded.cloud;
        let report =
            convert::run_wave(cx.ctx, cx.spec.spec, tenant, &users, (earlier, cloud)).await?;
        if report.memberships_not_restored > 0 {
            let m = st.memberships.get_or_insert_with(Default::default);
            m.not_restored += report.memberships_not_restored;
        }
        let note = match report.unconfirmed.first() {
            Some(first) => format!(
                ", {} switched but not read back yet (eventual consistency; first: {first})",
                report.unconfirmed.len()
            ),
            None => String::new(),
        };
        Ok(WaveDone {
            converted: report.converted,
            failures: report.failures,
            fatal: report.fatal,
            note,
            ..Default::default()
        })
    }

    fn selected(world: &World) -> impl Iterator<Item = &str> {
        world.selection.candidates.values().map(|u| u.id())
    }

    fn named(world: &World) -> Vec<(String, String)> {
        let c = &world.selection.candidates;
        c.values()
            .map(|u| (u.id().to_string(), u.upn().to_string()))
            .collect()
    }

    fn object_id(world: &World, item: &usize) -> String {
        let c = &world.selection.candidates;
        c.at(*item).map(|c| c.id().to_string()).unwrap_or_default()
    }

    fn audit(world: &World) -> Option<crate::api::active_directory::LinkAudit> {
        world
            .directory
            .as_ref()
            .map(|d| crate::api::active_directory::LinkAudit {
                findings: d.audit.findings.clone(),
                ..d.audit.summary.clone()
            })
    }

    fn describe(
        cx: &Cx<'_, CloudUserConversionSpec>,
        world: &World,
        c: &Classified<usize>,
        step: &Step<usize>,
    ) -> Vec<PlannedChange> {
        let mut changes = plan::describe(cx.spec.spec, &world.selection, c, step);
        let checks = prerequisites::check(
            cx.spec.spec,
            &world.selection,
            world.directory.is_some(),
            &world.memberships,
        );
        changes.extend(checks.iter().map(PlannedChange::prerequisite));
        changes
    }
}
