//! HDHomeRun discovery over UDP port 65001 (libhdhomerun `hdhomerun_discover.c`): a
//! DISCOVER_REQ for any device type and id, broadcast to 255.255.255.255 or sent to one
//! address; each device answers with a DISCOVER_RPY from its own IP.
//!
//! Like libhdhomerun the request is sent twice (replies are de-duplicated), a reply must
//! carry a 4-byte device type and id, and old firmware's gaps are filled: the tuner count
//! from the id's model prefix, the base URL as `http://<ip>:80`. Unlike libhdhomerun, the
//! broadcast goes out of one unbound socket (the interface of the default route), not one
//! socket per interface.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::packet::{self, Packet, Tag};

/// What a device said about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Where the reply came from: the device's address.
    pub addr: SocketAddr,
    pub device_type: u32,
    pub device_id: u32,
    pub tuner_count: Option<u8>,
    pub base_url: Option<String>,
    pub lineup_url: Option<String>,
    pub storage_id: Option<String>,
    pub storage_url: Option<String>,
    pub auth: Option<String>,
    /// Tags this parser does not know, kept for display.
    pub other: Vec<Tag>,
}

/// Why a discovery reply was refused or discovery failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    Io(io::Error),
    Packet(packet::Error),
    UnexpectedType(u16),
    /// A required tag is missing or has the wrong length.
    MissingTag(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "discover: {e}"),
            Error::Packet(e) => write!(f, "bad discover reply: {e}"),
            Error::UnexpectedType(t) => write!(f, "unexpected discover reply type 0x{t:04x}"),
            Error::MissingTag(t) => write!(f, "discover reply without a valid {t}"),
        }
    }
}

impl std::error::Error for Error {}

/// Parses a DISCOVER_RPY frame received from `from`.
pub fn parse_reply(frame: &[u8], from: SocketAddr) -> Result<Device, Error> {
    let p = Packet::decode(frame).map_err(Error::Packet)?;
    if p.typ != packet::TYPE_DISCOVER_RPY {
        return Err(Error::UnexpectedType(p.typ));
    }
    let device_type = p
        .get_u32(packet::TAG_DEVICE_TYPE)
        .ok_or(Error::MissingTag("device type"))?;
    let device_id = p
        .get_u32(packet::TAG_DEVICE_ID)
        .ok_or(Error::MissingTag("device id"))?;
    // Firmware before tuner counts were reported: the model is in the id's top 12 bits.
    let tuner_count = p.get_u8(packet::TAG_TUNER_COUNT).or(match device_id >> 20 {
        0x102 => Some(1),
        0x100 | 0x101 | 0x121 => Some(2),
        _ => None,
    }
    .filter(|_| device_type == packet::DEVICE_TYPE_TUNER));
    let base_url = p
        .get_str(packet::TAG_BASE_URL)
        .or_else(|| Some(format!("http://{}:80", from.ip())));
    let known = [
        packet::TAG_DEVICE_TYPE,
        packet::TAG_DEVICE_ID,
        packet::TAG_TUNER_COUNT,
        packet::TAG_BASE_URL,
        packet::TAG_LINEUP_URL,
        packet::TAG_STORAGE_ID,
        packet::TAG_STORAGE_URL,
        packet::TAG_DEVICE_AUTH_STR,
    ];
    Ok(Device {
        addr: from,
        device_type,
        device_id,
        tuner_count,
        base_url,
        lineup_url: p.get_str(packet::TAG_LINEUP_URL),
        storage_id: p.get_str(packet::TAG_STORAGE_ID),
        storage_url: p.get_str(packet::TAG_STORAGE_URL),
        auth: p.get_str(packet::TAG_DEVICE_AUTH_STR),
        other: p
            .tags
            .iter()
            .filter(|t| !known.contains(&t.tag))
            .cloned()
            .collect(),
    })
}

/// Finds devices: every device on the local broadcast domain (`target` None), or the one at
/// `target` (port 65001 for real devices). Waits up to `timeout` (a unicast query returns
/// as soon as its device answers). Malformed replies are skipped.
pub fn discover(target: Option<SocketAddr>, timeout: Duration) -> Result<Vec<Device>, Error> {
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(Error::Io)?;
    let dest = match target {
        Some(t) => t,
        None => {
            sock.set_broadcast(true).map_err(Error::Io)?;
            SocketAddr::from((Ipv4Addr::BROADCAST, super::client::PORT))
        }
    };
    let req = Packet::discover_request().encode().map_err(Error::Packet)?;
    let start = Instant::now();
    let end = start + timeout;
    let second = start + timeout / 2;
    let mut sent = 0;
    let mut found: Vec<Device> = Vec::new();
    let mut buf = [0u8; packet::MAX_FRAME];
    loop {
        let now = Instant::now();
        if sent == 0 || (sent == 1 && now >= second) {
            sock.send_to(&req, dest).map_err(Error::Io)?;
            sent += 1;
        }
        if now >= end {
            break;
        }
        let wake = if sent == 1 { second.min(end) } else { end };
        let wait = wake
            .saturating_duration_since(now)
            .max(Duration::from_millis(1));
        sock.set_read_timeout(Some(wait)).map_err(Error::Io)?;
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                if target.is_some_and(|t| t.ip() != from.ip()) {
                    continue;
                }
                let Ok(d) = parse_reply(&buf[..n], from) else {
                    continue;
                };
                if !found
                    .iter()
                    .any(|f| f.addr.ip() == d.addr.ip() && f.device_id == d.device_id)
                {
                    found.push(d);
                }
                if target.is_some() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            // A unicast target that is closed answers with ICMP port unreachable.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(Error::Io(e)),
        }
    }
    found.sort_by_key(|d| (d.addr.ip(), d.device_id));
    Ok(found)
}

/// The address a device reported, as text for `found at`.
pub fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or_else(|| v6.to_string(), |v4| v4.to_string()),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from() -> SocketAddr {
        "192.168.1.20:65001".parse().unwrap()
    }

    #[test]
    fn parses_a_full_reply() {
        let frame = Packet::new(packet::TYPE_DISCOVER_RPY)
            .with_u32(packet::TAG_DEVICE_TYPE, 1)
            .with_u32(packet::TAG_DEVICE_ID, 0x1040_A3E7)
            .with(packet::TAG_TUNER_COUNT, &[4])
            .with_str(packet::TAG_BASE_URL, "http://192.168.1.20:80")
            .with_str(packet::TAG_LINEUP_URL, "http://192.168.1.20:80/lineup.json")
            .with_str(packet::TAG_DEVICE_AUTH_STR, "abc")
            .with(0x7f, b"new")
            .encode()
            .unwrap();
        let d = parse_reply(&frame, from()).unwrap();
        assert_eq!(d.device_id, 0x1040_A3E7);
        assert_eq!(d.tuner_count, Some(4));
        assert_eq!(
            d.lineup_url.as_deref(),
            Some("http://192.168.1.20:80/lineup.json")
        );
        assert_eq!(d.auth.as_deref(), Some("abc"));
        assert_eq!(d.other.len(), 1);
    }

    #[test]
    fn old_firmware_fixups() {
        let frame = Packet::new(packet::TYPE_DISCOVER_RPY)
            .with_u32(packet::TAG_DEVICE_TYPE, 1)
            .with_u32(packet::TAG_DEVICE_ID, 0x1010_0000)
            .encode()
            .unwrap();
        let d = parse_reply(&frame, from()).unwrap();
        assert_eq!(d.tuner_count, Some(2));
        assert_eq!(d.base_url.as_deref(), Some("http://192.168.1.20:80"));
    }

    #[test]
    fn refuses_replies_without_type_or_id() {
        let frame = Packet::new(packet::TYPE_DISCOVER_RPY)
            .with_u32(packet::TAG_DEVICE_TYPE, 1)
            .with(packet::TAG_DEVICE_ID, &[1, 2])
            .encode()
            .unwrap();
        assert!(matches!(
            parse_reply(&frame, from()),
            Err(Error::MissingTag("device id"))
        ));
        let req = Packet::discover_request().encode().unwrap();
        assert!(matches!(
            parse_reply(&req, from()),
            Err(Error::UnexpectedType(2))
        ));
        assert!(matches!(
            parse_reply(b"garbage", from()),
            Err(Error::Packet(_))
        ));
    }
}
