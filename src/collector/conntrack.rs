//! `conntrack`: the netfilter connection table's size and limit
//! (`/proc/sys/net/netfilter/nf_conntrack_{count,max}`) and its per-CPU statistics summed
//! (`/proc/net/stat/nf_conntrack`, one header line then 17 hex columns per CPU), as
//! node_exporter 1.5's gauges `node_nf_conntrack_*`.
//!
//! Without the nf_conntrack module the files do not exist: node_exporter then stops at the
//! first missing file (keeping what it sent) with "no data"; promlet stops there too and reports
//! success, since nothing is wrong with the machine.

use std::path::{Path, PathBuf};

use super::entropy::parse_uint;
use super::{read_optional, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Conntrack {
        count: paths.proc("sys/net/netfilter/nf_conntrack_count"),
        max: paths.proc("sys/net/netfilter/nf_conntrack_max"),
        stat: paths.proc("net/stat/nf_conntrack"),
    }))
}

struct Conntrack {
    count: PathBuf,
    max: PathBuf,
    stat: PathBuf,
}

/// Column of the stat file, family and HELP, in node_exporter's order.
const STATS: [(usize, &str, &str); 8] = [
    (2, "node_nf_conntrack_stat_found", "Number of searched entries which were successful."),
    (4, "node_nf_conntrack_stat_invalid", "Number of packets seen which can not be tracked."),
    (5, "node_nf_conntrack_stat_ignore", "Number of packets seen which are already connected to a conntrack entry."),
    (8, "node_nf_conntrack_stat_insert", "Number of entries inserted into the list."),
    (9, "node_nf_conntrack_stat_insert_failed", "Number of entries for which list insertion was attempted but failed."),
    (10, "node_nf_conntrack_stat_drop", "Number of packets dropped due to conntrack failure."),
    (11, "node_nf_conntrack_stat_early_drop", "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached."),
    (16, "node_nf_conntrack_stat_search_restart", "Number of conntrack table lookups which had to be restarted due to hashtable resizes."),
];

/// The 17 columns of `/proc/net/stat/nf_conntrack`, summed over the CPU lines.
pub fn parse_stat(text: &str) -> Result<[u64; 17], String> {
    let mut sum = [0u64; 17];
    // The first line names the columns (their names changed across kernels, positions did not).
    for (i, line) in text.lines().enumerate().skip(1) {
        let n = i + 1;
        let mut count = 0;
        for f in line.split_ascii_whitespace() {
            let slot = sum
                .get_mut(count)
                .ok_or_else(|| format!("line {n}: more than 17 fields"))?;
            let v = u64::from_str_radix(f, 16)
                .map_err(|_| format!("line {n}: not a hex number: {f:?}"))?;
            *slot = slot.wrapping_add(v);
            count += 1;
        }
        if count != 17 {
            return Err(format!("line {n}: {count} fields, want 17"));
        }
    }
    Ok(sum)
}

fn uint(path: &Path) -> Result<Option<u64>, Error> {
    let Some(t) = read_optional(path)? else {
        return Ok(None);
    };
    parse_uint(&t).map(Some).map_err(|msg| Error::Parse {
        path: path.to_path_buf(),
        msg,
    })
}

impl Collector for Conntrack {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let Some(count) = uint(&self.count)? else {
            return Ok(());
        };
        enc.single(
            "node_nf_conntrack_entries",
            "Number of currently allocated flow entries for connection tracking.",
            MetricType::Gauge,
            count as f64,
        );
        let Some(max) = uint(&self.max)? else {
            return Ok(());
        };
        enc.single(
            "node_nf_conntrack_entries_limit",
            "Maximum size of connection tracking table.",
            MetricType::Gauge,
            max as f64,
        );
        let Some(text) = read_optional(&self.stat)? else {
            return Ok(());
        };
        let sum = parse_stat(&text).map_err(|msg| Error::Parse {
            path: self.stat.clone(),
            msg,
        })?;
        for (col, name, help) in STATS {
            let v = sum.get(col).copied().unwrap_or(0);
            enc.single(name, help, MetricType::Gauge, v as f64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_stat;

    /// Captured on the x86_64 build VM (Debian 12, kernel 6.18, 2 vCPUs): the header names
    /// `clashres` where older kernels said `searched`.
    const X86_64_SERVER: &str =
        include_str!("../../tests/fixtures/server/proc/net/stat/nf_conntrack");

    #[test]
    fn conntrack_stat_x86_64_server() {
        assert_eq!(parse_stat(X86_64_SERVER).unwrap(), [0; 17]);
    }

    #[test]
    fn conntrack_stat_sums_cpus() {
        let t = "entries searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error expect_new expect_create expect_delete search_restart
0000002a  00000000 00000010 00000000 00000003 00000005 00000000 00000000 00000007 00000001 00000002 00000000 00000000  00000000 00000000 00000000 0000000b
0000002a  00000000 00000001 00000000 00000001 00000001 00000000 00000000 00000001 00000001 00000001 00000004 00000000  00000000 00000000 00000000 00000001
";
        let s = parse_stat(t).unwrap();
        assert_eq!(s[2], 17, "found");
        assert_eq!(s[4], 4, "invalid");
        assert_eq!(s[8], 8, "insert");
        assert_eq!(s[11], 4, "early_drop");
        assert_eq!(s[16], 12, "search_restart");
    }

    #[test]
    fn conntrack_stat_malformed() {
        assert_eq!(parse_stat("header only\n").unwrap(), [0; 17]);
        assert!(parse_stat("h\n1 2 3\n").is_err(), "short line");
        assert!(parse_stat(&format!("h\n{}\n", ["1"; 18].join(" "))).is_err());
        assert!(parse_stat(&format!("h\n{} zz\n", ["1"; 16].join(" "))).is_err());
        assert!(parse_stat("h\n\n").is_err(), "an empty CPU line");
    }
}
