//! `infiniband`: InfiniBand HCAs from `/sys/class/infiniband/<device>/`
//! (Documentation/ABI/stable/sysfs-class-infiniband): an info series per device, then per port
//! its state, physical state, rate and the `counters/` (and pre-4.5 `counters_ext/`) counters,
//! as node_exporter 1.5's `node_infiniband_*` families. A counter the HCA does not implement
//! (absent, unreadable, or "N/A (no PMA)") gives no series. No infiniband class: no data,
//! success 0, as 1.5.

use std::path::{Path, PathBuf};

use super::fibrechannel::parse_uint_base0;
use super::{read, sysfs, write_family, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

/// (directory, file, family, multiplier, HELP). The data counters count 4-byte words.
#[rustfmt::skip]
const COUNTERS: [(&str, &str, &str, u64, &str); 30] = [
    ("counters_ext", "port_multicast_rcv_packets", "node_infiniband_legacy_multicast_packets_received_total", 1, "Number of multicast packets received"),
    ("counters_ext", "port_multicast_xmit_packets", "node_infiniband_legacy_multicast_packets_transmitted_total", 1, "Number of multicast packets transmitted"),
    ("counters_ext", "port_rcv_data_64", "node_infiniband_legacy_data_received_bytes_total", 4, "Number of data octets received on all links"),
    ("counters_ext", "port_rcv_packets_64", "node_infiniband_legacy_packets_received_total", 1, "Number of data packets received on all links"),
    ("counters_ext", "port_unicast_rcv_packets", "node_infiniband_legacy_unicast_packets_received_total", 1, "Number of unicast packets received"),
    ("counters_ext", "port_unicast_xmit_packets", "node_infiniband_legacy_unicast_packets_transmitted_total", 1, "Number of unicast packets transmitted"),
    ("counters_ext", "port_xmit_data_64", "node_infiniband_legacy_data_transmitted_bytes_total", 4, "Number of data octets transmitted on all links"),
    ("counters_ext", "port_xmit_packets_64", "node_infiniband_legacy_packets_transmitted_total", 1, "Number of data packets received on all links"),
    ("counters", "excessive_buffer_overrun_errors", "node_infiniband_excessive_buffer_overrun_errors_total", 1, "Number of times that OverrunErrors consecutive flow control update periods occurred, each having at least one overrun error."),
    ("counters", "link_downed", "node_infiniband_link_downed_total", 1, "Number of times the link failed to recover from an error state and went down"),
    ("counters", "link_error_recovery", "node_infiniband_link_error_recovery_total", 1, "Number of times the link successfully recovered from an error state"),
    ("counters", "local_link_integrity_errors", "node_infiniband_local_link_integrity_errors_total", 1, "Number of times that the count of local physical errors exceeded the threshold specified by LocalPhyErrors."),
    ("counters", "multicast_rcv_packets", "node_infiniband_multicast_packets_received_total", 1, "Number of multicast packets received (including errors)"),
    ("counters", "multicast_xmit_packets", "node_infiniband_multicast_packets_transmitted_total", 1, "Number of multicast packets transmitted (including errors)"),
    ("counters", "port_rcv_constraint_errors", "node_infiniband_port_constraint_errors_received_total", 1, "Number of packets received on the switch physical port that are discarded"),
    ("counters", "port_xmit_constraint_errors", "node_infiniband_port_constraint_errors_transmitted_total", 1, "Number of packets not transmitted from the switch physical port"),
    ("counters", "port_rcv_data", "node_infiniband_port_data_received_bytes_total", 4, "Number of data octets received on all links"),
    ("counters", "port_xmit_data", "node_infiniband_port_data_transmitted_bytes_total", 4, "Number of data octets transmitted on all links"),
    ("counters", "port_rcv_discards", "node_infiniband_port_discards_received_total", 1, "Number of inbound packets discarded by the port because the port is down or congested"),
    ("counters", "port_xmit_discards", "node_infiniband_port_discards_transmitted_total", 1, "Number of outbound packets discarded by the port because the port is down or congested"),
    ("counters", "port_rcv_errors", "node_infiniband_port_errors_received_total", 1, "Number of packets containing an error that were received on this port"),
    ("counters", "port_rcv_packets", "node_infiniband_port_packets_received_total", 1, "Number of packets received on all VLs by this port (including errors)"),
    ("counters", "port_xmit_packets", "node_infiniband_port_packets_transmitted_total", 1, "Number of packets transmitted on all VLs from this port (including errors)"),
    ("counters", "port_xmit_wait", "node_infiniband_port_transmit_wait_total", 1, "Number of ticks during which the port had data to transmit but no data was sent during the entire tick"),
    ("counters", "unicast_rcv_packets", "node_infiniband_unicast_packets_received_total", 1, "Number of unicast packets received (including errors)"),
    ("counters", "unicast_xmit_packets", "node_infiniband_unicast_packets_transmitted_total", 1, "Number of unicast packets transmitted (including errors)"),
    ("counters", "port_rcv_remote_physical_errors", "node_infiniband_port_receive_remote_physical_errors_total", 1, "Number of packets marked with the EBP (End of Bad Packet) delimiter received on the port."),
    ("counters", "port_rcv_switch_relay_errors", "node_infiniband_port_receive_switch_relay_errors_total", 1, "Number of packets that could not be forwarded by the switch."),
    ("counters", "symbol_error", "node_infiniband_symbol_error_total", 1, "Number of minor link errors detected on one or more physical lanes."),
    ("counters", "VL15_dropped", "node_infiniband_vl15_dropped_total", 1, "Number of incoming VL15 packets dropped due to resource limitations."),
];

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(InfiniBand {
        dir: paths.sys("class/infiniband"),
    }))
}

struct InfiniBand {
    dir: PathBuf,
}

/// `4: ACTIVE` → 4.
pub fn parse_state(text: &str) -> Result<u64, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let [id, _name] = parts.as_slice() else {
        return Err(format!("not 'ID: NAME': {text:?}"));
    };
    id.trim()
        .parse::<u32>()
        .map(u64::from)
        .map_err(|_| format!("bad state id in {text:?}"))
}

/// `40 Gb/sec (4X QDR)` → bytes per second (the number is read at float32 precision, as in
/// procfs).
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let (num, _) = text
        .split_once(' ')
        .ok_or_else(|| format!("no unit in rate {text:?}"))?;
    let gb: f32 = num
        .trim()
        .parse()
        .map_err(|_| format!("bad rate {text:?}"))?;
    let bytes = f64::from(gb) * 125_000_000.0;
    // procfs converts to an unsigned integer.
    Ok(if bytes > 0.0 { bytes.trunc() } else { 0.0 })
}

/// A counter file: `None` for "N/A (no PMA)" (ports whose performance agent is missing).
pub fn parse_counter(text: &str) -> Result<Option<u64>, String> {
    let t = text.trim();
    match parse_uint_base0(t) {
        Some(v) => Ok(Some(v)),
        None if t.contains("N/A (no PMA)") => Ok(None),
        None => Err(format!("not a counter: {t:?}")),
    }
}

struct Port {
    port: String,
    state: u64,
    phys_state: u64,
    rate: f64,
    counters: [Option<u64>; COUNTERS.len()],
}

struct Device {
    name: String,
    board_id: String,
    fw_ver: String,
    hca_type: String,
    ports: Vec<Port>,
}

fn parsed<T>(path: &Path, r: Result<T, String>) -> Result<T, Error> {
    r.map_err(|msg| Error::Parse {
        path: path.to_path_buf(),
        msg,
    })
}

fn read_port(base: &Path, port: &str) -> Result<Port, Error> {
    let dir = base.join("ports").join(port);
    port.parse::<u32>().map_err(|_| Error::Parse {
        path: dir.clone(),
        msg: "port is not a number".into(),
    })?;
    let attr = |f: &str| -> Result<(PathBuf, String), Error> {
        let p = dir.join(f);
        let t = read(&p)?;
        Ok((p, t))
    };
    let (p, t) = attr("state")?;
    let state = parsed(&p, parse_state(&t))?;
    let (p, t) = attr("phys_state")?;
    let phys_state = parsed(&p, parse_state(&t))?;
    let (p, t) = attr("rate")?;
    let rate = parsed(&p, parse_rate(t.trim()))?;
    // counters/ must exist; counters_ext/ only on kernels before 4.5.
    read_dir_or_err(&dir.join("counters"))?;
    let mut counters = [None; COUNTERS.len()];
    for (slot, (sub, file, _, mul, _)) in counters.iter_mut().zip(COUNTERS) {
        let path = dir.join(sub).join(file);
        let text = match sysfs::read_attr(&path) {
            Ok(t) => t,
            Err(e)
                if e.kind() == std::io::ErrorKind::PermissionDenied
                    || sysfs::errno_in(&e, &[libc::ENOENT, libc::EOPNOTSUPP, libc::EINVAL]) =>
            {
                continue
            }
            Err(e) => return Err(sysfs::io_err(&path, e)),
        };
        *slot = parsed(&path, parse_counter(&text))?.map(|v| v.wrapping_mul(mul));
    }
    Ok(Port {
        port: port.to_string(),
        state,
        phys_state,
        rate,
        counters,
    })
}

fn read_dir_or_err(dir: &Path) -> Result<Vec<String>, Error> {
    sysfs::names(dir)?.ok_or_else(|| Error::Io {
        path: dir.to_path_buf(),
        err: std::io::ErrorKind::NotFound.into(),
    })
}

fn read_device(dir: &Path, name: &str) -> Result<Device, Error> {
    let base = dir.join(name);
    let fw_ver = sysfs::attr(&base, "fw_ver")?;
    let board_id = sysfs::attr(&base, "board_id")?;
    let hca = base.join("hca_type");
    let hca_type = match sysfs::read_attr(&hca) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(sysfs::io_err(&hca, e)),
    };
    let mut ports = Vec::new();
    for p in read_dir_or_err(&base.join("ports"))? {
        ports.push(read_port(&base, &p)?);
    }
    Ok(Device {
        name: name.to_string(),
        board_id,
        fw_ver,
        hca_type,
        ports,
    })
}

impl Collector for InfiniBand {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let Some(names) = sysfs::names(&self.dir)? else {
            return Err(Error::NoData(self.dir.display().to_string()));
        };
        let devices = names
            .iter()
            .map(|n| read_device(&self.dir, n))
            .collect::<Result<Vec<_>, _>>()?;
        write_family(
            enc,
            "node_infiniband_info",
            "Non-numeric data from /sys/class/infiniband/<device>, value is always 1.",
            MetricType::Gauge,
            |add| {
                for d in &devices {
                    add(
                        &[
                            ("device", &d.name),
                            ("board_id", &d.board_id),
                            ("firmware_version", &d.fw_ver),
                            ("hca_type", &d.hca_type),
                        ],
                        1.0,
                    );
                }
            },
        );
        type Get = fn(&Port) -> f64;
        #[rustfmt::skip]
        let gauges: [(&str, &str, Get); 3] = [
            ("node_infiniband_state_id", "State of the InfiniBand port (0: no change, 1: down, 2: init, 3: armed, 4: active, 5: act defer)", |p| p.state as f64),
            ("node_infiniband_physical_state_id", "Physical state of the InfiniBand port (0: no change, 1: sleep, 2: polling, 3: disable, 4: shift, 5: link up, 6: link error recover, 7: phytest)", |p| p.phys_state as f64),
            ("node_infiniband_rate_bytes_per_second", "Maximum signal transfer rate", |p| p.rate),
        ];
        for (name, help, get) in gauges {
            write_family(enc, name, help, MetricType::Gauge, |add| {
                for d in &devices {
                    for p in &d.ports {
                        add(&[("device", &d.name), ("port", &p.port)], get(p));
                    }
                }
            });
        }
        for (i, (_, _, name, _, help)) in COUNTERS.iter().enumerate() {
            write_family(enc, name, help, MetricType::Counter, |add| {
                for d in &devices {
                    for p in &d.ports {
                        if let Some(v) = p.counters[i] {
                            add(&[("device", &d.name), ("port", &p.port)], v as f64);
                        }
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
    fn ib_state_and_rate() {
        assert_eq!(parse_state("4: ACTIVE\n"), Ok(4));
        assert_eq!(parse_state("5: LinkUp"), Ok(5));
        assert!(parse_state("ACTIVE").is_err());
        assert!(parse_state("x: ACTIVE").is_err());
        assert!(parse_state("4: A: B").is_err());
        assert_eq!(parse_rate("40 Gb/sec (4X QDR)"), Ok(5e9));
        assert_eq!(parse_rate("2.5 Gb/sec (1X SDR)"), Ok(312_500_000.0));
        assert!(parse_rate("40").is_err());
        assert!(parse_rate("fast Gb/sec").is_err());
    }

    #[test]
    fn ib_counters() {
        assert_eq!(parse_counter("4631917\n"), Ok(Some(4631917)));
        assert_eq!(parse_counter("N/A (no PMA)"), Ok(None));
        assert!(parse_counter("lots").is_err());
    }
}
