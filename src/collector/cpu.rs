//! `cpu`: node_cpu_seconds_total and node_cpu_guest_seconds_total from `/proc/stat`
//! (proc_stat(5)), with node_exporter's names and counter hygiene.
//!
//! The kernel's per-CPU tick counters are not strictly monotonic (iowait can go backwards,
//! NO_HZ accounting jitters, a CPU taken offline and back starts from zero), so like
//! node_exporter's `cpu_linux.go` we remember the last value of every mode per CPU and never
//! publish a smaller one; a drop of idle time by 3 s or more means the CPU was hot-plugged, and
//! its cache is reset. CPUs that disappear are forgotten.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use super::{procstat, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::{Flags, Spec};

/// The eight modes of node_cpu_seconds_total, in `/proc/stat` column order.
const MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// Idle time going back by this much means a hot-plugged CPU (node_exporter's jumpBackSeconds).
const JUMP_BACK_SECONDS: f64 = 3.0;

pub fn flags() -> Vec<Spec> {
    vec![Spec::switch(
        "collector.cpu.guest",
        true,
        "Enables metric node_cpu_guest_seconds_total.",
    )]
}

pub fn new(paths: &Paths, flags: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Cpu {
        path: paths.proc("stat"),
        user_hz: super::user_hz(),
        guest: flags.switch("collector.cpu.guest"),
        cache: Mutex::new(HashMap::new()),
    }))
}

pub struct Cpu {
    path: PathBuf,
    user_hz: f64,
    guest: bool,
    cache: Mutex<HashMap<u32, [f64; 10]>>,
}

/// Folds a new reading into the cached one: counters never go backwards, a big idle drop
/// resets the CPU. Returns true if it was treated as a hot-plug reset.
pub fn update_cache(cached: &mut [f64; 10], new: &[f64; 10]) -> bool {
    if new[3] < cached[3] - JUMP_BACK_SECONDS {
        *cached = *new;
        return true;
    }
    for (c, n) in cached.iter_mut().zip(new) {
        if *n >= *c {
            *c = *n;
        }
    }
    false
}

impl Cpu {
    /// The hygienic per-CPU seconds for this reading, in CPU order of the file.
    fn seconds(&self, st: &procstat::ProcStat) -> Vec<(u32, [f64; 10])> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|cpu, _| st.cpus.iter().any(|(c, _)| c == cpu));
        let mut out = Vec::with_capacity(st.cpus.len());
        for (cpu, ticks) in &st.cpus {
            let mut secs = [0f64; 10];
            for (s, t) in secs.iter_mut().zip(ticks) {
                *s = *t as f64 / self.user_hz;
            }
            let entry = cache.entry(*cpu).or_insert(secs);
            if update_cache(entry, &secs) {
                crate::warn!("cpu{cpu}: idle time jumped back, assuming a hot-plugged CPU");
            }
            out.push((*cpu, *entry));
        }
        out
    }
}

impl Collector for Cpu {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let st = procstat::read(&self.path)?;
        let cpus = self.seconds(&st);
        let mut names: Vec<String> = Vec::with_capacity(cpus.len());
        for (cpu, _) in &cpus {
            names.push(cpu.to_string());
        }
        let mut f = enc.family(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
            MetricType::Counter,
        );
        for ((_, secs), name) in cpus.iter().zip(&names) {
            for (mode, v) in MODES.iter().zip(secs) {
                f.sample(&[("cpu", name), ("mode", mode)], *v);
            }
        }
        if self.guest {
            let mut f = enc.family(
                "node_cpu_guest_seconds_total",
                "Seconds the CPUs spent in guests (VMs) for each mode.",
                MetricType::Counter,
            );
            for ((_, secs), name) in cpus.iter().zip(&names) {
                f.sample(&[("cpu", name), ("mode", "user")], secs[8]);
                f.sample(&[("cpu", name), ("mode", "nice")], secs[9]);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::procstat::ProcStat;

    fn cpu() -> Cpu {
        Cpu {
            path: PathBuf::from("/nonexistent"),
            user_hz: 100.0,
            guest: true,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn st(cpus: &[(u32, [u64; 10])]) -> ProcStat {
        ProcStat {
            cpus: cpus.to_vec(),
            ..ProcStat::default()
        }
    }

    #[test]
    fn counters_never_go_backwards() {
        let c = cpu();
        c.seconds(&st(&[(0, [100, 0, 50, 1000, 30, 0, 0, 0, 0, 0])]));
        // iowait drops by 10 ticks (a known kernel quirk): the old value stays.
        let out = c.seconds(&st(&[(0, [110, 0, 55, 1010, 20, 0, 0, 0, 0, 0])]));
        assert_eq!(out[0].1[0], 1.1);
        assert_eq!(out[0].1[4], 0.3, "iowait kept");
        let out = c.seconds(&st(&[(0, [120, 0, 60, 1020, 40, 0, 0, 0, 0, 0])]));
        assert_eq!(out[0].1[4], 0.4, "iowait moves on once past the old value");
    }

    #[test]
    fn hotplug_resets_the_cpu() {
        let c = cpu();
        c.seconds(&st(&[
            (0, [1, 0, 1, 100, 0, 0, 0, 0, 0, 0]),
            (1, [5000, 0, 900, 90000, 0, 0, 0, 0, 0, 0]),
        ]));
        // cpu1 went offline and came back: idle fell by 899 s.
        let out = c.seconds(&st(&[
            (0, [2, 0, 2, 200, 0, 0, 0, 0, 0, 0]),
            (1, [3, 0, 1, 100, 0, 0, 0, 0, 0, 0]),
        ]));
        assert_eq!(out[1].1[0], 0.03);
        assert_eq!(out[1].1[3], 1.0);
    }

    #[test]
    fn vanished_cpus_are_forgotten() {
        let c = cpu();
        c.seconds(&st(&[
            (0, [1, 0, 1, 100, 0, 0, 0, 0, 0, 0]),
            (1, [500, 0, 1, 100, 0, 0, 0, 0, 0, 0]),
        ]));
        c.seconds(&st(&[(0, [1, 0, 1, 100, 0, 0, 0, 0, 0, 0])]));
        // cpu1 comes back with smaller counters: no stale cache keeps the old user time.
        let out = c.seconds(&st(&[
            (0, [1, 0, 1, 100, 0, 0, 0, 0, 0, 0]),
            (1, [7, 0, 1, 100, 0, 0, 0, 0, 0, 0]),
        ]));
        assert_eq!(out[1].1[0], 0.07);
    }
}
