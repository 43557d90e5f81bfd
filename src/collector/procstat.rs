//! Parser for `/proc/stat` (proc_stat(5)), shared by the `cpu` and `stat` collectors.
//!
//! Format: <https://man7.org/linux/man-pages/man5/proc_stat.5.html>. CPU columns are in
//! USER_HZ ticks; the caller divides by the tick rate. Columns newer than the running kernel
//! (iowait 2.5.41, irq/softirq 2.6.0, steal 2.6.11, guest 2.6.24, guest_nice 2.6.33) are
//! absent on old kernels and read as 0, as node_exporter's procfs does.

/// What `/proc/stat` says; scalar lines the kernel did not print are `None`.
#[derive(Debug, Default, PartialEq)]
pub struct ProcStat {
    /// Per-CPU lines (`cpu0`, `cpu1`, ...), in file order: CPU number and the ten tick columns.
    /// The aggregate `cpu` line is not kept (node_exporter does not export it).
    pub cpus: Vec<(u32, [u64; 10])>,
    pub intr: Option<u64>,
    pub ctxt: Option<u64>,
    pub btime: Option<u64>,
    pub processes: Option<u64>,
    pub procs_running: Option<u64>,
    pub procs_blocked: Option<u64>,
    /// The `softirq` line's ten per-vector counts (after the total), in the kernel's order:
    /// hi, timer, net_tx, net_rx, block, irq_poll, tasklet, sched, hrtimer, rcu.
    pub softirq: Option<[u64; 10]>,
}

fn num(line: usize, field: &str) -> Result<u64, String> {
    field
        .parse()
        .map_err(|_| format!("line {line}: not a number: {field:?}"))
}

/// Parses the text of `/proc/stat`. Unknown lines (`page`, `swap`, `softirq`, ...) are skipped;
/// a known line with a missing or non-numeric value is an error.
/// Reads and parses `/proc/stat` once per scrape (cpu and stat share the read).
pub fn read(path: &std::path::Path) -> Result<ProcStat, super::Error> {
    let text = super::read_shared(path)?;
    parse(&text).map_err(|msg| super::Error::Parse {
        path: path.to_path_buf(),
        msg,
    })
}

pub fn parse(text: &str) -> Result<ProcStat, String> {
    let mut st = ProcStat::default();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let mut it = line.split_ascii_whitespace();
        let Some(key) = it.next() else { continue };
        if let Some(id) = key.strip_prefix("cpu") {
            if id.is_empty() {
                continue; // the aggregate line
            }
            let cpu: u32 = id
                .parse()
                .map_err(|_| format!("line {n}: bad cpu name {key:?}"))?;
            let mut cols = [0u64; 10];
            let mut count = 0;
            for (slot, f) in cols.iter_mut().zip(&mut it) {
                *slot = num(n, f)?;
                count += 1;
            }
            // user, nice, system and idle have been there since Linux 1.x: fewer is a torn read.
            if count < 4 {
                return Err(format!(
                    "line {n}: {key} has {count} columns, want at least 4"
                ));
            }
            st.cpus.push((cpu, cols));
            continue;
        }
        if key == "softirq" {
            // procfs requires the total and all ten vectors (every kernel since 2.6.37 has them).
            let total = it
                .next()
                .ok_or_else(|| format!("line {n}: softirq has no total"))?;
            num(n, total)?;
            let mut v = [0u64; 10];
            let mut count = 0;
            for (slot, f) in v.iter_mut().zip(&mut it) {
                *slot = num(n, f)?;
                count += 1;
            }
            if count != 10 {
                return Err(format!("line {n}: softirq has {count} vectors, want 10"));
            }
            st.softirq = Some(v);
            continue;
        }
        let slot = match key {
            "intr" => &mut st.intr,
            "ctxt" => &mut st.ctxt,
            "btime" => &mut st.btime,
            "processes" => &mut st.processes,
            "procs_running" => &mut st.procs_running,
            "procs_blocked" => &mut st.procs_blocked,
            _ => continue,
        };
        let v = it
            .next()
            .ok_or_else(|| format!("line {n}: {key} has no value"))?;
        *slot = Some(num(n, v)?);
    }
    if st.cpus.is_empty() {
        return Err("no cpuN lines".into());
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured on this build machine: Debian 12, x86_64 KVM guest, 2 vCPUs, kernel 6.18
    /// (`cat /proc/stat`, intr line shortened to its first 12 numbers).
    const X86_64_SERVER: &str = "\
cpu  7635 0 5347 129710 828 0 101 248 0 0
cpu0 3534 0 2370 65666 186 0 14 130 0 0
cpu1 4101 0 2977 64043 641 0 86 117 0 0
intr 220820 0 0 0 0 0 0 0 0 0 0 0
ctxt 389269
btime 1795313012
processes 4917
procs_running 2
procs_blocked 0
softirq 179312 0 41546 4 16263 3498 0 2176 59470 0 56355
";

    /// OpenWrt on a MIPS router. NOT a capture: no genuine OpenWrt `/proc/stat` was found in the
    /// public material searched (issue threads and pages); this is built from proc_stat(5) with
    /// the shape OpenWrt's kernels print on ramips mt7621 (4 threads, no steal/guest activity,
    /// 10 columns as every kernel since 2.6.33 prints).
    const OPENWRT_MIPS_CONSTRUCTED: &str = "\
cpu  10132 0 8836 9912231 0 0 45321 0 0 0
cpu0 2650 0 2101 2476870 0 0 13210 0 0 0
cpu1 2431 0 2298 2479012 0 0 10876 0 0 0
cpu2 2580 0 2150 2478163 0 0 11002 0 0 0
cpu3 2471 0 2287 2478186 0 0 10233 0 0 0
intr 9836411 0 0 0 0 0 0 0 2511029 0 0
ctxt 14503211
btime 1700000123
processes 31377
procs_running 1
procs_blocked 0
softirq 7239016 0 1543213 6 2033165 0 0 1300128 1021833 0 1340671
";

    /// aarch64 board. NOT a capture: built from proc_stat(5) for a 4-core Cortex-A72 board
    /// (Raspberry Pi 4 class); no genuine aarch64 `/proc/stat` was found in the public material
    /// searched.
    const AARCH64_CONSTRUCTED: &str = "\
cpu  181201 1023 60012 8012331 3011 0 2102 0 0 0
cpu0 47012 311 16021 1998011 812 0 1201 0 0 0
cpu1 44410 201 14532 2005103 733 0 301 0 0 0
cpu2 45377 260 14913 2004011 720 0 310 0 0 0
cpu3 44402 251 14546 2005206 746 0 290 0 0 0
intr 40231876 0 0 13120341 0 0 0 0 0 0
ctxt 76311231
btime 1699990000
processes 120331
procs_running 3
procs_blocked 1
softirq 12032111 3 4012331 11 120331 1201 0 301 3012311 0 4873622
";

    #[test]
    fn stat_x86_64_server() {
        let st = parse(X86_64_SERVER).unwrap();
        assert_eq!(
            st.cpus,
            vec![
                (0, [3534, 0, 2370, 65666, 186, 0, 14, 130, 0, 0]),
                (1, [4101, 0, 2977, 64043, 641, 0, 86, 117, 0, 0]),
            ]
        );
        assert_eq!(st.intr, Some(220820));
        assert_eq!(st.ctxt, Some(389269));
        assert_eq!(st.btime, Some(1795313012));
        assert_eq!(st.processes, Some(4917));
        assert_eq!(st.procs_running, Some(2));
        assert_eq!(st.procs_blocked, Some(0));
        assert_eq!(
            st.softirq,
            Some([0, 41546, 4, 16263, 3498, 0, 2176, 59470, 0, 56355])
        );
    }

    #[test]
    fn stat_softirq_line_must_be_whole() {
        let cpu = "cpu0 1 2 3 4\n";
        assert!(parse(&format!("{cpu}softirq 10 1 2 3\n")).is_err());
        assert!(parse(&format!("{cpu}softirq\n")).is_err());
        assert!(parse(&format!("{cpu}softirq 1 1 1 1 1 1 1 1 1 1 x\n")).is_err());
        assert_eq!(parse(cpu).unwrap().softirq, None);
    }

    #[test]
    fn stat_x86_64_server_full_capture() {
        // The whole file as captured, with its 1,000-column intr line.
        let st = parse(include_str!(
            "../../tests/fixtures/node/captures/x86_64-stat"
        ))
        .unwrap();
        assert_eq!(st.cpus.len(), 2);
        assert!(st.btime.is_some() && st.ctxt.is_some() && st.intr.is_some());
    }

    #[test]
    fn stat_openwrt_mips_constructed() {
        let st = parse(OPENWRT_MIPS_CONSTRUCTED).unwrap();
        assert_eq!(st.cpus.len(), 4);
        assert_eq!(st.cpus[3].0, 3);
        assert_eq!(st.cpus[3].1[6], 10233);
        assert_eq!(st.intr, Some(9836411));
    }

    #[test]
    fn stat_aarch64_constructed() {
        let st = parse(AARCH64_CONSTRUCTED).unwrap();
        assert_eq!(st.cpus.len(), 4);
        assert_eq!(st.cpus[0].1[1], 311);
        assert_eq!(st.procs_blocked, Some(1));
    }

    #[test]
    fn old_kernel_short_cpu_lines_read_zero() {
        // Linux 2.6.x before steal/guest: 7 columns (the Red Hat reference guide's example).
        let st = parse("cpu  1 2 3 4 5 6 7\ncpu0 209841 1554 21720 118519346 72939 154 27168\n")
            .unwrap();
        assert_eq!(
            st.cpus[0].1,
            [209841, 1554, 21720, 118519346, 72939, 154, 27168, 0, 0, 0]
        );
        assert_eq!(st.btime, None);
    }

    #[test]
    fn non_contiguous_cpus_keep_their_numbers() {
        let st = parse("cpu0 1 2 3 4\ncpu2 5 6 7 8\n").unwrap();
        assert_eq!(st.cpus.iter().map(|c| c.0).collect::<Vec<_>>(), vec![0, 2]);
    }

    #[test]
    fn malformed_and_truncated() {
        assert!(parse("").is_err(), "empty");
        assert!(parse("ctxt 5\n").is_err(), "no cpu lines");
        assert!(parse("cpu0 1 2 3\n").is_err(), "torn cpu line");
        assert!(parse("cpu0 1 2 x 4\n").is_err(), "garbage column");
        assert!(parse("cpuX 1 2 3 4\n").is_err(), "bad cpu name");
        assert!(parse("cpu0 1 2 3 4\nbtime\n").is_err(), "missing value");
        assert!(parse("cpu0 1 2 3 4\nctxt -1\n").is_err(), "negative");
        // Truncated in the middle of the capture: still a valid prefix up to the cut line.
        let cut = &X86_64_SERVER[..X86_64_SERVER.find("cpu1").unwrap() + 9];
        assert!(parse(cut).is_err(), "cut inside cpu1: {cut:?}");
    }
}
