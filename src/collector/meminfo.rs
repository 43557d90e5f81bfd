//! `meminfo`: one gauge per line of `/proc/meminfo` (proc_meminfo(5)), named as node_exporter
//! 1.5 does for every line: `kB` values are multiplied by 1024 and get `_bytes`, unitless
//! values (HugePages_*) keep the bare name, `Active(anon)` becomes `Active_anon`.

use std::path::PathBuf;

use super::{read, Collector, Error, Paths};
use crate::expfmt::{is_metric_name, Encoder, MetricType};
use crate::flags::Flags;

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Meminfo {
        path: paths.proc("meminfo"),
    }))
}

struct Meminfo {
    path: PathBuf,
}

/// The metric name suffix (after `node_memory_`) and value of every line, in file order.
pub fn parse(text: &str) -> Result<Vec<(String, f64)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        let (key, rest) = line
            .split_once(':')
            .ok_or_else(|| format!("line {n}: no ':' in {line:?}"))?;
        let mut it = rest.split_ascii_whitespace();
        let v: f64 =
            it.next()
                .ok_or_else(|| format!("line {n}: {key} has no value"))?
                .parse::<u64>()
                .map_err(|_| format!("line {n}: {key}: value is not a number"))? as f64;
        let mut name = String::with_capacity(key.len() + 6);
        for c in key.trim().chars() {
            match c {
                '(' => name.push('_'),
                ')' => {}
                c => name.push(c),
            }
        }
        let v = match it.next() {
            None => v,
            Some("kB") => {
                name.push_str("_bytes");
                v * 1024.0
            }
            Some(u) => return Err(format!("line {n}: {key}: unknown unit {u:?}")),
        };
        if !is_metric_name(&name) {
            return Err(format!("line {n}: field {key:?} makes no metric name"));
        }
        out.push((name, v));
    }
    if out.is_empty() {
        return Err("no fields".into());
    }
    Ok(out)
}

impl Collector for Meminfo {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let text = read(&self.path)?;
        let fields = parse(&text).map_err(|msg| Error::Parse {
            path: self.path.clone(),
            msg,
        })?;
        let mut name = String::with_capacity(64);
        let mut help = String::with_capacity(96);
        for (field, v) in fields {
            name.clear();
            name.push_str("node_memory_");
            name.push_str(&field);
            help.clear();
            help.push_str("Memory information field ");
            help.push_str(&field);
            help.push('.');
            enc.single(&name, &help, MetricType::Gauge, v);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    /// Captured on this build machine: Debian 12 x86_64 KVM guest, kernel 6.18 (`cat /proc/meminfo`).
    const X86_64_SERVER: &str = include_str!("../../tests/fixtures/node/captures/x86_64-meminfo");

    /// OpenWrt 24.10, ramips (MIPS 24KEc/1004Kc), 128 MiB router: the first `/proc/meminfo`
    /// posted in https://github.com/openwrt/openwrt/issues/19544 (2025-07-29 04:00:02 sample).
    const OPENWRT_RAMIPS: &str = "\
MemTotal:         119260 kB
MemFree:            6112 kB
MemAvailable:      20148 kB
Buffers:               0 kB
Cached:            19064 kB
SwapCached:            0 kB
Active:            14932 kB
Inactive:           8676 kB
Active(anon):       4800 kB
Inactive(anon):     1168 kB
Active(file):      10132 kB
Inactive(file):     7508 kB
Unevictable:           0 kB
Mlocked:               0 kB
SwapTotal:             0 kB
SwapFree:              0 kB
Dirty:                 0 kB
Writeback:             0 kB
AnonPages:          4576 kB
Mapped:             5944 kB
Shmem:              1424 kB
KReclaimable:       4308 kB
Slab:              25548 kB
SReclaimable:       4308 kB
SUnreclaim:        21240 kB
KernelStack:         904 kB
PageTables:          640 kB
SecPageTables:         0 kB
NFS_Unstable:          0 kB
Bounce:                0 kB
WritebackTmp:          0 kB
CommitLimit:       59628 kB
Committed_AS:      15744 kB
VmallocTotal:    1048372 kB
VmallocUsed:        3796 kB
VmallocChunk:          0 kB
Percpu:              288 kB
";

    /// OpenWrt on ARM (no MemAvailable: kernel before 3.14), posted in
    /// https://github.com/GuillaumeGomez/sysinfo/issues/164 (first lines).
    const OPENWRT_ARM_OLD: &str = "\
MemTotal:         125128 kB
MemFree:           80288 kB
Buffers:            7652 kB
Cached:            21700 kB
Active(anon):       6764 kB
";

    /// aarch64 board. NOT a capture: built from proc_meminfo(5) for a 4 GiB Cortex-A72 board
    /// (no genuine aarch64 capture was found in the public material searched); it carries the
    /// arm64-specific CmaTotal/CmaFree lines and the unitless HugePages_* lines.
    const AARCH64_CONSTRUCTED: &str = "\
MemTotal:        3884328 kB
MemFree:         2411020 kB
MemAvailable:    3307412 kB
Buffers:           61232 kB
Cached:           901220 kB
CmaTotal:         524288 kB
CmaFree:          498012 kB
HugePages_Total:       0
HugePages_Free:        0
HugePages_Rsvd:        0
HugePages_Surp:        0
Hugepagesize:       2048 kB
";

    fn get(f: &[(String, f64)], k: &str) -> f64 {
        f.iter()
            .find(|(n, _)| n == k)
            .unwrap_or_else(|| panic!("{k} missing"))
            .1
    }

    #[test]
    fn meminfo_x86_64_server() {
        let f = parse(X86_64_SERVER).unwrap();
        assert_eq!(f.len(), X86_64_SERVER.lines().count());
        assert!(get(&f, "MemTotal_bytes") > 1e9);
        assert_eq!(get(&f, "HugePages_Total"), 0.0);
        assert!(f.iter().any(|(n, _)| n == "Active_anon_bytes"));
    }

    #[test]
    fn meminfo_openwrt_ramips() {
        let f = parse(OPENWRT_RAMIPS).unwrap();
        assert_eq!(f.len(), 37);
        assert_eq!(get(&f, "MemTotal_bytes"), 119260.0 * 1024.0);
        assert_eq!(get(&f, "Inactive_file_bytes"), 7508.0 * 1024.0);
        assert_eq!(get(&f, "SecPageTables_bytes"), 0.0);
    }

    #[test]
    fn meminfo_openwrt_arm_without_memavailable() {
        let f = parse(OPENWRT_ARM_OLD).unwrap();
        assert!(f.iter().all(|(n, _)| n != "MemAvailable_bytes"));
        assert_eq!(get(&f, "Active_anon_bytes"), 6764.0 * 1024.0);
    }

    #[test]
    fn meminfo_aarch64_constructed() {
        let f = parse(AARCH64_CONSTRUCTED).unwrap();
        assert_eq!(get(&f, "CmaTotal_bytes"), 524288.0 * 1024.0);
        assert_eq!(get(&f, "HugePages_Free"), 0.0);
        assert_eq!(get(&f, "Hugepagesize_bytes"), 2048.0 * 1024.0);
    }

    #[test]
    fn meminfo_malformed_and_truncated() {
        assert!(parse("").is_err());
        assert!(parse("MemTotal 1 kB\n").is_err(), "no colon");
        assert!(parse("MemTotal:\n").is_err(), "truncated after the key");
        assert!(parse("MemTotal: x kB\n").is_err());
        assert!(parse("MemTotal: 5 MB\n").is_err(), "unknown unit");
        assert!(parse("Mem Total: 5 kB\n").is_err(), "space in the name");
        // A read cut in the middle of a number still parses the lines before it.
        assert_eq!(parse("MemTotal: 5 kB\nMemFree: 1").unwrap().len(), 2);
    }
}
