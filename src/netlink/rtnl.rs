//! rtnetlink link statistics: an `RTM_GETLINK` dump, `IFLA_IFNAME` and `IFLA_STATS64`
//! (`struct rtnl_link_stats64`) of each link. Layout from Linux v6.1 UAPI
//! `include/uapi/linux/rtnetlink.h` and `if_link.h`. This is what node_exporter 1.5's netdev
//! collector reads by default (`--collector.netdev.netlink`).

use super::{attr_str, attrs, exchange, Error, Message, Request, Transport, NLM_F_DUMP};

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_GETLINK: u16 = 18;
const IFLA_IFNAME: u16 = 3;
const IFLA_STATS64: u16 = 23;
/// `struct ifinfomsg`: family, pad, type, index, flags, change.
const IFINFOMSG_LEN: usize = 16;

/// `struct rtnl_link_stats64`, the fields in kernel order. Kernels before 4.6 end before
/// `rx_nohandler`, 6.0 added `rx_otherhost_dropped`: fields the kernel did not send are 0.
pub const STATS64_FIELDS: [&str; 25] = [
    "rx_packets",
    "tx_packets",
    "rx_bytes",
    "tx_bytes",
    "rx_errors",
    "tx_errors",
    "rx_dropped",
    "tx_dropped",
    "multicast",
    "collisions",
    "rx_length_errors",
    "rx_over_errors",
    "rx_crc_errors",
    "rx_frame_errors",
    "rx_fifo_errors",
    "rx_missed_errors",
    "tx_aborted_errors",
    "tx_carrier_errors",
    "tx_fifo_errors",
    "tx_heartbeat_errors",
    "tx_window_errors",
    "rx_compressed",
    "tx_compressed",
    "rx_nohandler",
    "rx_otherhost_dropped",
];

/// One link: its name and its 64-bit counters (indexed like [`STATS64_FIELDS`]), `None`
/// when the kernel sent no `IFLA_STATS64`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: i32,
    pub name: String,
    pub stats: Option<[u64; 25]>,
}

impl Link {
    pub fn stat(&self, field: &str) -> u64 {
        let i = STATS64_FIELDS.iter().position(|f| *f == field);
        match (self.stats.as_ref(), i) {
            (Some(s), Some(i)) => s.get(i).copied().unwrap_or(0),
            _ => 0,
        }
    }
}

/// The RTM_GETLINK dump request (AF_UNSPEC: every link).
pub fn getlink_request() -> Request {
    Request::new(RTM_GETLINK, NLM_F_DUMP, &[0; IFINFOMSG_LEN])
}

/// One RTM_NEWLINK message; other message types are skipped (`None`).
pub fn parse_link(m: &Message<'_>) -> Result<Option<Link>, Error> {
    if m.header.typ != RTM_NEWLINK {
        return Ok(None);
    }
    let fixed = m
        .payload
        .get(..IFINFOMSG_LEN)
        .ok_or_else(|| Error::Malformed(format!("RTM_NEWLINK of {} bytes", m.payload.len())))?;
    let index = i32::from_ne_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let mut link = Link {
        index,
        name: String::new(),
        stats: None,
    };
    for a in attrs(&m.payload[IFINFOMSG_LEN..]) {
        let (typ, v) = a?;
        match typ {
            IFLA_IFNAME => link.name = attr_str(v),
            IFLA_STATS64 => {
                if v.len() % 8 != 0 || v.len() < 23 * 8 {
                    return Err(Error::Malformed(format!(
                        "link {index}: IFLA_STATS64 of {} bytes",
                        v.len()
                    )));
                }
                let mut s = [0u64; 25];
                for (slot, c) in s.iter_mut().zip(v.chunks_exact(8)) {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    *slot = u64::from_ne_bytes(b);
                }
                link.stats = Some(s);
            }
            _ => {}
        }
    }
    Ok(Some(link))
}

/// Every link of the socket's network namespace.
pub fn links<T: Transport + ?Sized>(t: &mut T) -> Result<Vec<Link>, Error> {
    exchange(t, &getlink_request(), &mut |m| parse_link(m))
}

#[cfg(test)]
mod tests {
    use super::super::fake::*;
    use super::super::*;
    use super::*;

    /// An RTM_NEWLINK as the kernel sends it: ifinfomsg, IFLA_IFNAME, IFLA_STATS64.
    pub fn newlink(seq: u32, index: i32, name: &str, stats: &[u64]) -> Vec<u8> {
        let mut p = vec![0u8, 0];
        p.extend_from_slice(&1u16.to_ne_bytes()); // ARPHRD_ETHER
        p.extend_from_slice(&index.to_ne_bytes());
        p.extend_from_slice(&[0; 8]);
        let mut n = name.as_bytes().to_vec();
        n.push(0);
        p.extend(attr(IFLA_IFNAME, &n));
        p.extend(attr(4, &1500u32.to_ne_bytes())); // IFLA_MTU, skipped
        let s: Vec<u8> = stats.iter().flat_map(|v| v.to_ne_bytes()).collect();
        p.extend(attr(IFLA_STATS64, &s));
        message(RTM_NEWLINK, NLM_F_MULTI, seq, &p)
    }

    #[test]
    fn getlink_dump_request_is_byte_exact() {
        let b = getlink_request().bytes(9);
        let mut want = Vec::new();
        want.extend_from_slice(&32u32.to_ne_bytes());
        want.extend_from_slice(&18u16.to_ne_bytes());
        want.extend_from_slice(&0x301u16.to_ne_bytes());
        want.extend_from_slice(&9u32.to_ne_bytes());
        want.extend_from_slice(&[0; 4 + 16]);
        assert_eq!(b, want);
    }

    #[test]
    fn link_dump_parses_names_and_stats64() {
        let stats: Vec<u64> = (1..=25).collect();
        let old: Vec<u64> = (1..=23).map(|v| v * 10).collect(); // a pre-4.6 kernel
        let mut t = Fake::new(Box::new(move |_, seq| {
            let mut d = newlink(seq, 1, "lo", &stats);
            d.extend(newlink(seq, 2, "eth0", &old));
            vec![Ok(d), Ok(done(seq, 0))]
        }));
        let l = links(&mut t).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!((l[0].index, l[0].name.as_str()), (1, "lo"));
        assert_eq!(l[0].stat("rx_packets"), 1);
        assert_eq!(l[0].stat("rx_bytes"), 3);
        assert_eq!(l[0].stat("rx_nohandler"), 24);
        assert_eq!(l[1].stat("tx_compressed"), 230);
        assert_eq!(l[1].stat("rx_nohandler"), 0, "absent on old kernels");
    }

    #[test]
    fn short_stats64_is_an_error() {
        let mut t = Fake::new(Box::new(|_, seq| {
            vec![Ok(newlink(seq, 1, "lo", &[1, 2, 3])), Ok(done(seq, 0))]
        }));
        assert!(matches!(links(&mut t), Err(Error::Malformed(_))));
    }
}
