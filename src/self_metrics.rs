//! promlet's own `process_*` metrics (the set client_golang's process collector exports) and
//! `promlet_build_info`. These describe promlet itself, so they read the real `/proc/self`, not
//! the `--path.procfs` tree the node collectors read.

use crate::expfmt::{Encoder, MetricType};

/// Writes `promlet_build_info`.
pub fn write_build_info(enc: &mut Encoder) {
    enc.family(
        "promlet_build_info",
        "A metric with a constant '1' value labeled by version, revision, and the features promlet was built with.",
        MetricType::Gauge,
    )
    .sample(
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("revision", env!("PROMLET_REVISION")),
            ("features", &crate::features()),
            ("goarch", std::env::consts::ARCH),
        ],
        1.0,
    );
}

/// Writes `process_*`; a field that cannot be read is left out, never guessed.
pub fn write_process_metrics(enc: &mut Encoder) {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64;
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name, which is in parentheses and may contain spaces.
        if let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let num = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok());
            // Indexes are field number - 3 (proc(5)): utime 14, stime 15, starttime 22, vsize 23, rss 24.
            if let (Some(u), Some(s)) = (num(11), num(12)) {
                enc.single(
                    "process_cpu_seconds_total",
                    "Total user and system CPU time spent in seconds.",
                    MetricType::Counter,
                    (u + s) / ticks,
                );
            }
            if let Some(v) = num(20) {
                enc.single(
                    "process_virtual_memory_bytes",
                    "Virtual memory size in bytes.",
                    MetricType::Gauge,
                    v,
                );
            }
            if let Some(r) = num(21) {
                enc.single(
                    "process_resident_memory_bytes",
                    "Resident memory size in bytes.",
                    MetricType::Gauge,
                    r * page,
                );
            }
            if let (Some(start), Some(boot)) = (num(19), boot_time()) {
                enc.single(
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                    MetricType::Gauge,
                    boot + start / ticks,
                );
            }
        }
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        // The directory handle itself is one of the entries; do not count it.
        let n = dir.count().saturating_sub(1);
        enc.single(
            "process_open_fds",
            "Number of open file descriptors.",
            MetricType::Gauge,
            n as f64,
        );
    }
    use rustix::process::{getrlimit, Resource};
    // getrlimit(2) cannot fail for these resources; None is RLIM_INFINITY.
    let fds = getrlimit(Resource::Nofile).current;
    enc.single(
        "process_max_fds",
        "Maximum number of open file descriptors.",
        MetricType::Gauge,
        fds.map_or(u64::MAX as f64, |c| c as f64),
    );
    // No limit is written as -1.
    let vm = getrlimit(Resource::As).current;
    enc.single(
        "process_virtual_memory_max_bytes",
        "Maximum amount of virtual memory available in bytes.",
        MetricType::Gauge,
        vm.map_or(-1.0, |c| c as f64),
    );
}

fn boot_time() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}
