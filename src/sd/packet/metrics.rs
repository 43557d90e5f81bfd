//! Packet SD's own metrics in the text exposition format. The two families of the original
//! keep their names and meaning (one duration observation and, on error, one failure per
//! list call, pagination and retries included); the gauges say what the last successful
//! refresh produced.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::expfmt::{Encoder, MetricType};

/// The original's buckets.
const BUCKETS: [(f64, &str); 8] = [
    (0.001, "0.001"),
    (0.01, "0.01"),
    (0.1, "0.1"),
    (0.5, "0.5"),
    (1.0, "1"),
    (2.0, "2"),
    (5.0, "5"),
    (10.0, "10"),
];

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    buckets: [u64; 8],
    count: u64,
    sum: f64,
    failures: u64,
    write_failures: u64,
    last_success: Option<f64>,
    targets: usize,
    skipped: usize,
    projects: usize,
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    /// One list call took `d`; `ok` false counts a failure.
    pub fn observe_call(&self, d: Duration, ok: bool) {
        let s = d.as_secs_f64();
        self.with(|m| {
            for (i, (le, _)) in BUCKETS.iter().enumerate() {
                if s <= *le {
                    m.buckets[i] += 1;
                }
            }
            m.count += 1;
            m.sum += s;
            if !ok {
                m.failures += 1;
            }
        });
    }

    pub fn write_failed(&self) {
        self.with(|m| m.write_failures += 1);
    }

    /// A refresh succeeded and its result is published.
    pub fn refreshed(&self, targets: usize, skipped: usize, projects: usize) {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        self.with(|m| {
            m.last_success = Some(now);
            m.targets = targets;
            m.skipped = skipped;
            m.projects = projects;
        });
    }

    pub fn write(&self, enc: &mut Encoder) {
        self.with(|m| {
            let mut f = enc.family(
                "prometheus_packet_sd_request_duration_seconds",
                "Duration of Packet API list calls (all pages and retries of one list), in seconds.",
                MetricType::Histogram,
            );
            for (i, (_, le)) in BUCKETS.iter().enumerate() {
                f.sample_suffix("_bucket", &[("le", le)], m.buckets[i] as f64);
            }
            f.sample_suffix("_bucket", &[("le", "+Inf")], m.count as f64);
            f.sample_suffix("_sum", &[], m.sum);
            f.sample_suffix("_count", &[], m.count as f64);
            enc.single(
                "prometheus_packet_sd_request_failures_total",
                "Packet API list calls that failed (after retries).",
                MetricType::Counter,
                m.failures as f64,
            );
            enc.single(
                "prometheus_packet_sd_write_failures_total",
                "Times the discovered targets could not be written out.",
                MetricType::Counter,
                m.write_failures as f64,
            );
            if let Some(ts) = m.last_success {
                enc.single(
                    "prometheus_packet_sd_last_success_timestamp_seconds",
                    "Unix time of the last refresh whose targets were published.",
                    MetricType::Gauge,
                    ts,
                );
            }
            enc.single(
                "prometheus_packet_sd_targets",
                "Targets (devices) published by the last successful refresh.",
                MetricType::Gauge,
                m.targets as f64,
            );
            enc.single(
                "prometheus_packet_sd_skipped_devices",
                "Devices left out of the last successful refresh: no management address of the chosen kind (provisioning, layer-2).",
                MetricType::Gauge,
                m.skipped as f64,
            );
            enc.single(
                "prometheus_packet_sd_projects",
                "Projects whose devices the last successful refresh listed.",
                MetricType::Gauge,
                m.projects as f64,
            );
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.observe_call(Duration::from_millis(50), true);
        m.observe_call(Duration::from_secs(3), false);
        m.observe_call(Duration::from_secs(30), true);
        let mut enc = Encoder::new();
        m.write(&mut enc);
        let text = String::from_utf8(enc.into_bytes()).unwrap();
        for line in [
            "prometheus_packet_sd_request_duration_seconds_bucket{le=\"0.01\"} 0\n",
            "prometheus_packet_sd_request_duration_seconds_bucket{le=\"0.1\"} 1\n",
            "prometheus_packet_sd_request_duration_seconds_bucket{le=\"5\"} 2\n",
            "prometheus_packet_sd_request_duration_seconds_bucket{le=\"10\"} 2\n",
            "prometheus_packet_sd_request_duration_seconds_bucket{le=\"+Inf\"} 3\n",
            "prometheus_packet_sd_request_duration_seconds_count 3\n",
            "prometheus_packet_sd_request_failures_total 1\n",
            "prometheus_packet_sd_targets 0\n",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        assert!(!text.contains("last_success"));
    }
}
