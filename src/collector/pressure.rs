//! `pressure`: pressure stall information from `/proc/pressure/{cpu,io,memory}`
//! (Documentation/accounting/psi.rst: `some|full avg10=.. avg60=.. avg300=.. total=<µs>`), as
//! node_exporter 1.5's counters `node_pressure_*_seconds_total`.
//!
//! A missing file (kernel before 4.20, CONFIG_PSI off) or EOPNOTSUPP (booted with psi=0) means
//! the machine has no PSI: nothing is emitted for it. A file without the line a family needs is
//! an error here (node_exporter 1.5 dereferences nil and exits).

use std::path::PathBuf;

use super::{read, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Pressure {
        dir: paths.proc("pressure"),
    }))
}

struct Pressure {
    dir: PathBuf,
}

/// The `total=` of the `some` and the `full` line, in microseconds.
#[derive(Debug, Default, PartialEq)]
pub struct Psi {
    pub some: Option<u64>,
    pub full: Option<u64>,
}

pub fn parse(text: &str) -> Result<Psi, String> {
    let mut psi = Psi::default();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let mut it = line.split(' ');
        let slot = match it.next() {
            Some("some") => &mut psi.some,
            Some("full") => &mut psi.full,
            // procfs ignores lines with another prefix.
            _ => continue,
        };
        let mut total = None;
        for (want, kv) in ["avg10", "avg60", "avg300", "total"].iter().zip(&mut it) {
            let (k, v) = kv
                .split_once('=')
                .filter(|(k, _)| k == want)
                .ok_or_else(|| format!("line {n}: want {want}=, got {kv:?}"))?;
            if *want == "total" {
                total = Some(
                    v.parse::<u64>()
                        .map_err(|_| format!("line {n}: bad total {v:?}"))?,
                );
            } else if v.parse::<f64>().is_err() {
                return Err(format!("line {n}: bad {k} {v:?}"));
            }
        }
        *slot = Some(total.ok_or_else(|| format!("line {n}: no total"))?);
    }
    Ok(psi)
}

/// Resource, line, family, HELP.
const FAMILIES: [(&str, bool, &str, &str); 5] = [
    (
        "cpu",
        false,
        "node_pressure_cpu_waiting_seconds_total",
        "Total time in seconds that processes have waited for CPU time",
    ),
    (
        "io",
        false,
        "node_pressure_io_waiting_seconds_total",
        "Total time in seconds that processes have waited due to IO congestion",
    ),
    (
        "io",
        true,
        "node_pressure_io_stalled_seconds_total",
        "Total time in seconds no process could make progress due to IO congestion",
    ),
    (
        "memory",
        false,
        "node_pressure_memory_waiting_seconds_total",
        "Total time in seconds that processes have waited for memory",
    ),
    (
        "memory",
        true,
        "node_pressure_memory_stalled_seconds_total",
        "Total time in seconds no process could make progress due to memory congestion",
    ),
];

impl Collector for Pressure {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        for res in ["cpu", "io", "memory"] {
            let path = self.dir.join(res);
            let text = match read(&path) {
                Ok(t) => t,
                Err(Error::Io { err, .. })
                    if err.kind() == std::io::ErrorKind::NotFound
                        || err.raw_os_error() == Some(libc::EOPNOTSUPP) =>
                {
                    continue
                }
                Err(e) => return Err(e),
            };
            let psi = parse(&text).map_err(|msg| Error::Parse {
                path: path.clone(),
                msg,
            })?;
            for (r, full, name, help) in FAMILIES {
                if r != res {
                    continue;
                }
                let v = if full { psi.full } else { psi.some };
                let v = v.ok_or_else(|| Error::Parse {
                    path: path.clone(),
                    msg: format!("no {} line", if full { "full" } else { "some" }),
                })?;
                // Divided twice, as node_exporter does, so the floats agree to the last bit.
                enc.single(name, help, MetricType::Counter, v as f64 / 1000.0 / 1000.0);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{parse, Psi};

    /// Captured on the x86_64 build VM (Debian 12, kernel 6.18).
    const CPU: &str = include_str!("../../tests/fixtures/server/proc/pressure/cpu");
    const IO: &str = include_str!("../../tests/fixtures/server/proc/pressure/io");

    #[test]
    fn pressure_x86_64_server() {
        // Since 5.13 cpu has a full line too; node_exporter does not export it.
        assert_eq!(
            parse(CPU).unwrap(),
            Psi {
                some: Some(32733311),
                full: Some(0)
            }
        );
        assert_eq!(
            parse(IO).unwrap(),
            Psi {
                some: Some(13894327),
                full: Some(11375144)
            }
        );
    }

    #[test]
    fn pressure_before_5_13_has_no_cpu_full() {
        let p = parse("some avg10=0.00 avg60=0.00 avg300=0.00 total=42\n").unwrap();
        assert_eq!(p.full, None);
        assert_eq!(p.some, Some(42));
    }

    #[test]
    fn pressure_malformed_and_truncated() {
        assert_eq!(parse("").unwrap(), Psi::default());
        assert!(parse("some avg10=0.00 avg60=0.00\n").is_err(), "truncated");
        assert!(parse("some avg10=0.00 avg60=0.00 avg300=0.00 total=x\n").is_err());
        assert!(parse("some avg10=x avg60=0.00 avg300=0.00 total=1\n").is_err());
        assert!(parse("full avg60=0.00 avg10=0.00 avg300=0.00 total=1\n").is_err());
    }
}
