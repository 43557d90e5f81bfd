//! nl80211 (cfg80211's generic netlink family): the requests the `wifi` collector sends and
//! pure parsers of the replies. Command and attribute numbers are those of Linux v6.1's UAPI
//! `include/uapi/linux/nl80211.h` (v6.1.187, as Debian's linux-libc-dev ships it). Every
//! attribute is optional: drivers differ in what they report.

use super::{
    attr_str, attr_u16, attr_u32, attr_u64, attr_u8, attrs, genl_payload, Error, Message, Request,
    NLM_F_ACK, NLM_F_DUMP,
};

pub const CMD_GET_INTERFACE: u8 = 5;
pub const CMD_NEW_INTERFACE: u8 = 7;
pub const CMD_GET_STATION: u8 = 17;
pub const CMD_NEW_STATION: u8 = 19;
pub const CMD_GET_REG: u8 = 31;
pub const CMD_GET_SURVEY: u8 = 50;
pub const CMD_NEW_SURVEY_RESULTS: u8 = 51;

pub const ATTR_WIPHY: u16 = 1;
pub const ATTR_IFINDEX: u16 = 3;
pub const ATTR_IFNAME: u16 = 4;
pub const ATTR_IFTYPE: u16 = 5;
pub const ATTR_MAC: u16 = 6;
pub const ATTR_STA_INFO: u16 = 21;
pub const ATTR_REG_ALPHA2: u16 = 33;
pub const ATTR_WIPHY_FREQ: u16 = 38;
pub const ATTR_SSID: u16 = 52;
pub const ATTR_SURVEY_INFO: u16 = 84;

pub const STA_INFO_INACTIVE_TIME: u16 = 1;
pub const STA_INFO_RX_BYTES: u16 = 2;
pub const STA_INFO_TX_BYTES: u16 = 3;
pub const STA_INFO_SIGNAL: u16 = 7;
pub const STA_INFO_TX_BITRATE: u16 = 8;
pub const STA_INFO_RX_PACKETS: u16 = 9;
pub const STA_INFO_TX_PACKETS: u16 = 10;
pub const STA_INFO_TX_RETRIES: u16 = 11;
pub const STA_INFO_TX_FAILED: u16 = 12;
pub const STA_INFO_RX_BITRATE: u16 = 14;
pub const STA_INFO_CONNECTED_TIME: u16 = 16;
pub const STA_INFO_BEACON_LOSS: u16 = 18;
pub const STA_INFO_RX_BYTES64: u16 = 23;
pub const STA_INFO_TX_BYTES64: u16 = 24;
pub const STA_INFO_EXPECTED_THROUGHPUT: u16 = 27;

pub const RATE_INFO_BITRATE: u16 = 1;
pub const RATE_INFO_BITRATE32: u16 = 5;

pub const SURVEY_INFO_FREQUENCY: u16 = 1;
pub const SURVEY_INFO_NOISE: u16 = 2;
pub const SURVEY_INFO_IN_USE: u16 = 3;

/// A wireless interface (NL80211_CMD_NEW_INTERFACE).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interface {
    pub ifindex: u32,
    pub ifname: String,
    pub wiphy: Option<u32>,
    pub iftype: Option<u32>,
    pub mac: Option<[u8; 6]>,
    /// Raw bytes (0..32), not text: the kernel does not promise UTF-8.
    pub ssid: Option<Vec<u8>>,
    /// Control channel, MHz.
    pub freq: Option<u32>,
}

/// One associated station (NL80211_CMD_NEW_STATION), the fields promlet exports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Station {
    pub mac: [u8; 6],
    pub inactive_ms: Option<u32>,
    /// From the 64-bit attribute when sent, else the 32-bit one.
    pub rx_bytes: Option<u64>,
    pub tx_bytes: Option<u64>,
    pub rx_packets: Option<u32>,
    pub tx_packets: Option<u32>,
    pub tx_retries: Option<u32>,
    pub tx_failed: Option<u32>,
    pub signal_dbm: Option<i8>,
    /// Seconds (the header gives no unit; cfg80211 fills it from seconds).
    pub connected_s: Option<u32>,
    pub beacon_loss: Option<u32>,
    /// kbit/s.
    pub expected_throughput: Option<u32>,
    /// In units of 100 kbit/s: BITRATE32 when sent, else the 16-bit BITRATE.
    pub tx_bitrate: Option<u32>,
    pub rx_bitrate: Option<u32>,
    /// The 16-bit legacy TX rate alone, which iwinfo averages for the interface bitrate.
    pub tx_bitrate16: Option<u16>,
}

/// One survey entry (NL80211_CMD_NEW_SURVEY_RESULTS).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Survey {
    pub freq: Option<u32>,
    pub noise_dbm: Option<i8>,
    pub in_use: bool,
}

pub fn get_interface_dump(family: u16) -> Request {
    Request::genl(family, NLM_F_DUMP, CMD_GET_INTERFACE, 0)
}

pub fn get_station_dump(family: u16, ifindex: u32) -> Request {
    Request::genl(family, NLM_F_DUMP, CMD_GET_STATION, 0).attr(ATTR_IFINDEX, &ifindex.to_ne_bytes())
}

pub fn get_survey_dump(family: u16, ifindex: u32) -> Request {
    Request::genl(family, NLM_F_DUMP, CMD_GET_SURVEY, 0).attr(ATTR_IFINDEX, &ifindex.to_ne_bytes())
}

/// The global regulatory domain (a plain request, acked).
pub fn get_reg(family: u16) -> Request {
    Request::genl(family, NLM_F_ACK, CMD_GET_REG, 0)
}

fn mac(typ: u16, v: &[u8]) -> Result<[u8; 6], Error> {
    v.try_into()
        .map_err(|_| Error::Malformed(format!("attribute {typ}: {} bytes, want 6", v.len())))
}

/// The genl attributes of a message carrying `cmd`; other commands are skipped (`None`).
fn payload_of<'a>(m: &Message<'a>, cmd: u8) -> Result<Option<&'a [u8]>, Error> {
    let (c, a) = genl_payload(m)?;
    Ok((c == cmd).then_some(a))
}

/// A NEW_INTERFACE message. Wireless devices without a netdev (P2P-device) have no
/// ifindex or name and are skipped (`None`), as node_exporter skips nameless ones.
pub fn parse_interface(m: &Message<'_>) -> Result<Option<Interface>, Error> {
    let Some(a) = payload_of(m, CMD_NEW_INTERFACE)? else {
        return Ok(None);
    };
    let mut i = Interface::default();
    let mut has_index = false;
    for at in attrs(a) {
        let (typ, v) = at?;
        match typ {
            ATTR_IFINDEX => {
                i.ifindex = attr_u32(typ, v)?;
                has_index = true;
            }
            ATTR_IFNAME => i.ifname = attr_str(v),
            ATTR_WIPHY => i.wiphy = Some(attr_u32(typ, v)?),
            ATTR_IFTYPE => i.iftype = Some(attr_u32(typ, v)?),
            ATTR_MAC => i.mac = Some(mac(typ, v)?),
            ATTR_SSID => {
                if v.len() > 32 {
                    return Err(Error::Malformed(format!("SSID of {} bytes", v.len())));
                }
                i.ssid = Some(v.to_vec());
            }
            ATTR_WIPHY_FREQ => i.freq = Some(attr_u32(typ, v)?),
            _ => {}
        }
    }
    Ok((has_index && !i.ifname.is_empty()).then_some(i))
}

/// A rate_info nest: BITRATE32 if present, else BITRATE (both 100 kbit/s), and the 16-bit one.
fn parse_rate(v: &[u8]) -> Result<(Option<u32>, Option<u16>), Error> {
    let (mut r32, mut r16) = (None, None);
    for at in attrs(v) {
        let (typ, v) = at?;
        match typ {
            RATE_INFO_BITRATE32 => r32 = Some(attr_u32(typ, v)?),
            RATE_INFO_BITRATE => r16 = Some(attr_u16(typ, v)?),
            _ => {}
        }
    }
    Ok((r32.or(r16.map(u32::from)), r16))
}

/// A NEW_STATION message. STA_INFO is nested without NLA_F_NESTED (nla_nest_start_noflag),
/// so the nest is recognised by its type alone.
pub fn parse_station(m: &Message<'_>) -> Result<Option<Station>, Error> {
    let Some(a) = payload_of(m, CMD_NEW_STATION)? else {
        return Ok(None);
    };
    let mut s = Station::default();
    let mut has_mac = false;
    let (mut rx32, mut tx32, mut rx64, mut tx64) = (None, None, None, None);
    for at in attrs(a) {
        let (typ, v) = at?;
        match typ {
            ATTR_MAC => {
                s.mac = mac(typ, v)?;
                has_mac = true;
            }
            ATTR_STA_INFO => {
                for at in attrs(v) {
                    let (typ, v) = at?;
                    match typ {
                        STA_INFO_INACTIVE_TIME => s.inactive_ms = Some(attr_u32(typ, v)?),
                        STA_INFO_RX_BYTES => rx32 = Some(attr_u32(typ, v)?),
                        STA_INFO_TX_BYTES => tx32 = Some(attr_u32(typ, v)?),
                        STA_INFO_RX_BYTES64 => rx64 = Some(attr_u64(typ, v)?),
                        STA_INFO_TX_BYTES64 => tx64 = Some(attr_u64(typ, v)?),
                        STA_INFO_SIGNAL => s.signal_dbm = Some(attr_u8(typ, v)? as i8),
                        STA_INFO_RX_PACKETS => s.rx_packets = Some(attr_u32(typ, v)?),
                        STA_INFO_TX_PACKETS => s.tx_packets = Some(attr_u32(typ, v)?),
                        STA_INFO_TX_RETRIES => s.tx_retries = Some(attr_u32(typ, v)?),
                        STA_INFO_TX_FAILED => s.tx_failed = Some(attr_u32(typ, v)?),
                        STA_INFO_CONNECTED_TIME => s.connected_s = Some(attr_u32(typ, v)?),
                        STA_INFO_BEACON_LOSS => s.beacon_loss = Some(attr_u32(typ, v)?),
                        STA_INFO_EXPECTED_THROUGHPUT => {
                            s.expected_throughput = Some(attr_u32(typ, v)?)
                        }
                        STA_INFO_TX_BITRATE => (s.tx_bitrate, s.tx_bitrate16) = parse_rate(v)?,
                        STA_INFO_RX_BITRATE => s.rx_bitrate = parse_rate(v)?.0,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if !has_mac {
        return Err(Error::Malformed("station without a MAC address".into()));
    }
    s.rx_bytes = rx64.or(rx32.map(u64::from));
    s.tx_bytes = tx64.or(tx32.map(u64::from));
    Ok(Some(s))
}

/// A NEW_SURVEY_RESULTS message.
pub fn parse_survey(m: &Message<'_>) -> Result<Option<Survey>, Error> {
    let Some(a) = payload_of(m, CMD_NEW_SURVEY_RESULTS)? else {
        return Ok(None);
    };
    let mut s = Survey::default();
    for at in attrs(a) {
        let (typ, v) = at?;
        if typ != ATTR_SURVEY_INFO {
            continue;
        }
        for at in attrs(v) {
            let (typ, v) = at?;
            match typ {
                SURVEY_INFO_FREQUENCY => s.freq = Some(attr_u32(typ, v)?),
                SURVEY_INFO_NOISE => s.noise_dbm = Some(attr_u8(typ, v)? as i8),
                SURVEY_INFO_IN_USE => s.in_use = true,
                _ => {}
            }
        }
    }
    Ok(Some(s))
}

/// The regulatory domain's country (REG_ALPHA2: "00" for the world domain).
pub fn parse_reg(m: &Message<'_>) -> Result<Option<String>, Error> {
    let Some(a) = payload_of(m, CMD_GET_REG)? else {
        return Ok(None);
    };
    for at in attrs(a) {
        let (typ, v) = at?;
        if typ == ATTR_REG_ALPHA2 {
            return Ok(Some(attr_str(v)));
        }
    }
    Ok(None)
}

/// iwinfo's names of `enum nl80211_iftype`, which the Lua exporter puts in `mode`.
pub fn mode_name(iftype: Option<u32>) -> &'static str {
    match iftype {
        Some(1) => "Ad-Hoc",
        Some(2) => "Client",
        Some(3) => "Master",
        Some(4) => "Master (VLAN)",
        Some(5) => "WDS",
        Some(6) => "Monitor",
        Some(7) => "Mesh Point",
        Some(8) => "P2P Client",
        Some(9) => "P2P Go",
        _ => "Unknown",
    }
}

/// iwinfo's channel number of a frequency in MHz (0 when it has none).
pub fn channel(freq: u32) -> u32 {
    match freq {
        2484 => 14,
        f if f < 2484 => f.saturating_sub(2407) / 5,
        f @ 4910..=4980 => (f - 4000) / 5,
        f if f < 5925 => f.saturating_sub(5000) / 5,
        5935 => 2,
        f @ 5936..=45000 => (f - 5950) / 5,
        f @ 58320..=70200 => (f - 56160) / 2160,
        _ => 0,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::fake::*;
    use super::super::*;
    use super::*;

    /// A genl message of the nl80211 family `fam` carrying `cmd` and `attrs`.
    pub fn genl(fam: u16, seq: u32, cmd: u8, attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut p = vec![cmd, 1, 0, 0];
        for a in attrs {
            p.extend_from_slice(a);
        }
        message(fam, NLM_F_MULTI, seq, &p)
    }

    /// NEW_INTERFACE as nl80211_send_iface orders it: IFINDEX, IFNAME, WIPHY, IFTYPE, WDEV
    /// (u64 after a PAD), MAC, GENERATION, WIPHY_FREQ, CHANNEL_WIDTH, SSID.
    pub fn new_interface(
        fam: u16,
        seq: u32,
        idx: u32,
        name: &str,
        mac: [u8; 6],
        ssid: &[u8],
        freq: u32,
    ) -> Vec<u8> {
        let mut n = name.as_bytes().to_vec();
        n.push(0);
        genl(
            fam,
            seq,
            CMD_NEW_INTERFACE,
            &[
                attr(ATTR_IFINDEX, &idx.to_ne_bytes()),
                attr(ATTR_IFNAME, &n),
                attr(ATTR_WIPHY, &0u32.to_ne_bytes()),
                attr(ATTR_IFTYPE, &3u32.to_ne_bytes()),
                attr(229, &[]),                 // NL80211_ATTR_PAD
                attr(153, &1u64.to_ne_bytes()), // NL80211_ATTR_WDEV
                attr(ATTR_MAC, &mac),
                attr(46, &7u32.to_ne_bytes()), // NL80211_ATTR_GENERATION
                attr(ATTR_WIPHY_FREQ, &freq.to_ne_bytes()),
                attr(159, &1u32.to_ne_bytes()), // NL80211_ATTR_CHANNEL_WIDTH (20)
                attr(ATTR_SSID, ssid),
            ],
        )
    }

    fn rate(r16: Option<u16>, r32: Option<u32>) -> Vec<u8> {
        let mut v = Vec::new();
        if let Some(r) = r16 {
            v.extend(attr(RATE_INFO_BITRATE, &r.to_ne_bytes()));
        }
        v.extend(attr(2, &[7])); // RATE_INFO_MCS, skipped
        if let Some(r) = r32 {
            v.extend(attr(RATE_INFO_BITRATE32, &r.to_ne_bytes()));
        }
        v
    }

    /// NEW_STATION with the STA_INFO nest the way nl80211_send_station fills it, opened with
    /// nla_nest_start_noflag (no NLA_F_NESTED bit).
    pub fn new_station(fam: u16, seq: u32, idx: u32, mac: [u8; 6], signal: i8, n: u32) -> Vec<u8> {
        let mut info = Vec::new();
        info.extend(attr(STA_INFO_INACTIVE_TIME, &(10 * n).to_ne_bytes()));
        info.extend(attr(STA_INFO_RX_BYTES, &(1000 * n).to_ne_bytes()));
        info.extend(attr(STA_INFO_TX_BYTES, &(2000 * n).to_ne_bytes()));
        info.extend(attr(33, &[])); // NL80211_STA_INFO_PAD before the u64s
        info.extend(attr(
            STA_INFO_RX_BYTES64,
            &(5_000_000_000u64 * n as u64).to_ne_bytes(),
        ));
        info.extend(attr(
            STA_INFO_TX_BYTES64,
            &(6_000_000_000u64 * n as u64).to_ne_bytes(),
        ));
        info.extend(attr(STA_INFO_SIGNAL, &[signal as u8]));
        info.extend(attr(13, &[signal as u8])); // SIGNAL_AVG, not exported
        info.extend(attr(
            STA_INFO_TX_BITRATE,
            &rate(Some(1300 * n as u16), None),
        ));
        info.extend(attr(STA_INFO_RX_BITRATE, &rate(None, Some(8000 * n))));
        info.extend(attr(STA_INFO_RX_PACKETS, &(30 * n).to_ne_bytes()));
        info.extend(attr(STA_INFO_TX_PACKETS, &(40 * n).to_ne_bytes()));
        info.extend(attr(STA_INFO_TX_RETRIES, &(5 * n).to_ne_bytes()));
        info.extend(attr(STA_INFO_TX_FAILED, &n.to_ne_bytes()));
        info.extend(attr(STA_INFO_CONNECTED_TIME, &(600 * n).to_ne_bytes()));
        info.extend(attr(17, &[0; 8])); // STA_FLAGS, skipped
        info.extend(attr(STA_INFO_BEACON_LOSS, &(2 * n).to_ne_bytes()));
        info.extend(attr(
            STA_INFO_EXPECTED_THROUGHPUT,
            &(50_000 * n).to_ne_bytes(),
        ));
        genl(
            fam,
            seq,
            CMD_NEW_STATION,
            &[
                attr(ATTR_IFINDEX, &idx.to_ne_bytes()),
                attr(ATTR_MAC, &mac),
                attr(46, &7u32.to_ne_bytes()),
                attr(ATTR_STA_INFO, &info),
            ],
        )
    }

    pub fn new_survey(fam: u16, seq: u32, freq: u32, noise: i8, in_use: bool) -> Vec<u8> {
        let mut info = attr(SURVEY_INFO_FREQUENCY, &freq.to_ne_bytes());
        info.extend(attr(SURVEY_INFO_NOISE, &[noise as u8]));
        if in_use {
            info.extend(attr(SURVEY_INFO_IN_USE, &[]));
        }
        genl(
            fam,
            seq,
            CMD_NEW_SURVEY_RESULTS,
            &[
                attr(ATTR_IFINDEX, &3u32.to_ne_bytes()),
                attr(0x8000 | ATTR_SURVEY_INFO, &info),
            ],
        )
    }

    fn one(d: &[u8]) -> Message<'_> {
        messages(d).next().unwrap().unwrap()
    }

    #[test]
    fn station_dump_request_is_byte_exact() {
        // §6.3: GET_STATION dump for ifindex 5, 28 bytes.
        let b = get_station_dump(0x1c, 5).bytes(3);
        let mut want = Vec::new();
        want.extend_from_slice(&28u32.to_ne_bytes());
        want.extend_from_slice(&0x1cu16.to_ne_bytes());
        want.extend_from_slice(&0x301u16.to_ne_bytes());
        want.extend_from_slice(&3u32.to_ne_bytes());
        want.extend_from_slice(&0u32.to_ne_bytes());
        want.extend_from_slice(&[17, 0, 0, 0]);
        want.extend_from_slice(&8u16.to_ne_bytes());
        want.extend_from_slice(&3u16.to_ne_bytes());
        want.extend_from_slice(&5u32.to_ne_bytes());
        assert_eq!(b, want);
        assert_eq!(get_interface_dump(0x1c).bytes(3).len(), 20);
    }

    #[test]
    fn interface_attributes() {
        let d = new_interface(
            0x1c,
            1,
            3,
            "phy0-ap0",
            [0x02, 0xAB, 0, 0, 0, 1],
            b"Home \"net\"",
            5180,
        );
        let i = parse_interface(&one(&d)).unwrap().unwrap();
        assert_eq!(i.ifindex, 3);
        assert_eq!(i.ifname, "phy0-ap0");
        assert_eq!(i.iftype, Some(3));
        assert_eq!(i.mac, Some([0x02, 0xAB, 0, 0, 0, 1]));
        assert_eq!(i.ssid.as_deref(), Some(&b"Home \"net\""[..]));
        assert_eq!(i.freq, Some(5180));
        assert_eq!(channel(5180), 36);
        assert_eq!(channel(2412), 1);
        assert_eq!(channel(2484), 14);
        assert_eq!(channel(5955), 1);
        assert_eq!(mode_name(i.iftype), "Master");
        // A P2P device: no netdev, skipped.
        let d = genl(
            0x1c,
            1,
            CMD_NEW_INTERFACE,
            &[attr(ATTR_IFTYPE, &10u32.to_ne_bytes())],
        );
        assert_eq!(parse_interface(&one(&d)).unwrap(), None);
        // Another command in the reply is not an interface.
        let d = genl(0x1c, 1, CMD_NEW_STATION, &[]);
        assert_eq!(parse_interface(&one(&d)).unwrap(), None);
    }

    #[test]
    fn station_info_nest() {
        let d = new_station(0x1c, 1, 3, [0xaa, 0xbb, 0xcc, 0, 0, 1], -52, 1);
        let s = parse_station(&one(&d)).unwrap().unwrap();
        assert_eq!(s.mac, [0xaa, 0xbb, 0xcc, 0, 0, 1]);
        assert_eq!(s.signal_dbm, Some(-52));
        assert_eq!(s.inactive_ms, Some(10));
        assert_eq!(s.rx_bytes, Some(5_000_000_000), "64-bit counter preferred");
        assert_eq!(s.tx_bytes, Some(6_000_000_000));
        assert_eq!(s.tx_bitrate, Some(1300));
        assert_eq!(s.tx_bitrate16, Some(1300));
        assert_eq!(s.rx_bitrate, Some(8000), "BITRATE32 alone");
        assert_eq!(s.connected_s, Some(600));
        assert_eq!(s.tx_retries, Some(5));
        assert_eq!(s.tx_failed, Some(1));
        assert_eq!(s.beacon_loss, Some(2));
        assert_eq!(s.expected_throughput, Some(50_000));
        // 32-bit byte counters when the 64-bit ones are missing.
        let info = [attr(STA_INFO_RX_BYTES, &7u32.to_ne_bytes())].concat();
        let d = genl(
            0x1c,
            1,
            CMD_NEW_STATION,
            &[attr(ATTR_MAC, &[1; 6]), attr(ATTR_STA_INFO, &info)],
        );
        let s = parse_station(&one(&d)).unwrap().unwrap();
        assert_eq!(
            (s.rx_bytes, s.tx_bytes, s.signal_dbm),
            (Some(7), None, None)
        );
    }

    #[test]
    fn malformed_station_is_an_error() {
        let d = genl(0x1c, 1, CMD_NEW_STATION, &[attr(ATTR_STA_INFO, &[])]);
        assert!(parse_station(&one(&d)).is_err(), "no MAC");
        let info = attr(STA_INFO_SIGNAL, &[1, 2]);
        let d = genl(
            0x1c,
            1,
            CMD_NEW_STATION,
            &[attr(ATTR_MAC, &[1; 6]), attr(ATTR_STA_INFO, &info)],
        );
        assert!(parse_station(&one(&d)).is_err(), "2-byte signal");
        let d = genl(0x1c, 1, CMD_NEW_STATION, &[attr(ATTR_MAC, &[1; 5])]);
        assert!(parse_station(&one(&d)).is_err(), "5-byte MAC");
        let d = message(0x1c, 0, 1, &[19, 0]);
        assert!(parse_station(&one(&d)).is_err(), "no genl header");
    }

    #[test]
    fn survey_and_reg() {
        let d = new_survey(0x1c, 1, 5180, -95, true);
        let s = parse_survey(&one(&d)).unwrap().unwrap();
        assert_eq!(
            (s.freq, s.noise_dbm, s.in_use),
            (Some(5180), Some(-95), true)
        );
        let d = genl(0x1c, 1, CMD_GET_REG, &[attr(ATTR_REG_ALPHA2, b"DE\0")]);
        assert_eq!(parse_reg(&one(&d)).unwrap().as_deref(), Some("DE"));
    }
}
