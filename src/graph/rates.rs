//! The rates a Graph client reports in tenant time, for estimates of what is left.

use std::sync::atomic::Ordering;

use super::GraphClient;

impl GraphClient {
    /// The clock its user runs on goes `scale` tenant seconds per real second (an emulator's
    /// `--time-scale`; 1, the default, is real time): the rates below are per tenant second.
    /// Ignored unless finite and positive.
    pub fn set_time_scale(&self, scale: f64) {
        if scale.is_finite() && scale > 0.0 {
            self.inner
                .time_scale
                .store(scale.to_bits(), Ordering::Relaxed);
        }
    }

    fn per_tenant_second(&self, real: f64) -> f64 {
        real / f64::from_bits(self.inner.time_scale.load(Ordering::Relaxed))
    }

    /// The write rate (writes per tenant second) the client is paced to now; `None` when it
    /// does not pace. Estimates of what is left read it.
    pub fn paced_write_rate(&self) -> Option<f64> {
        self.pacer()
            .map(|p| self.per_tenant_second(p.stats().write_rate))
    }

    /// The write rate (writes per tenant second) of the quota the client paces to, at its
    /// headroom: what it reaches once its slow start is over and nothing throttles it.
    pub fn quota_write_rate(&self) -> Option<f64> {
        self.pacer()
            .map(|p| self.per_tenant_second(p.quota().write_rate()))
    }
}
