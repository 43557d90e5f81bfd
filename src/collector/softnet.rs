//! `softnet`: per-CPU packet processing counters from `/proc/net/softnet_stat` (one line per
//! online CPU, hex columns; the first three are processed, dropped and time_squeezed), as
//! node_exporter 1.5's counters `node_softnet_*_total{cpu}`. As in 1.5, `cpu` is the line's
//! index and a missing file is an error.

use std::path::PathBuf;

use super::{read, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Softnet {
        path: paths.proc("net/softnet_stat"),
    }))
}

struct Softnet {
    path: PathBuf,
}

/// processed, dropped, time_squeezed of every line. The kernel prints them as 32-bit
/// counters (they wrap at 2^32); a wider value is refused as procfs does.
pub fn parse(text: &str) -> Result<Vec<[u32; 3]>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let cols: Vec<&str> = line.split_ascii_whitespace().collect();
        if cols.len() < 9 {
            return Err(format!("line {n}: {} columns, want at least 9", cols.len()));
        }
        let mut v = [0u32; 3];
        for (slot, c) in v.iter_mut().zip(&cols) {
            *slot = u32::from_str_radix(c, 16)
                .map_err(|_| format!("line {n}: not a 32-bit hex number: {c:?}"))?;
        }
        out.push(v);
    }
    Ok(out)
}

impl Collector for Softnet {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let text = read(&self.path)?;
        let rows = parse(&text).map_err(|msg| Error::Parse {
            path: self.path.clone(),
            msg,
        })?;
        let cpus: Vec<String> = (0..rows.len()).map(|i| i.to_string()).collect();
        let fams = [
            (
                "node_softnet_processed_total",
                "Number of processed packets",
            ),
            ("node_softnet_dropped_total", "Number of dropped packets"),
            (
                "node_softnet_times_squeezed_total",
                "Number of times processing packets ran out of quota",
            ),
        ];
        for (col, (name, help)) in fams.iter().enumerate() {
            let mut f = enc.family(name, help, MetricType::Counter);
            for (cpu, v) in cpus.iter().zip(&rows) {
                f.sample(&[("cpu", cpu)], v.get(col).copied().unwrap_or(0) as f64);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    /// Captured on the x86_64 build VM (Debian 12, kernel 6.18, 2 vCPUs): 15 columns.
    const X86_64_SERVER: &str = include_str!("../../tests/fixtures/server/proc/net/softnet_stat");

    #[test]
    fn softnet_x86_64_server() {
        assert_eq!(
            parse(X86_64_SERVER).unwrap(),
            [[0x8e, 0, 0], [0x2cf2, 0, 0]]
        );
    }

    #[test]
    fn softnet_old_kernel_nine_columns() {
        // Linux 2.6.x to 3.x print 10 columns (older ones 9); only the first three are used.
        let t =
            "0004d0f2 00000000 0000001d 00000000 00000000 00000000 00000000 00000000 00000000\n";
        assert_eq!(parse(t).unwrap(), [[0x4d0f2, 0, 0x1d]]);
    }

    #[test]
    fn softnet_malformed() {
        assert!(parse("1 2 3\n").is_err(), "short line");
        assert!(parse("\n").is_err(), "empty line");
        assert!(
            parse("100000000 0 0 0 0 0 0 0 0\n").is_err(),
            "wider than 32 bits"
        );
        assert!(parse("zz 0 0 0 0 0 0 0 0\n").is_err());
        assert!(parse("").unwrap().is_empty());
    }
}
