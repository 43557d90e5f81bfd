//! `stat`: boot time, context switches, interrupts, forks and process counts from
//! `/proc/stat` (proc_stat(5)), with node_exporter's names (`procs_*` carry no `_total`).
//! `--collector.stat.softirq` (off by default, as in 1.5) adds `node_softirqs_total{vector}`.

use std::path::PathBuf;

use super::{procstat, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::{Flags, Spec};

pub fn flags() -> Vec<Spec> {
    vec![Spec::switch(
        "collector.stat.softirq",
        false,
        "Export softirq calls per vector",
    )]
}

pub fn new(paths: &Paths, flags: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Stat {
        path: paths.proc("stat"),
        softirq: flags.switch("collector.stat.softirq"),
    }))
}

struct Stat {
    path: PathBuf,
    softirq: bool,
}

/// node_exporter's names of the softirq vectors, in the kernel's order (`irq_poll` was
/// `block_iopoll` before Linux 4.4, and node_exporter kept the old name).
const VECTORS: [&str; 10] = [
    "hi",
    "timer",
    "net_tx",
    "net_rx",
    "block",
    "block_iopoll",
    "tasklet",
    "sched",
    "hrtimer",
    "rcu",
];

impl Collector for Stat {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let st = procstat::read(&self.path)?;
        let rows: [(&str, &str, MetricType, Option<u64>); 6] = [
            (
                "node_intr_total",
                "Total number of interrupts serviced.",
                MetricType::Counter,
                st.intr,
            ),
            (
                "node_context_switches_total",
                "Total number of context switches.",
                MetricType::Counter,
                st.ctxt,
            ),
            (
                "node_forks_total",
                "Total number of forks.",
                MetricType::Counter,
                st.processes,
            ),
            (
                "node_boot_time_seconds",
                "Node boot time, in unixtime.",
                MetricType::Gauge,
                st.btime,
            ),
            (
                "node_procs_running",
                "Number of processes in runnable state.",
                MetricType::Gauge,
                st.procs_running,
            ),
            (
                "node_procs_blocked",
                "Number of processes blocked waiting for I/O to complete.",
                MetricType::Gauge,
                st.procs_blocked,
            ),
        ];
        for (name, help, typ, v) in rows {
            if let Some(v) = v {
                enc.single(name, help, typ, v as f64);
            }
        }
        if self.softirq {
            // procfs reads a missing softirq line as zeros; so does this.
            let v = st.softirq.unwrap_or_default();
            let mut f = enc.family(
                "node_softirqs_total",
                "Number of softirq calls.",
                MetricType::Counter,
            );
            for (name, n) in VECTORS.iter().zip(v) {
                f.sample(&[("vector", name)], n as f64);
            }
        }
        Ok(())
    }
}
