//! The one place promlet's netlink code calls the kernel: an `AF_NETLINK` datagram socket
//! (socket(2), bind(2), connect(2), setsockopt(2), send(2), recv(2); netlink(7)) through
//! rustix, so this code has no `unsafe`. rustix replaced six libc calls here at no measurable
//! size cost (x86_64 node-only 712,896 B either way, mipsel router set 208 B smaller).
use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{
    bind, connect, recv, send, socket_with, sockopt, AddressFamily, Protocol, RecvFlags, SendFlags,
    SocketFlags, SocketType,
};

use super::{Transport, RECV_BUF};

/// rtnetlink (`NETLINK_ROUTE`): links and their statistics.
pub const NETLINK_ROUTE: i32 = 0;
/// Generic netlink (`NETLINK_GENERIC`): nl80211 and other families.
#[cfg(any(feature = "router", test))]
pub const NETLINK_GENERIC: i32 = 16;

/// A netlink socket bound to a port id the kernel picks, talking to the kernel (port 0).
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
}

impl Socket {
    /// Opens a socket of `protocol`. `timeout` bounds each receive, so a kernel that never
    /// answers fails the scrape instead of holding it.
    pub fn open(protocol: i32, timeout: Duration) -> io::Result<Socket> {
        // Protocol 0 (NETLINK_ROUTE) is "no protocol" to rustix.
        let proto = std::num::NonZeroU32::new(protocol as u32).map(Protocol::from_raw);
        let fd = socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            proto,
        )?;
        // Port 0: the kernel assigns ours; connected to the kernel, so plain send(2) works.
        let addr = SocketAddrNetlink::new(0, 0);
        bind(&fd, &addr)?;
        connect(&fd, &addr)?;
        sockopt::set_socket_timeout(&fd, sockopt::Timeout::Recv, Some(timeout))?;
        // Sequence numbers only have to differ between this socket's requests.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.subsec_nanos());
        Ok(Socket { fd, seq: seed })
    }
}

impl Transport for Socket {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        let n = send(&self.fd, msg, SendFlags::empty())?;
        if n == msg.len() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short netlink send",
            ))
        }
    }

    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.clear();
        buf.reserve(RECV_BUF);
        // Into the spare capacity, which the kernel fills: no 32 KiB of zeroes per datagram.
        // TRUNC: the kernel reports the datagram's real length, so one larger than the
        // buffer is an error instead of being parsed cut short.
        let (got, full) = recv(
            &self.fd,
            rustix::buffer::spare_capacity(buf),
            RecvFlags::TRUNC,
        )?;
        if full > got {
            buf.clear();
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("netlink datagram of {full} bytes, buffer {RECV_BUF}"),
            ));
        }
        buf.truncate(got);
        Ok(())
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's own rtnetlink: a link dump of this machine has at least `lo`.
    #[test]
    fn rtnetlink_dump_on_this_machine_lists_lo() {
        let mut s = Socket::open(NETLINK_ROUTE, Duration::from_secs(5)).unwrap();
        let links = crate::netlink::rtnl::links(&mut s).unwrap();
        assert!(links.iter().any(|l| l.name == "lo"), "{links:?}");
    }

    /// Generic netlink is there on every kernel (nlctrl resolves itself).
    #[test]
    fn generic_netlink_resolves_nlctrl() {
        let mut s = Socket::open(NETLINK_GENERIC, Duration::from_secs(5)).unwrap();
        assert_eq!(
            crate::netlink::family_id(&mut s, "nlctrl").unwrap(),
            Some(0x10)
        );
        assert_eq!(
            crate::netlink::family_id(&mut s, "no-such-family").unwrap(),
            None
        );
    }
}
