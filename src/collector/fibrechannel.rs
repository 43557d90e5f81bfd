//! `fibrechannel`: Fibre Channel host adapters from `/sys/class/fc_host/<host>/`
//! (Documentation/ABI/testing/sysfs-class-fc_host and the attributes of
//! drivers/scsi/scsi_transport_fc.c): one info series of the port's attributes and the
//! `statistics/` counters, as node_exporter 1.5's `node_fibrechannel_*` families. No fc_host
//! class: no data, success 0, as 1.5.

use std::path::{Path, PathBuf};

use super::{read, sysfs, write_family, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

/// The info labels after `fc_host`, each read from the file of the same name; the ones
/// marked true lose their "0x" prefix.
const INFO: [(&str, bool); 10] = [
    ("speed", false),
    ("port_state", false),
    ("port_type", false),
    ("port_id", true),
    ("port_name", true),
    ("fabric_name", true),
    ("symbolic_name", false),
    ("supported_classes", false),
    ("supported_speeds", false),
    ("dev_loss_tmo", false),
];

/// (statistics file, family, HELP), in 1.5's order.
#[rustfmt::skip]
const COUNTERS: [(&str, &str, &str); 14] = [
    ("dumped_frames", "node_fibrechannel_dumped_frames_total", "Number of dumped frames"),
    ("error_frames", "node_fibrechannel_error_frames_total", "Number of errors in frames"),
    ("invalid_crc_count", "node_fibrechannel_invalid_crc_total", "Invalid Cyclic Redundancy Check count"),
    ("rx_frames", "node_fibrechannel_rx_frames_total", "Number of frames received"),
    ("rx_words", "node_fibrechannel_rx_words_total", "Number of words received by host port"),
    ("tx_frames", "node_fibrechannel_tx_frames_total", "Number of frames transmitted by host port"),
    ("tx_words", "node_fibrechannel_tx_words_total", "Number of words transmitted by host port"),
    ("seconds_since_last_reset", "node_fibrechannel_seconds_since_last_reset_total", "Number of seconds since last host port reset"),
    ("invalid_tx_word_count", "node_fibrechannel_invalid_tx_words_total", "Number of invalid words transmitted by host port"),
    ("link_failure_count", "node_fibrechannel_link_failure_total", "Number of times the host port link has failed"),
    ("loss_of_sync_count", "node_fibrechannel_loss_of_sync_total", "Number of failures on either bit or transmission word boundaries"),
    ("loss_of_signal_count", "node_fibrechannel_loss_of_signal_total", "Number of times signal has been lost"),
    ("nos_count", "node_fibrechannel_nos_total", "Number Not_Operational Primitive Sequence received by host port"),
    ("fcp_packet_aborts", "node_fibrechannel_fcp_packet_aborts_total", "Number of aborted packets"),
];

/// A number the way Go's strconv parses base 0: `0x` hex, `0b` binary, `0o` or a leading 0
/// octal, else decimal.
pub fn parse_uint_base0(s: &str) -> Option<u64> {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if let Some(b) = s.strip_prefix("0b").or_else(|| s.strip_prefix("0B")) {
        (b, 2)
    } else if let Some(o) = s.strip_prefix("0o").or_else(|| s.strip_prefix("0O")) {
        (o, 8)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// A statistics counter: `None` for the kernel's "not available" all-ones value.
pub fn parse_counter(text: &str) -> Result<Option<u64>, String> {
    let t = text.trim();
    match parse_uint_base0(t) {
        Some(u64::MAX) => Ok(None),
        Some(v) => Ok(Some(v)),
        None => Err(format!("not a counter: {t:?}")),
    }
}

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(FibreChannel {
        dir: paths.sys("class/fc_host"),
    }))
}

struct FibreChannel {
    dir: PathBuf,
}

struct Host {
    name: String,
    info: Vec<String>,
    counters: [Option<u64>; COUNTERS.len()],
}

fn read_host(dir: &Path, name: &str) -> Result<Host, Error> {
    let base = dir.join(name);
    // Required by 1.5 though not exported.
    read(&base.join("node_name"))?;
    let mut info = Vec::with_capacity(INFO.len());
    for (file, strip) in INFO {
        let v = sysfs::attr(&base, file)?;
        info.push(if strip {
            v.get(2..).unwrap_or("").to_string()
        } else {
            v
        });
    }
    let mut counters = [Some(0); COUNTERS.len()];
    for (slot, (file, ..)) in counters.iter_mut().zip(COUNTERS) {
        let path = base.join("statistics").join(file);
        // A counter the driver does not implement (absent, EOPNOTSUPP or EINVAL on read)
        // counts as 0, as in 1.5.
        let text = match sysfs::read_attr(&path) {
            Ok(t) => t,
            Err(e) if sysfs::errno_in(&e, &[libc::ENOENT, libc::EOPNOTSUPP, libc::EINVAL]) => {
                continue
            }
            Err(e) => return Err(sysfs::io_err(&path, e)),
        };
        *slot = parse_counter(&text).map_err(|msg| Error::Parse { path, msg })?;
    }
    Ok(Host {
        name: name.to_string(),
        info,
        counters,
    })
}

impl Collector for FibreChannel {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let Some(names) = sysfs::names(&self.dir)? else {
            return Err(Error::NoData(self.dir.display().to_string()));
        };
        let hosts = names
            .iter()
            .map(|n| read_host(&self.dir, n))
            .collect::<Result<Vec<_>, _>>()?;
        write_family(
            enc,
            "node_fibrechannel_info",
            "Non-numeric data from /sys/class/fc_host/<host>, value is always 1.",
            MetricType::Gauge,
            |add| {
                for h in &hosts {
                    let mut labels = vec![("fc_host", h.name.as_str())];
                    labels.extend(INFO.iter().zip(&h.info).map(|((k, _), v)| (*k, v.as_str())));
                    add(&labels, 1.0);
                }
            },
        );
        for (i, (_, name, help)) in COUNTERS.iter().enumerate() {
            write_family(enc, name, help, MetricType::Counter, |add| {
                for h in &hosts {
                    if let Some(v) = h.counters[i] {
                        add(&[("fc_host", &h.name)], v as f64);
                    }
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
    fn fc_counters_base0_and_not_available() {
        assert_eq!(parse_counter("0x10\n"), Ok(Some(16)));
        assert_eq!(parse_counter("0x0"), Ok(Some(0)));
        assert_eq!(parse_counter("12"), Ok(Some(12)));
        assert_eq!(parse_counter("010"), Ok(Some(8)));
        assert_eq!(parse_counter("0xffffffffffffffff"), Ok(None));
        assert!(parse_counter("").is_err());
        assert!(parse_counter("0x").is_err());
        assert!(parse_counter("-1").is_err());
        assert!(parse_counter("0x1g").is_err());
    }
}
