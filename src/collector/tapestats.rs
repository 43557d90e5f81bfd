//! `tapestats`: SCSI tape drive statistics from `/sys/class/scsi_tape/st<N>/stats/*`
//! (Documentation/ABI/testing/sysfs-class-scsi_tape), as node_exporter 1.5's `node_tape_*`
//! families. Only `st<N>` entries are read: `nst<N>` and the mode nodes (`st<N>a`, ...) are
//! the same drive. No `scsi_tape` class: no data (success 0, as 1.5).

use std::path::PathBuf;

use super::pattern::Pattern;
use super::{sysfs, write_family, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::{Flags, Spec};

/// (file, family, type, divisor, HELP), in node_exporter's order.
#[rustfmt::skip]
const FAMILIES: &[(&str, &str, MetricType, f64, &str)] = &[
    ("in_flight", "node_tape_io_now", MetricType::Gauge, 1.0, "The number of I/Os currently outstanding to this device."),
    ("io_ns", "node_tape_io_time_seconds_total", MetricType::Counter, 1e9, "The amount of time spent waiting for all I/O to complete (including read and write). This includes tape movement commands such as seeking between file or set marks and implicit tape movement such as when rewind on close tape devices are used."),
    ("other_cnt", "node_tape_io_others_total", MetricType::Counter, 1.0, "The number of I/Os issued to the tape drive other than read or write commands. The time taken to complete these commands uses the following calculation io_time_seconds_total-read_time_seconds_total-write_time_seconds_total"),
    ("read_byte_cnt", "node_tape_read_bytes_total", MetricType::Counter, 1.0, "The number of bytes read from the tape drive."),
    ("read_cnt", "node_tape_reads_completed_total", MetricType::Counter, 1.0, "The number of read requests issued to the tape drive."),
    ("read_ns", "node_tape_read_time_seconds_total", MetricType::Counter, 1e9, "The amount of time spent waiting for read requests to complete."),
    // "thean" (sic): node_exporter's text.
    ("resid_cnt", "node_tape_residual_total", MetricType::Counter, 1.0, "The number of times during a read or write we found the residual amount to be non-zero. This should mean that a program is issuing a read larger thean the block size on tape. For write not all data made it to tape."),
    ("write_byte_cnt", "node_tape_written_bytes_total", MetricType::Counter, 1.0, "The number of bytes written to the tape drive."),
    ("write_cnt", "node_tape_writes_completed_total", MetricType::Counter, 1.0, "The number of write requests issued to the tape drive."),
    ("write_ns", "node_tape_write_time_seconds_total", MetricType::Counter, 1e9, "The amount of time spent waiting for write requests to complete."),
];

pub fn flags() -> Vec<Spec> {
    vec![Spec::value(
        "collector.tapestats.ignored-devices",
        Some("^$"),
        "Regexp of devices to ignore for tapestats.",
    )]
}

pub fn new(paths: &Paths, flags: &Flags) -> Result<Box<dyn Collector>, String> {
    let re = flags
        .value("collector.tapestats.ignored-devices")
        .unwrap_or_else(|| "^$".into());
    let ignored = Pattern::new(&re).map_err(|e| format!("bad regexp {re:?}: {e}"))?;
    Ok(Box::new(TapeStats {
        dir: paths.sys("class/scsi_tape"),
        ignored,
    }))
}

struct TapeStats {
    dir: PathBuf,
    ignored: Pattern,
}

/// True for the rewinding device nodes, `st` and digits.
pub fn is_tape_name(name: &str) -> bool {
    name.strip_prefix("st")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A decimal counter file's text.
pub fn parse_counter(text: &str) -> Result<u64, String> {
    let t = text.trim();
    t.parse().map_err(|_| format!("not a counter: {t:?}"))
}

impl Collector for TapeStats {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let Some(names) = sysfs::names(&self.dir)? else {
            return Err(Error::NoData(self.dir.display().to_string()));
        };
        let mut tapes = Vec::new();
        for name in names {
            if !is_tape_name(&name) || self.ignored.is_match(&name) {
                continue;
            }
            let mut vals = [0u64; FAMILIES.len()];
            for (slot, (file, ..)) in vals.iter_mut().zip(FAMILIES) {
                let path = self.dir.join(&name).join("stats").join(file);
                let text = match sysfs::read_attr(&path) {
                    Ok(t) => t,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(Error::Parse {
                            path,
                            msg: "missing".into(),
                        })
                    }
                    Err(e) => return Err(sysfs::io_err(&path, e)),
                };
                *slot = parse_counter(&text).map_err(|msg| Error::Parse { path, msg })?;
            }
            tapes.push((name, vals));
        }
        for (i, (_, name, typ, div, help)) in FAMILIES.iter().enumerate() {
            write_family(enc, name, help, *typ, |add| {
                for (dev, vals) in &tapes {
                    add(&[("device", dev)], vals[i] as f64 / div);
                }
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tape_names() {
        assert!(is_tape_name("st0") && is_tape_name("st12"));
        assert!(!is_tape_name("nst0") && !is_tape_name("st0a") && !is_tape_name("st"));
    }

    #[test]
    fn tape_counters() {
        assert_eq!(parse_counter("9247011087720\n"), Ok(9247011087720));
        assert!(parse_counter("").is_err());
        assert!(parse_counter("-1").is_err());
        assert!(parse_counter("0x10").is_err());
    }
}
