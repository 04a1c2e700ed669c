//! Prometheus metrics (prometheus-client), all under the `entra_cloud_operator_` prefix, with a
//! small fixed label set: kinds, results, error categories, Graph operations and statuses, and
//! per resource its kind, `resource_namespace` and `resource_name` (not `namespace`, which
//! Prometheus' own target labels would clash with). Counters count changes, never totals; the
//! series of a resource go when it does. Beside them: `build_info` and the standard `process_*`
//! metrics.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::graph::{Operation, RequestObserver};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindResult {
    kind: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindCategory {
    kind: String,
    category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpStatus {
    operation: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Op {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Tenant {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Resource {
    kind: String,
    resource_namespace: String,
    resource_name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceState {
    kind: String,
    resource_namespace: String,
    resource_name: String,
    state: String,
}

/// The states of a resource's objects a gauge counts (`objects{state}`).
pub const OBJECT_STATES: [&str; 5] = ["matched", "converted", "pending", "failed", "excluded"];

/// What a resource's status says, for its gauges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResourceGauges {
    /// Objects in each of [`OBJECT_STATES`], in that order.
    pub objects: [i64; 5],
    /// `DriftDetected` is true.
    pub drift: bool,
    /// `Stalled` is true: a person is needed.
    pub stalled: bool,
    /// The rollout halted on failures (`AutoHalted`).
    pub halted: bool,
}

fn histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// The operator's metrics.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<KindResult, Counter>,
    reconcile_errors: Family<KindCategory, Counter>,
    reconcile_duration: Family<Kind, Histogram, fn() -> Histogram>,
    graph_requests: Family<OpStatus, Counter>,
    graph_duration: Family<Op, Histogram, fn() -> Histogram>,
    graph_throttled: Family<Op, Counter>,
    quota_used: Family<Tenant, Gauge<f64, AtomicU64>>,
    objects_converted: Family<Kind, Counter>,
    objects_failed: Family<Kind, Counter>,
    objects: Family<ResourceState, Gauge>,
    drift: Family<Resource, Gauge>,
    stalled: Family<Resource, Gauge>,
    halted: Family<Resource, Gauge>,
    leader: Gauge,
    /// The resources with series, to drop those gone ([`Metrics::retain`]).
    known: std::sync::Mutex<std::collections::HashSet<Resource>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut root = Registry::default();
        root.register_collector(Box::new(super::process_metrics::ProcessCollector::default()));
        let registry = root.sub_registry_with_prefix("entra_cloud_operator");
        registry.register(
            "build",
            "The operator's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        let m = Metrics {
            reconciles: Family::default(),
            reconcile_errors: Family::default(),
            reconcile_duration: Family::new_with_constructor(histogram),
            graph_requests: Family::default(),
            graph_duration: Family::new_with_constructor(histogram),
            graph_throttled: Family::default(),
            quota_used: Family::default(),
            objects_converted: Family::default(),
            objects_failed: Family::default(),
            objects: Family::default(),
            drift: Family::default(),
            stalled: Family::default(),
            halted: Family::default(),
            leader: Gauge::default(),
            known: Default::default(),
            registry: Registry::default(),
        };
        registry.register(
            "reconciles",
            "Reconcile passes by kind and result (ready, progressing, stalled, error)",
            m.reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconcile passes by kind and error category",
            m.reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of reconcile passes",
            m.reconcile_duration.clone(),
        );
        registry.register(
            "graph_requests",
            "Microsoft Graph requests by operation and HTTP status (0: no answer)",
            m.graph_requests.clone(),
        );
        registry.register(
            "graph_request_duration_seconds",
            "Duration of Microsoft Graph requests",
            m.graph_duration.clone(),
        );
        registry.register(
            "graph_throttled",
            "Microsoft Graph answers with status 429",
            m.graph_throttled.clone(),
        );
        registry.register(
            "graph_quota_used_ratio",
            "Graph's x-ms-throttle-limit-percentage as last seen (1.0 = at the quota)",
            m.quota_used.clone(),
        );
        registry.register(
            "objects_converted",
            "Directory objects changed as declared (e.g. users switched, ImmutableIDs cleared), as they change",
            m.objects_converted.clone(),
        );
        registry.register(
            "objects_failed",
            "Per-object changes that failed, as they fail",
            m.objects_failed.clone(),
        );
        registry.register(
            "objects",
            "A resource's objects by state (matched, converted, pending, failed in the last wave, excluded), as its status says",
            m.objects.clone(),
        );
        registry.register(
            "drift_detected",
            "1 while drift is detected on the resource",
            m.drift.clone(),
        );
        registry.register(
            "resource_stalled",
            "1 while the resource is Stalled (a person is needed)",
            m.stalled.clone(),
        );
        registry.register(
            "rollout_halted",
            "1 while the resource's rollout is halted on failures (AutoHalted)",
            m.halted.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader lease",
            m.leader.clone(),
        );
        Metrics {
            registry: root,
            ..m
        }
    }
}

impl Metrics {
    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// One reconcile pass finished with `result` (ready, progressing, stalled, error).
    pub fn reconciled(&self, kind: &str, result: &str, took: Duration) {
        self.reconciles
            .get_or_create(&KindResult {
                kind: kind.into(),
                result: result.into(),
            })
            .inc();
        self.reconcile_duration
            .get_or_create(&Kind { kind: kind.into() })
            .observe(took.as_secs_f64());
    }

    /// A reconcile pass failed with an error of `category`.
    pub fn reconcile_error(&self, kind: &str, category: &str) {
        self.reconcile_errors
            .get_or_create(&KindCategory {
                kind: kind.into(),
                category: category.into(),
            })
            .inc();
    }

    /// Objects changed as declared, and per-object failures.
    pub fn objects(&self, kind: &str, converted: u64, failed: u64) {
        let k = Kind { kind: kind.into() };
        self.objects_converted.get_or_create(&k).inc_by(converted);
        self.objects_failed.get_or_create(&k).inc_by(failed);
    }

    /// A resource's gauges, as its status now says.
    pub fn resource(&self, kind: &str, namespace: &str, name: &str, g: &ResourceGauges) {
        let r = resource(kind, namespace, name);
        for (state, n) in OBJECT_STATES.iter().zip(g.objects) {
            self.objects.get_or_create(&with_state(&r, state)).set(n);
        }
        self.drift.get_or_create(&r).set(i64::from(g.drift));
        self.stalled.get_or_create(&r).set(i64::from(g.stalled));
        self.halted.get_or_create(&r).set(i64::from(g.halted));
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(r);
    }

    /// Only the resources of `existing` keep their series.
    pub fn retain(&self, existing: &[crate::journal::ResourceKey]) {
        let existing: std::collections::HashSet<Resource> = existing
            .iter()
            .map(|k| resource(&k.kind, &k.namespace, &k.name))
            .collect();
        let gone: Vec<Resource> = {
            let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            known
                .iter()
                .filter(|r| !existing.contains(*r))
                .cloned()
                .collect()
        };
        for r in gone {
            self.forget(&r.kind, &r.resource_namespace, &r.resource_name);
        }
    }

    /// The resource is gone: its series go too.
    pub fn forget(&self, kind: &str, namespace: &str, name: &str) {
        let r = resource(kind, namespace, name);
        for state in OBJECT_STATES {
            self.objects.remove(&with_state(&r, state));
        }
        self.drift.remove(&r);
        self.stalled.remove(&r);
        self.halted.remove(&r);
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&r);
    }

    /// The policies of `tenant` are gone: the series of its quota go too.
    pub fn forget_tenant(&self, tenant: &str) {
        self.quota_used.remove(&Tenant {
            tenant: tenant.to_string(),
        });
    }

    /// How many resources have series.
    pub fn resources_with_series(&self) -> usize {
        self.known.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether this replica leads.
    pub fn leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// An observer of one tenant's Graph requests.
    pub fn graph_observer(self: &Arc<Self>, tenant: &str) -> Arc<dyn RequestObserver> {
        Arc::new(GraphObserver {
            metrics: self.clone(),
            tenant: tenant.to_string(),
        })
    }
}

fn resource(kind: &str, namespace: &str, name: &str) -> Resource {
    Resource {
        kind: kind.into(),
        resource_namespace: namespace.into(),
        resource_name: name.into(),
    }
}

fn with_state(r: &Resource, state: &str) -> ResourceState {
    ResourceState {
        kind: r.kind.clone(),
        resource_namespace: r.resource_namespace.clone(),
        resource_name: r.resource_name.clone(),
        state: state.into(),
    }
}

struct GraphObserver {
    metrics: Arc<Metrics>,
    tenant: String,
}

impl RequestObserver for GraphObserver {
    fn observe(
        &self,
        operation: Operation,
        status: Option<u16>,
        elapsed: Duration,
        quota_used: Option<f64>,
    ) {
        let m = &self.metrics;
        let op = operation.name().to_string();
        m.graph_requests
            .get_or_create(&OpStatus {
                operation: op.clone(),
                status: status.unwrap_or(0).to_string(),
            })
            .inc();
        m.graph_duration
            .get_or_create(&Op {
                operation: op.clone(),
            })
            .observe(elapsed.as_secs_f64());
        if status == Some(429) {
            m.graph_throttled.get_or_create(&Op { operation: op }).inc();
        }
        if let Some(q) = quota_used {
            m.quota_used
                .get_or_create(&Tenant {
                    tenant: self.tenant.clone(),
                })
                .set(q);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels() {
        let m = Arc::new(Metrics::default());
        m.reconciled("TenantSyncPolicy", "ready", Duration::from_millis(20));
        m.reconcile_error("TenantSyncPolicy", crate::reasons::TRANSIENT);
        m.objects("TenantSyncPolicy", 3, 1);
        let gauges = ResourceGauges {
            objects: [420, 20, 400, 1, 2],
            drift: true,
            stalled: false,
            halted: false,
        };
        m.resource("CloudUserConversion", "identity", "contoso", &gauges);
        m.leader(true);
        let o = m.graph_observer("t1");
        o.observe(
            Operation::UpdateUser,
            Some(429),
            Duration::from_millis(5),
            Some(1.1),
        );
        let text = m.encode();
        for needle in [
            "entra_cloud_operator_reconciles_total{kind=\"TenantSyncPolicy\",result=\"ready\"} 1",
            "entra_cloud_operator_reconcile_errors_total{kind=\"TenantSyncPolicy\",category=\"Transient\"} 1",
            "entra_cloud_operator_reconcile_duration_seconds_bucket",
            "entra_cloud_operator_graph_requests_total{operation=\"users.update\",status=\"429\"} 1",
            "entra_cloud_operator_graph_throttled_total{operation=\"users.update\"} 1",
            "entra_cloud_operator_graph_quota_used_ratio{tenant=\"t1\"} 1.1",
            "entra_cloud_operator_objects_converted_total{kind=\"TenantSyncPolicy\"} 3",
            "entra_cloud_operator_objects_failed_total{kind=\"TenantSyncPolicy\"} 1",
            "entra_cloud_operator_drift_detected{kind=\"CloudUserConversion\",resource_namespace=\"identity\",resource_name=\"contoso\"} 1",
            "entra_cloud_operator_objects{kind=\"CloudUserConversion\",resource_namespace=\"identity\",resource_name=\"contoso\",state=\"pending\"} 400",
            "entra_cloud_operator_resource_stalled{kind=\"CloudUserConversion\",resource_namespace=\"identity\",resource_name=\"contoso\"} 0",
            "entra_cloud_operator_leader 1",
            "entra_cloud_operator_build_info{version=\"",
            "process_start_time_seconds ",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        assert!(
            !text.contains("namespace=\"identity\",name="),
            "no clash with target labels"
        );
        // Gone with the resource.
        m.forget("CloudUserConversion", "identity", "contoso");
        let text = m.encode();
        assert!(!text.contains("resource_name=\"contoso\""), "{text}");
    }
}
