//! The one place promlet's netlink code calls the kernel: an `AF_NETLINK` datagram socket
//! (socket(2), bind(2), setsockopt(2), send(2), recv(2); netlink(7)). Every `unsafe` of the
//! netlink code is in this file, each call with plain integers and buffers promlet owns.
//! rustix would wrap these five calls safely; libc is already linked and the calls are few.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::{Transport, RECV_BUF};

/// rtnetlink (`NETLINK_ROUTE`): links and their statistics.
pub const NETLINK_ROUTE: i32 = 0;
/// Generic netlink (`NETLINK_GENERIC`): nl80211 and other families.
pub const NETLINK_GENERIC: i32 = 16;

/// A netlink socket bound to a port id the kernel picks, talking to the kernel (port 0).
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Socket {
    /// Opens a socket of `protocol`. `timeout` bounds each receive, so a kernel that never
    /// answers fails the scrape instead of holding it.
    pub fn open(protocol: i32, timeout: Duration) -> io::Result<Socket> {
        // SAFETY: socket(2) with constant arguments; the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            )
        };
        check(fd)?;
        // SAFETY: fd is a descriptor we just opened and own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: sockaddr_nl is plain data; all-zero is a valid value (pid 0: the kernel
        // assigns one, no multicast groups).
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        let len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: addr is a valid sockaddr_nl of `len` bytes for the whole call.
        check(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
                len,
            )
        })?;
        // connect(2) to the kernel (port 0), so plain send(2) works.
        // SAFETY: as for bind.
        check(unsafe {
            libc::connect(
                fd.as_raw_fd(),
                &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
                len,
            )
        })?;
        let tv = libc::timeval {
            tv_sec: timeout.as_secs().min(3600) as _,
            tv_usec: timeout.subsec_micros() as _,
        };
        // SAFETY: tv is a valid timeval for the whole call, its size is passed.
        check(unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const libc::timeval as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        })?;
        // Sequence numbers only have to differ between this socket's requests.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.subsec_nanos());
        Ok(Socket { fd, seq: seed })
    }
}

impl Transport for Socket {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        loop {
            // SAFETY: msg is a valid buffer of msg.len() bytes for the whole call.
            let n = unsafe {
                libc::send(
                    self.fd.as_raw_fd(),
                    msg.as_ptr() as *const libc::c_void,
                    msg.len(),
                    0,
                )
            };
            if n >= 0 {
                return if n as usize == msg.len() {
                    Ok(())
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "short netlink send",
                    ))
                };
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.clear();
        buf.resize(RECV_BUF, 0);
        loop {
            // MSG_TRUNC: the return value is the datagram's real length, so a datagram
            // larger than the buffer is detected instead of being parsed cut short.
            // SAFETY: buf has buf.len() writable bytes for the whole call.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n >= 0 {
                let n = n as usize;
                if n > buf.len() {
                    buf.clear();
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("netlink datagram of {n} bytes, buffer {RECV_BUF}"),
                    ));
                }
                buf.truncate(n);
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                buf.clear();
                return Err(e);
            }
        }
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
