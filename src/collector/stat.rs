//! `stat`: boot time, context switches, interrupts, forks and process counts from
//! `/proc/stat` (proc_stat(5)), with node_exporter's names (`procs_*` carry no `_total`).

use std::path::PathBuf;

use super::{procstat, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Stat {
        path: paths.proc("stat"),
    }))
}

struct Stat {
    path: PathBuf,
}

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
        Ok(())
    }
}
