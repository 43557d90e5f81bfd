//! `cpu`: node_cpu_seconds_total and node_cpu_guest_seconds_total from `/proc/stat`
//! (proc_stat(5)), with node_exporter's names and counter hygiene.
//!
//! The kernel's per-CPU tick counters are not strictly monotonic (iowait can go backwards,
//! NO_HZ accounting jitters, a CPU taken offline and back starts from zero), so like
//! node_exporter's `cpu_linux.go` we remember the last value of every mode per CPU and never
//! publish a smaller one; a drop of idle time by 3 s or more means the CPU was hot-plugged, and
//! its cache is reset. CPUs that disappear are forgotten.
//!
//! From sysfs, as node_exporter 1.5's cpu collector: the thermal throttle counters of
//! `/sys/devices/system/cpu/cpuN/thermal_throttle/` (x86 only; read once per core and once per
//! package, keyed by `topology/`), and `node_cpu_isolated` from the `isolated` list, read
//! once at start (Documentation/ABI/testing/sysfs-devices-system-cpu).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{procstat, sysfs, Collector, Error, Paths};
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
    let sys_cpu = paths.sys("devices/system/cpu");
    let isolated_path = sys_cpu.join("isolated");
    let isolated = match super::read(&isolated_path) {
        Ok(t) => parse_cpu_list(&t).map_err(|m| format!("{}: {m}", isolated_path.display()))?,
        Err(Error::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e.to_string()),
    };
    Ok(Box::new(Cpu {
        path: paths.proc("stat"),
        sys_cpu,
        isolated,
        user_hz: super::user_hz(),
        guest: flags.switch("collector.cpu.guest"),
        cache: Mutex::new(HashMap::new()),
    }))
}

pub struct Cpu {
    path: PathBuf,
    sys_cpu: PathBuf,
    isolated: Vec<u16>,
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

/// A kernel CPU list (`1,3-5`, Documentation/admin-guide/cputopology.rst), as procfs's
/// parseCPURange: empty items are skipped, ranges are inclusive.
pub fn parse_cpu_list(text: &str) -> Result<Vec<u16>, String> {
    let mut out = Vec::new();
    for item in text.trim_end_matches('\n').split(',') {
        if item.is_empty() {
            continue;
        }
        let num = |s: &str| s.parse::<u16>().map_err(|_| format!("invalid cpu {s:?}"));
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if b.saturating_sub(a) > 4096 {
                    return Err(format!("cpu range too long: {item:?}"));
                }
                out.extend(a..=b);
            }
            None => out.push(num(item)?),
        }
    }
    Ok(out)
}

/// node_exporter's readUintFromFile: the whole file, trimmed, as a decimal u64.
fn read_uint(path: &Path) -> Option<u64> {
    super::read(path).ok()?.trim().parse().ok()
}

/// Throttle counts per package and per (package, core): the first CPU of each that has
/// the file wins.
type Throttles = (BTreeMap<u64, u64>, BTreeMap<(u64, u64), u64>);

fn throttles(sys_cpu: &Path) -> Result<Throttles, Error> {
    let mut pkgs = BTreeMap::new();
    let mut cores = BTreeMap::new();
    for (_, cpu) in sysfs::glob(sys_cpu, "cpu", true)? {
        let topo = cpu.join("topology");
        let (Some(pkg), Some(core)) = (
            read_uint(&topo.join("physical_package_id")),
            read_uint(&topo.join("core_id")),
        ) else {
            continue;
        };
        let tt = cpu.join("thermal_throttle");
        if let std::collections::btree_map::Entry::Vacant(e) = cores.entry((pkg, core)) {
            if let Some(n) = read_uint(&tt.join("core_throttle_count")) {
                e.insert(n);
            }
        }
        if let std::collections::btree_map::Entry::Vacant(e) = pkgs.entry(pkg) {
            if let Some(n) = read_uint(&tt.join("package_throttle_count")) {
                e.insert(n);
            }
        }
    }
    Ok((pkgs, cores))
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
        if !self.isolated.is_empty() {
            let mut f = enc.family(
                "node_cpu_isolated",
                "Whether each core is isolated, information from /sys/devices/system/cpu/isolated.",
                MetricType::Gauge,
            );
            for c in &self.isolated {
                f.sample(&[("cpu", &c.to_string())], 1.0);
            }
        }
        let (pkgs, cores) = throttles(&self.sys_cpu)?;
        if !pkgs.is_empty() {
            let mut f = enc.family(
                "node_cpu_package_throttles_total",
                "Number of times this CPU package has been throttled.",
                MetricType::Counter,
            );
            for (p, n) in &pkgs {
                f.sample(&[("package", &p.to_string())], *n as f64);
            }
        }
        if !cores.is_empty() {
            let mut f = enc.family(
                "node_cpu_core_throttles_total",
                "Number of times this CPU core has been throttled.",
                MetricType::Counter,
            );
            for ((p, c), n) in &cores {
                f.sample(
                    &[("core", &c.to_string()), ("package", &p.to_string())],
                    *n as f64,
                );
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
            sys_cpu: PathBuf::from("/nonexistent"),
            isolated: Vec::new(),
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
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("\n").unwrap(), Vec::<u16>::new());
        assert_eq!(parse_cpu_list("1,3-5\n").unwrap(), vec![1, 3, 4, 5]);
        assert!(parse_cpu_list("1-x").is_err());
        assert!(parse_cpu_list("0-65535").is_err(), "capped");
    }

    #[test]
    fn throttles_once_per_core_and_package() {
        let sys = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/server/sys/devices/system/cpu"
        );
        let (pkgs, cores) = throttles(Path::new(sys)).unwrap();
        assert_eq!(pkgs.into_iter().collect::<Vec<_>>(), vec![(0, 10), (1, 11)]);
        assert_eq!(cores.len(), 4);
        assert_eq!(cores[&(1, 1)], 9);
        let (pkgs, cores) = throttles(Path::new("/nonexistent")).unwrap();
        assert!(pkgs.is_empty() && cores.is_empty());
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
