//! `schedstat`: per-CPU run and wait time and timeslices from `/proc/schedstat`
//! (Documentation/scheduler/sched-stats.rst: `cpu<N>` followed by 9 numbers, of which the 7th,
//! 8th and 9th are running ns, waiting ns and timeslices), as node_exporter 1.5's counters
//! `node_schedstat_*{cpu}`. The file exists only with CONFIG_SCHEDSTATS; without it nothing is
//! emitted.

use std::path::PathBuf;

use super::{read_optional, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Schedstat {
        path: paths.proc("schedstat"),
    }))
}

struct Schedstat {
    path: PathBuf,
}

/// CPU number (as written) and running ns, waiting ns, timeslices.
pub fn parse(text: &str) -> Result<Vec<(&str, [u64; 3])>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        // procfs matches `cpu(\d+)` and 9 numbers separated by single spaces; other lines
        // (version, timestamp, domainN) are not CPU lines.
        let Some(rest) = line.strip_prefix("cpu") else {
            continue;
        };
        let mut it = rest.split(' ');
        let Some(cpu) = it
            .next()
            .filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let cols: Vec<&str> = it.take(9).collect();
        if cols.len() < 9
            || !cols
                .iter()
                .all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        let mut v = [0u64; 3];
        for (slot, c) in v.iter_mut().zip(&cols[6..9]) {
            *slot = c
                .parse()
                .map_err(|_| format!("line {}: number out of range: {c:?}", i + 1))?;
        }
        out.push((cpu, v));
    }
    Ok(out)
}

impl Collector for Schedstat {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let Some(text) = read_optional(&self.path)? else {
            return Ok(());
        };
        let cpus = parse(&text).map_err(|msg| Error::Parse {
            path: self.path.clone(),
            msg,
        })?;
        let rows: [(&str, &str, f64); 3] = [
            (
                "node_schedstat_running_seconds_total",
                "Number of seconds CPU spent running a process.",
                1e9,
            ),
            (
                "node_schedstat_waiting_seconds_total",
                "Number of seconds spent by processing waiting for this CPU.",
                1e9,
            ),
            (
                "node_schedstat_timeslices_total",
                "Number of timeslices executed by CPU.",
                1.0,
            ),
        ];
        for (i, (name, help, div)) in rows.iter().enumerate() {
            let mut f = enc.family(name, help, MetricType::Counter);
            for (cpu, v) in &cpus {
                f.sample(&[("cpu", cpu)], v.get(i).copied().unwrap_or(0) as f64 / div);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    /// Constructed from Documentation/scheduler/sched-stats.rst (version 15, as kernels 4.x to
    /// 6.5 print it) for a 2-CPU server; this VM's kernel has no CONFIG_SCHEDSTATS.
    const SERVER_CONSTRUCTED: &str = include_str!("../../tests/fixtures/server/proc/schedstat");

    #[test]
    fn schedstat_server_constructed() {
        let c = parse(SERVER_CONSTRUCTED).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0], ("0", [2045936778163039, 343796328169361, 4767485306]));
        assert_eq!(c[1].0, "1");
    }

    #[test]
    fn schedstat_skips_other_lines_and_refuses_overflow() {
        assert!(parse("version 15\ntimestamp 1\ndomain0 3 1 2 3\n")
            .unwrap()
            .is_empty());
        assert!(
            parse("cpu0 1 2 3\n").unwrap().is_empty(),
            "short line is not a CPU line"
        );
        assert!(parse("cpu0 0 0 0 0 0 0 99999999999999999999 1 1\n").is_err());
    }
}
