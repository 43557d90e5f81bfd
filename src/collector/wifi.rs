//! `wifi`: wireless interfaces and their associated stations, read from the kernel with
//! nl80211 over promlet's own generic netlink socket ([`crate::netlink`]; no libnl, iwinfo or
//! ubus). Names, labels and units are those of OpenWrt's prometheus-node-exporter-lua `wifi`
//! and `wifi_stations` collectors (`wifi_network_*`, `wifi_station*`), so existing router
//! dashboards keep working; station connected time, TX retries and failures and beacon
//! loss, which the Lua exporter lacks, come under node_exporter's `node_wifi_station_*`
//! names and labels. Off by default (on in the OpenWrt package).
//!
//! Per scrape: resolve the nl80211 family (a kernel without cfg80211 has none: no series,
//! success), dump the interfaces, read the regulatory country, then dump each interface's
//! stations and survey. An interface that disappears between the dumps (ENODEV) is left
//! out; the rest are served.

use std::path::PathBuf;
use std::time::Duration;

use super::{Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;
use crate::netlink::nl80211::{self, Interface, Station};
use crate::netlink::socket::{Socket, NETLINK_GENERIC};
use crate::netlink::{self, exchange, Transport, ENODEV};

pub fn new(paths: &Paths, _flags: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Wifi {
        sysfs: paths.sysfs.clone(),
    }))
}

struct Wifi {
    sysfs: PathBuf,
}

/// One interface with what the scrape learnt about it.
#[derive(Debug)]
pub struct Iface {
    pub iface: Interface,
    /// The wiphy's name (`phy0`), the `device` label.
    pub phy: String,
    pub country: String,
    pub stations: Vec<Station>,
    /// Noise of the survey entry on the interface's frequency (the in-use one preferred).
    pub noise_dbm: Option<i8>,
}

/// Reads every wireless interface over `t`. `phy` names an interface's wiphy.
pub fn collect(
    t: &mut dyn Transport,
    phy: &dyn Fn(&Interface) -> String,
) -> Result<Vec<Iface>, netlink::Error> {
    let Some(fam) = netlink::family_id(t, "nl80211")? else {
        return Ok(Vec::new());
    };
    let ifaces = exchange(t, &nl80211::get_interface_dump(fam), &mut |m| {
        nl80211::parse_interface(m)
    })?;
    if ifaces.is_empty() {
        return Ok(Vec::new());
    }
    // One global regulatory domain; its absence is only a missing label value.
    let country = exchange(t, &nl80211::get_reg(fam), &mut |m| nl80211::parse_reg(m))
        .ok()
        .and_then(|v| v.into_iter().next())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(ifaces.len());
    for iface in ifaces {
        let st = nl80211::get_station_dump(fam, iface.ifindex);
        let stations = match exchange(t, &st, &mut |m| nl80211::parse_station(m)) {
            Ok(s) => s,
            // Removed since the interface dump (hostapd restarting, a VIF torn down).
            Err(netlink::Error::Kernel(ENODEV)) => continue,
            // Interface types without stations (monitor) answer with an error.
            Err(netlink::Error::Kernel(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        let sv = nl80211::get_survey_dump(fam, iface.ifindex);
        let noise_dbm = match exchange(t, &sv, &mut |m| nl80211::parse_survey(m)) {
            Ok(entries) => {
                let on_freq: Vec<_> = entries
                    .iter()
                    .filter(|s| s.freq.is_some() && s.freq == iface.freq && s.noise_dbm.is_some())
                    .collect();
                on_freq
                    .iter()
                    .find(|s| s.in_use)
                    .or(on_freq.first())
                    .and_then(|s| s.noise_dbm)
            }
            Err(netlink::Error::Kernel(ENODEV)) => continue,
            Err(netlink::Error::Kernel(_)) => None,
            Err(e) => return Err(e),
        };
        out.push(Iface {
            phy: phy(&iface),
            iface,
            country: country.clone(),
            stations,
            noise_dbm,
        });
    }
    Ok(out)
}

fn mac_text(m: &[u8; 6], upper: bool) -> String {
    let mut s = String::with_capacity(17);
    for (i, b) in m.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = if upper {
            std::fmt::Write::write_fmt(&mut s, format_args!("{b:02X}"))
        } else {
            std::fmt::Write::write_fmt(&mut s, format_args!("{b:02x}"))
        };
    }
    s
}

/// The interface's mean station signal, dBm (iwinfo's `signal`), if any station reports one.
fn mean_signal(st: &[Station]) -> Option<i64> {
    let v: Vec<i64> = st
        .iter()
        .filter_map(|s| s.signal_dbm)
        .map(i64::from)
        .collect();
    (!v.is_empty()).then(|| v.iter().sum::<i64>() / v.len() as i64)
}

/// iwinfo's quality (0..70 from the signal) scaled to percent as the Lua collector does.
fn quality(signal: Option<i64>) -> f64 {
    let Some(s) = signal else { return 0.0 };
    let q = if s >= 0 { s } else { s.clamp(-110, -40) + 110 };
    if q <= 0 {
        return 0.0;
    }
    (100.0 / 70.0 * q as f64).floor()
}

/// Mean legacy (16-bit) TX rate of the stations, kbit/s (iwinfo's `bitrate`).
fn mean_bitrate(st: &[Station]) -> f64 {
    let v: Vec<u64> = st
        .iter()
        .filter_map(|s| s.tx_bitrate16)
        .map(u64::from)
        .collect();
    if v.is_empty() {
        return 0.0;
    }
    (v.iter().sum::<u64>() / v.len() as u64 * 100) as f64
}

/// Writes the families for `ifaces`.
pub fn write(enc: &mut Encoder, ifaces: &[Iface]) {
    struct Net {
        labels: [(&'static str, String); 8],
        quality: f64,
        bitrate: f64,
        noise: f64,
        signal: f64,
    }
    let nets: Vec<Net> = ifaces
        .iter()
        .map(|w| {
            let i = &w.iface;
            let freq = i.freq.unwrap_or(0);
            let signal = mean_signal(&w.stations);
            Net {
                labels: [
                    ("channel", nl80211::channel(freq).to_string()),
                    (
                        "ssid",
                        String::from_utf8_lossy(i.ssid.as_deref().unwrap_or_default()).into_owned(),
                    ),
                    (
                        "bssid",
                        i.mac.map(|m| mac_text(&m, false)).unwrap_or_default(),
                    ),
                    ("mode", nl80211::mode_name(i.iftype).to_string()),
                    ("ifname", i.ifname.clone()),
                    ("country", w.country.clone()),
                    ("frequency", freq.to_string()),
                    ("device", w.phy.clone()),
                ],
                quality: quality(signal),
                bitrate: mean_bitrate(&w.stations),
                noise: w.noise_dbm.map_or(0.0, f64::from),
                // The Lua collector's value when iwinfo has none (no station).
                signal: signal.map_or(-255.0, |s| s as f64),
            }
        })
        .collect();
    let net = |enc: &mut Encoder, name: &str, help: &str, v: &dyn Fn(&Net) -> f64| {
        let mut f = enc.family(name, help, MetricType::Gauge);
        for n in &nets {
            let l: Vec<(&str, &str)> = n.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            f.sample(&l, v(n));
        }
    };
    if ifaces.is_empty() {
        return;
    }
    net(
        enc,
        "wifi_network_quality",
        "Wi-Fi link quality from the mean station signal, percent.",
        &|n| n.quality,
    );
    net(
        enc,
        "wifi_network_bitrate",
        "Mean transmit bitrate to the associated stations, kbit/s.",
        &|n| n.bitrate,
    );
    net(
        enc,
        "wifi_network_noise_dbm",
        "Noise on the interface's channel, dBm.",
        &|n| n.noise,
    );
    net(
        enc,
        "wifi_network_signal_dbm",
        "Mean signal of the associated stations, dBm (-255: none).",
        &|n| n.signal,
    );

    let mut f = enc.family(
        "wifi_stations",
        "Number of associated stations.",
        MetricType::Gauge,
    );
    for w in ifaces {
        f.sample(&[("ifname", &w.iface.ifname)], w.stations.len() as f64);
    }
    // (ifname, upper-case mac, lower-case mac, station) for every station.
    let all: Vec<(&str, String, String, &Station)> = ifaces
        .iter()
        .flat_map(|w| {
            w.stations.iter().map(move |s| {
                (
                    w.iface.ifname.as_str(),
                    mac_text(&s.mac, true),
                    mac_text(&s.mac, false),
                    s,
                )
            })
        })
        .collect();
    type Pick = fn(&Station) -> Option<f64>;
    let lua: [(&str, &str, MetricType, Pick); 9] = [
        (
            "wifi_station_signal_dbm",
            "Signal of the station's last frame, dBm.",
            MetricType::Gauge,
            |s| s.signal_dbm.filter(|v| *v != 0).map(f64::from),
        ),
        (
            "wifi_station_inactive_milliseconds",
            "Time since the station was last active, ms.",
            MetricType::Gauge,
            |s| Some(s.inactive_ms.map_or(0.0, f64::from)),
        ),
        (
            "wifi_station_expected_throughput_kilobits_per_second",
            "Expected throughput to the station, kbit/s.",
            MetricType::Gauge,
            |s| s.expected_throughput.filter(|v| *v != 0).map(f64::from),
        ),
        (
            "wifi_station_transmit_kilobits_per_second",
            "Current unicast transmit rate to the station, kbit/s.",
            MetricType::Gauge,
            |s| s.tx_bitrate.filter(|v| *v != 0).map(|v| v as f64 * 100.0),
        ),
        (
            "wifi_station_receive_kilobits_per_second",
            "Rate of the last unicast frame from the station, kbit/s.",
            MetricType::Gauge,
            |s| s.rx_bitrate.filter(|v| *v != 0).map(|v| v as f64 * 100.0),
        ),
        (
            "wifi_station_transmit_packets_total",
            "Packets sent to the station.",
            MetricType::Counter,
            |s| Some(s.tx_packets.map_or(0.0, f64::from)),
        ),
        (
            "wifi_station_receive_packets_total",
            "Packets received from the station.",
            MetricType::Counter,
            |s| Some(s.rx_packets.map_or(0.0, f64::from)),
        ),
        (
            "wifi_station_transmit_bytes_total",
            "Bytes sent to the station.",
            MetricType::Counter,
            |s| s.tx_bytes.map(|v| v as f64),
        ),
        (
            "wifi_station_receive_bytes_total",
            "Bytes received from the station.",
            MetricType::Counter,
            |s| s.rx_bytes.map(|v| v as f64),
        ),
    ];
    for (name, help, typ, pick) in lua {
        let mut f = enc.family(name, help, typ);
        for (ifname, mac, _, s) in &all {
            if let Some(v) = pick(s) {
                f.sample(&[("ifname", ifname), ("mac", mac)], v);
            }
        }
    }
    // node_exporter writes these for every station, 0 when the driver sends nothing.
    let node: [(&str, &str, Pick); 4] = [
        (
            "node_wifi_station_connected_seconds_total",
            "The total number of seconds a station has been connected to an access point.",
            |s| s.connected_s.map(f64::from),
        ),
        (
            "node_wifi_station_transmit_retries_total",
            "The total number of times a station has had to retry while sending a packet.",
            |s| s.tx_retries.map(f64::from),
        ),
        (
            "node_wifi_station_transmit_failed_total",
            "The total number of times a station has failed to send a packet.",
            |s| s.tx_failed.map(f64::from),
        ),
        (
            "node_wifi_station_beacon_loss_total",
            "The total number of times a station has detected a beacon loss.",
            |s| s.beacon_loss.map(f64::from),
        ),
    ];
    for (name, help, pick) in node {
        let mut f = enc.family(name, help, MetricType::Counter);
        for (ifname, _, mac, s) in &all {
            f.sample(
                &[("device", ifname), ("mac_address", mac)],
                pick(s).unwrap_or(0.0),
            );
        }
    }
}

impl Wifi {
    /// `/sys/class/net/<if>/phy80211/name`, else `phy<wiphy index>`.
    fn phy_name(&self, i: &Interface) -> String {
        let p = self
            .sysfs
            .join("class/net")
            .join(&i.ifname)
            .join("phy80211/name");
        match super::read(&p) {
            Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
            _ => i.wiphy.map(|w| format!("phy{w}")).unwrap_or_default(),
        }
    }
}

impl Collector for Wifi {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let err = |e: netlink::Error| Error::Other(format!("nl80211: {e}"));
        let mut sock =
            Socket::open(NETLINK_GENERIC, Duration::from_secs(5)).map_err(|e| err(e.into()))?;
        let ifaces = collect(&mut sock, &|i| self.phy_name(i)).map_err(err)?;
        write(enc, &ifaces);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::fake::*;
    use crate::netlink::nl80211::tests::*;
    use crate::netlink::nl80211::*;
    use crate::netlink::{ENOENT, NLM_F_MULTI};

    const FAM: u16 = 0x1c;

    /// A fake kernel with nl80211: two AP interfaces (ifindex 3 with two stations, 4 with
    /// none); `gone` makes ifindex 4 vanish after the interface dump.
    fn kernel(gone: bool) -> Fake {
        Fake::new(Box::new(move |req, seq| {
            let typ = u16::from_ne_bytes([req[4], req[5]]);
            let cmd = req[16];
            let ifindex = req
                .get(24..28)
                .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
            if typ == 0x10 {
                let mut p = vec![1, 2, 0, 0];
                p.extend(attr(1, &FAM.to_ne_bytes()));
                let mut d = message(0x10, 0, seq, &p);
                d.extend(error(seq, 0));
                return vec![Ok(d)];
            }
            assert_eq!(typ, FAM);
            match (cmd, ifindex) {
                (CMD_GET_INTERFACE, _) => {
                    let mut d = new_interface(
                        FAM,
                        seq,
                        3,
                        "phy0-ap0",
                        [0x02, 0xAB, 0xCD, 0, 0, 1],
                        b"Home \"5G\"",
                        5180,
                    );
                    d.extend(new_interface(
                        FAM,
                        seq,
                        4,
                        "phy1-ap0",
                        [0x02, 0xAB, 0xCD, 0, 0, 2],
                        b"Home",
                        2437,
                    ));
                    vec![Ok(d), Ok(done(seq, 0))]
                }
                (CMD_GET_REG, _) => {
                    let mut d = genl(FAM, seq, CMD_GET_REG, &[attr(ATTR_REG_ALPHA2, b"DE\0")]);
                    d[6..8].copy_from_slice(&0u16.to_ne_bytes());
                    d.extend(error(seq, 0));
                    vec![Ok(d)]
                }
                (CMD_GET_STATION, Some(3)) => vec![
                    Ok(new_station(
                        FAM,
                        seq,
                        3,
                        [0xaa, 0xbb, 0xcc, 0x11, 0x22, 0x33],
                        -50,
                        1,
                    )),
                    Ok([
                        new_station(FAM, seq, 3, [0xaa, 0xbb, 0xcc, 0x11, 0x22, 0x34], -61, 2),
                        done(seq, 0),
                    ]
                    .concat()),
                ],
                (CMD_GET_STATION, Some(4)) if gone => vec![Ok(done(seq, -ENODEV))],
                (CMD_GET_STATION, Some(4)) => vec![Ok(done(seq, 0))],
                (CMD_GET_SURVEY, Some(3)) => vec![Ok([
                    new_survey(FAM, seq, 5170, -80, false),
                    new_survey(FAM, seq, 5180, -92, false),
                    new_survey(FAM, seq, 5180, -95, true),
                    done(seq, 0),
                ]
                .concat())],
                (CMD_GET_SURVEY, Some(4)) => vec![Ok(error(seq, -libc::EOPNOTSUPP))],
                _ => panic!("unexpected request cmd {cmd}"),
            }
        }))
    }

    fn scrape(t: &mut Fake) -> String {
        let ifaces = collect(t, &|i| format!("phy{}", i.ifindex - 3)).unwrap();
        let mut enc = Encoder::new();
        write(&mut enc, &ifaces);
        String::from_utf8(enc.into_bytes()).unwrap()
    }

    #[test]
    fn access_points_and_stations() {
        let out = scrape(&mut kernel(false));
        let l = "channel=\"36\",ssid=\"Home \\\"5G\\\"\",bssid=\"02:ab:cd:00:00:01\",mode=\"Master\",ifname=\"phy0-ap0\",country=\"DE\",frequency=\"5180\",device=\"phy0\"";
        for want in [
            // mean signal (-50 + -61) / 2 = -55 (integer): quality (110-55)*100/70 = 78
            format!("wifi_network_quality{{{l}}} 78\n"),
            format!("wifi_network_signal_dbm{{{l}}} -55\n"),
            // mean of 130 and 260 Mbit/s legacy rates, kbit/s
            format!("wifi_network_bitrate{{{l}}} 195000\n"),
            format!("wifi_network_noise_dbm{{{l}}} -95\n"),
            "wifi_network_signal_dbm{channel=\"6\",ssid=\"Home\",bssid=\"02:ab:cd:00:00:02\",mode=\"Master\",ifname=\"phy1-ap0\",country=\"DE\",frequency=\"2437\",device=\"phy1\"} -255\n".into(),
            "wifi_network_noise_dbm{channel=\"6\",ssid=\"Home\",bssid=\"02:ab:cd:00:00:02\",mode=\"Master\",ifname=\"phy1-ap0\",country=\"DE\",frequency=\"2437\",device=\"phy1\"} 0\n".into(),
            "wifi_stations{ifname=\"phy0-ap0\"} 2\n".into(),
            "wifi_stations{ifname=\"phy1-ap0\"} 0\n".into(),
            "wifi_station_signal_dbm{ifname=\"phy0-ap0\",mac=\"AA:BB:CC:11:22:33\"} -50\n".into(),
            "wifi_station_inactive_milliseconds{ifname=\"phy0-ap0\",mac=\"AA:BB:CC:11:22:34\"} 20\n".into(),
            "wifi_station_expected_throughput_kilobits_per_second{ifname=\"phy0-ap0\",mac=\"AA:BB:CC:11:22:33\"} 50000\n".into(),
            "wifi_station_transmit_kilobits_per_second{ifname=\"phy0-ap0\",mac=\"AA:BB:CC:11:22:33\"} 130000\n".into(),
            "wifi_station_receive_kilobits_per_second{ifname=\"phy0-ap0\",mac=\"AA:BB:CC:11:22:33\"} 800000\n".into(),
            "wifi_station_transmit_packets_total{ifname=\"phy0-ap0\",mac=\"AA:BB:CC:11:22:34\"} 80\n".into(),
            "wifi_station_receive_bytes_total{ifname=\"phy0-ap0\",mac=\"AA:BB:CC:11:22:33\"} 5000000000\n".into(),
            "# TYPE wifi_station_receive_bytes_total counter\n".into(),
            "node_wifi_station_connected_seconds_total{device=\"phy0-ap0\",mac_address=\"aa:bb:cc:11:22:34\"} 1200\n".into(),
            "node_wifi_station_transmit_retries_total{device=\"phy0-ap0\",mac_address=\"aa:bb:cc:11:22:33\"} 5\n".into(),
            "node_wifi_station_transmit_failed_total{device=\"phy0-ap0\",mac_address=\"aa:bb:cc:11:22:34\"} 2\n".into(),
            "node_wifi_station_beacon_loss_total{device=\"phy0-ap0\",mac_address=\"aa:bb:cc:11:22:33\"} 2\n".into(),
        ] {
            assert!(out.contains(&want), "missing {want:?} in:\n{out}");
        }
        crate::expfmt::parse_text(&out).unwrap();
    }

    #[test]
    fn interface_vanishing_mid_dump_is_left_out() {
        let out = scrape(&mut kernel(true));
        assert!(
            out.contains("wifi_stations{ifname=\"phy0-ap0\"} 2\n"),
            "{out}"
        );
        assert!(!out.contains("phy1-ap0"), "{out}");
    }

    #[test]
    fn kernel_without_nl80211_gives_nothing() {
        let mut t = Fake::new(Box::new(|_, seq| vec![Ok(error(seq, -ENOENT))]));
        assert!(scrape(&mut t).is_empty());
        // nl80211 loaded but no wireless interface: nothing either.
        let mut t = Fake::new(Box::new(|req, seq| {
            if u16::from_ne_bytes([req[4], req[5]]) == 0x10 {
                let mut p = vec![1, 2, 0, 0];
                p.extend(attr(1, &FAM.to_ne_bytes()));
                return vec![Ok([message(0x10, 0, seq, &p), error(seq, 0)].concat())];
            }
            vec![Ok(done(seq, 0))]
        }));
        assert!(scrape(&mut t).is_empty());
        assert_eq!(t.sent.len(), 2, "no per-interface requests");
        let _ = NLM_F_MULTI;
    }

    /// This machine's kernel: whatever it has, the collector succeeds (the build VM has no
    /// cfg80211, so no series there).
    #[test]
    fn wifi_on_this_machine_succeeds() {
        let paths = Paths {
            procfs: "/proc".into(),
            sysfs: "/sys".into(),
            rootfs: "/".into(),
        };
        let c = new(&paths, &Flags::default()).unwrap();
        let mut enc = Encoder::new();
        c.update(&mut enc).unwrap();
        let out = String::from_utf8(enc.into_bytes()).unwrap();
        if !std::path::Path::new("/sys/class/ieee80211").exists() {
            assert!(out.is_empty(), "{out}");
        }
    }
}
