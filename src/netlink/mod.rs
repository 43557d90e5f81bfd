//! Netlink, as promlet speaks it to the kernel: message framing, attributes and the
//! request/dump loop, shared by rtnetlink (`netdev`'s link statistics) and generic netlink
//! (nl80211 for `wifi`). Layout from Linux v6.1 UAPI `include/uapi/linux/netlink.h` and
//! `genetlink.h` (the family id is resolved with `CTRL_CMD_GETFAMILY`, netlink(7), genetlink).
//!
//! Everything here but [`socket`] is pure: bytes in, values out, so it is tested with
//! byte-exact messages and fuzzed (`promlet::fuzzing::netlink`). The kernel is trusted for
//! nothing: a driver that sends a short attribute or a bogus length gets an error, never a
//! panic. Integers are in the host's byte order (OpenWrt has big-endian MIPS targets).
//!
//! [`exchange`] runs one request over any [`Transport`]: it collects the replies of a dump
//! (several messages per datagram, many datagrams), ends at `NLMSG_DONE` or the ack, and
//! starts the whole request again (a bounded number of times) when the kernel says the dump
//! was torn (`NLM_F_DUMP_INTR`) or the socket overflowed (`ENOBUFS`: replies were lost, so the
//! rest of that dump is read to its end first, since the kernel refuses a second dump on a
//! socket while one runs); replies of any other request are told apart by their sequence
//! number.

#[cfg(feature = "router")]
pub mod nl80211;
pub mod rtnl;
pub mod socket;

use std::fmt;

pub const NLMSG_HDRLEN: usize = 16;

pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;

pub const NLM_F_REQUEST: u16 = 0x01;
/// Set on each message of a dump reply (the loop does not need it: DONE ends a dump).
#[cfg(test)]
pub const NLM_F_MULTI: u16 = 0x02;
pub const NLM_F_ACK: u16 = 0x04;
pub const NLM_F_DUMP_INTR: u16 = 0x10;
pub const NLM_F_DUMP: u16 = 0x300;

/// `nla_type` bits that are flags, not the type.
pub const NLA_TYPE_MASK: u16 = 0x3fff;

// errno values differ between architectures (ENOBUFS is 105 on x86 and ARM, 132 on MIPS),
// and the kernel's netlink errors are in the target's numbering: take them from libc.
pub const ENOENT: i32 = libc::ENOENT;
// Generic netlink (nl80211, the router's wifi collector) uses these; rtnetlink does not.
#[cfg(any(feature = "router", test))]
pub const ENODEV: i32 = libc::ENODEV;
pub const ENOBUFS: i32 = libc::ENOBUFS;

/// How many times one request is started again after a torn dump or an overflow.
pub const ATTEMPTS: usize = 3;
/// Replies one request may bring (a router has tens of links and stations, not millions).
pub const MAX_REPLIES: usize = 65536;
/// Datagrams one attempt may read.
pub const MAX_DATAGRAMS: usize = 1 << 20;
/// Receive buffer: the kernel sizes dump datagrams to at most 32 KiB (netlink_dump).
pub const RECV_BUF: usize = 32768;

/// Why a netlink exchange failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The socket call failed.
    Io(std::io::Error),
    /// The kernel answered with this errno (positive: 2 is ENOENT).
    Kernel(i32),
    /// Bytes that are not a valid message; says what and where.
    Malformed(String),
    /// Every attempt was torn by a concurrent change or lost replies to an overflow.
    Inconsistent(&'static str),
    /// More replies than [`MAX_REPLIES`].
    TooMany,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "netlink: {e}"),
            Error::Kernel(n) => write!(
                f,
                "netlink: kernel error {}",
                std::io::Error::from_raw_os_error(*n)
            ),
            Error::Malformed(m) => write!(f, "netlink: malformed reply: {m}"),
            Error::Inconsistent(why) => {
                write!(
                    f,
                    "netlink: no consistent reply after {ATTEMPTS} attempts ({why})"
                )
            }
            Error::TooMany => write!(f, "netlink: more than {MAX_REPLIES} replies"),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Io(e)
    }
}

fn malformed(m: String) -> Error {
    Error::Malformed(m)
}

/// `struct nlmsghdr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub len: u32,
    pub typ: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
}

/// One message of a datagram: its header and the bytes after it (up to `len`).
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    pub header: Header,
    pub payload: &'a [u8],
}

fn ne_u16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes([s[0], s[1]]))
}

fn ne_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The messages of one datagram, in order. A length that runs past the datagram or is
/// shorter than the header ends the walk with an error.
pub fn messages(buf: &[u8]) -> Messages<'_> {
    Messages { buf, at: 0 }
}

pub struct Messages<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.at..)?;
        if rest.is_empty() {
            return None;
        }
        let bad = |m: String| {
            // Stop after the first error.
            Some(Err(malformed(m)))
        };
        let at = self.at;
        self.at = self.buf.len();
        if rest.len() < NLMSG_HDRLEN {
            return bad(format!(
                "{} bytes left at offset {at}, header is 16",
                rest.len()
            ));
        }
        let header = Header {
            len: ne_u32(rest, 0)?,
            typ: ne_u16(rest, 4)?,
            flags: ne_u16(rest, 6)?,
            seq: ne_u32(rest, 8)?,
            pid: ne_u32(rest, 12)?,
        };
        let len = header.len as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return bad(format!(
                "message length {len} at offset {at} (datagram has {} bytes left)",
                rest.len()
            ));
        }
        let payload = &rest[NLMSG_HDRLEN..len];
        self.at = at + align4(len).min(rest.len());
        Some(Ok(Message { header, payload }))
    }
}

/// Attributes (TLVs) of a payload, as `(type without flag bits, value)`.
pub fn attrs(buf: &[u8]) -> Attrs<'_> {
    Attrs { buf, at: 0 }
}

pub struct Attrs<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<(u16, &'a [u8]), Error>;
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.at..)?;
        // Fewer than 4 bytes left is trailing padding.
        if rest.len() < 4 {
            return None;
        }
        let at = self.at;
        self.at = self.buf.len();
        let len = ne_u16(rest, 0)? as usize;
        let typ = ne_u16(rest, 2)? & NLA_TYPE_MASK;
        if len < 4 || len > rest.len() {
            return Some(Err(malformed(format!(
                "attribute {typ} at offset {at}: length {len}, {} bytes left",
                rest.len()
            ))));
        }
        self.at = at + align4(len).min(rest.len());
        Some(Ok((typ, &rest[4..len])))
    }
}

/// An integer attribute's value; a wrong size is an error naming the attribute.
#[cfg(feature = "router")]
pub fn attr_u8(typ: u16, v: &[u8]) -> Result<u8, Error> {
    match v {
        [a] => Ok(*a),
        _ => Err(size_err(typ, v, 1)),
    }
}

pub fn attr_u16(typ: u16, v: &[u8]) -> Result<u16, Error> {
    match v {
        [a, b] => Ok(u16::from_ne_bytes([*a, *b])),
        _ => Err(size_err(typ, v, 2)),
    }
}

#[cfg(any(feature = "router", test))]
pub fn attr_u32(typ: u16, v: &[u8]) -> Result<u32, Error> {
    match v {
        [a, b, c, d] => Ok(u32::from_ne_bytes([*a, *b, *c, *d])),
        _ => Err(size_err(typ, v, 4)),
    }
}

#[cfg(any(feature = "router", test))]
pub fn attr_u64(typ: u16, v: &[u8]) -> Result<u64, Error> {
    let a: [u8; 8] = v.try_into().map_err(|_| size_err(typ, v, 8))?;
    Ok(u64::from_ne_bytes(a))
}

/// A NUL-terminated string attribute (the NUL and anything after it dropped), lossy UTF-8.
pub fn attr_str(v: &[u8]) -> String {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

fn size_err(typ: u16, v: &[u8], want: usize) -> Error {
    malformed(format!("attribute {typ}: {} bytes, want {want}", v.len()))
}

/// Builds one request message: header, fixed part (genl header, ifinfomsg, ...), attributes.
pub struct Request {
    buf: Vec<u8>,
}

impl Request {
    /// A request of `typ` with `flags` (NLM_F_REQUEST is added) and its fixed header bytes.
    pub fn new(typ: u16, flags: u16, fixed: &[u8]) -> Request {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set by `bytes`
        buf.extend_from_slice(&typ.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // seq, set by `bytes`
        buf.extend_from_slice(&0u32.to_ne_bytes()); // pid 0: the kernel fills in ours
        buf.extend_from_slice(fixed);
        buf.resize(align4(buf.len()), 0);
        Request { buf }
    }

    /// A generic netlink request: `family` id, command, version.
    pub fn genl(family: u16, flags: u16, cmd: u8, version: u8) -> Request {
        Request::new(family, flags, &[cmd, version, 0, 0])
    }

    pub fn attr(mut self, typ: u16, value: &[u8]) -> Request {
        let len = 4 + value.len();
        // Attribute values here are a few bytes; a longer one would not fit nla_len.
        let len16 = u16::try_from(len).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(&len16.to_ne_bytes());
        self.buf.extend_from_slice(&typ.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }

    /// The message with its length and sequence number filled in.
    pub fn bytes(&self, seq: u32) -> Vec<u8> {
        let mut b = self.buf.clone();
        let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
        b[0..4].copy_from_slice(&len.to_ne_bytes());
        b[8..12].copy_from_slice(&seq.to_ne_bytes());
        b
    }
}

/// What carries netlink datagrams: the real socket ([`socket::Socket`]) or a test's fake.
pub trait Transport {
    fn send(&mut self, msg: &[u8]) -> std::io::Result<()>;
    /// Reads one datagram into `buf` (cleared first). An overflowed socket reports
    /// `ENOBUFS` as an error; a datagram larger than the buffer is an error too.
    fn recv(&mut self, buf: &mut Vec<u8>) -> std::io::Result<()>;
    /// A fresh sequence number for the next request.
    fn next_seq(&mut self) -> u32;
}

/// Sends `req` and returns what `each` makes of every reply message (the payload after the
/// netlink header), in order; `None` from `each` skips a message. A dump ends at
/// `NLMSG_DONE`, a plain request (which must ask for an ack) at the ack. Kernel errors come
/// back as [`Error::Kernel`]; a torn dump or an overflow restarts the request.
pub fn exchange<T: Transport + ?Sized, X>(
    t: &mut T,
    req: &Request,
    each: &mut dyn FnMut(&Message<'_>) -> Result<Option<X>, Error>,
) -> Result<Vec<X>, Error> {
    let mut why = "";
    for _ in 0..ATTEMPTS {
        let seq = t.next_seq();
        t.send(&req.bytes(seq))?;
        match attempt(t, seq, each)? {
            Outcome::Done(v) => return Ok(v),
            Outcome::Torn => why = "dump interrupted by a change",
            Outcome::Overflowed => why = "socket receive buffer overflowed",
        }
    }
    Err(Error::Inconsistent(why))
}

enum Outcome<X> {
    Done(Vec<X>),
    Torn,
    Overflowed,
}

fn attempt<T: Transport + ?Sized, X>(
    t: &mut T,
    seq: u32,
    each: &mut dyn FnMut(&Message<'_>) -> Result<Option<X>, Error>,
) -> Result<Outcome<X>, Error> {
    // The receive buffer is a spare one (`crate::spare`): a dump per scrape.
    let mut buf = crate::spare::take();
    buf.reserve(RECV_BUF);
    let outcome = receive(t, seq, each, &mut buf);
    crate::spare::give_back(buf);
    outcome
}

fn receive<T: Transport + ?Sized, X>(
    t: &mut T,
    seq: u32,
    each: &mut dyn FnMut(&Message<'_>) -> Result<Option<X>, Error>,
    buf: &mut Vec<u8>,
) -> Result<Outcome<X>, Error> {
    let mut out = Vec::new();
    let (mut torn, mut lost) = (false, false);
    for _ in 0..MAX_DATAGRAMS {
        match t.recv(buf) {
            Ok(()) => {}
            // Replies were dropped. The kernel goes on with the dump (a new one would get
            // EBUSY while it runs), so read on to its end and then start again.
            Err(e) if e.raw_os_error() == Some(ENOBUFS) => {
                lost = true;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        for m in messages(buf) {
            let m = m?;
            // A reply to an earlier, abandoned attempt (or another request).
            if m.header.seq != seq {
                continue;
            }
            if m.header.flags & NLM_F_DUMP_INTR != 0 {
                torn = true;
            }
            match m.header.typ {
                NLMSG_NOOP => continue,
                NLMSG_OVERRUN => return Err(malformed("NLMSG_OVERRUN".into())),
                NLMSG_DONE | NLMSG_ERROR => {
                    // struct nlmsgerr starts with the error; DONE carries it alone.
                    let code = ne_u32(m.payload, 0)
                        .ok_or_else(|| malformed(format!("short message type {}", m.header.typ)))?
                        as i32;
                    if code < 0 {
                        return Err(Error::Kernel(code.checked_neg().unwrap_or(i32::MAX)));
                    }
                    return Ok(if lost {
                        Outcome::Overflowed
                    } else if torn {
                        Outcome::Torn
                    } else {
                        Outcome::Done(out)
                    });
                }
                _ if lost => {}
                _ => {
                    if let Some(x) = each(&m)? {
                        if out.len() >= MAX_REPLIES {
                            return Err(Error::TooMany);
                        }
                        out.push(x);
                    }
                }
            }
        }
    }
    Err(Error::TooMany)
}

/// The genl payload of a generic netlink message: command and attributes.
pub fn genl_payload<'a>(m: &Message<'a>) -> Result<(u8, &'a [u8]), Error> {
    match m.payload {
        [cmd, _version, _, _, rest @ ..] => Ok((*cmd, rest)),
        _ => Err(malformed(format!(
            "generic netlink message of {} bytes",
            m.payload.len()
        ))),
    }
}

/// Resolves a generic netlink family's id by name (CTRL_CMD_GETFAMILY). `Ok(None)` when the
/// kernel has no such family (ENOENT: e.g. cfg80211 not loaded).
pub fn family_id<T: Transport + ?Sized>(t: &mut T, name: &str) -> Result<Option<u16>, Error> {
    const GENL_ID_CTRL: u16 = 0x10;
    const CTRL_CMD_GETFAMILY: u8 = 3;
    const CTRL_ATTR_FAMILY_ID: u16 = 1;
    const CTRL_ATTR_FAMILY_NAME: u16 = 2;
    let mut z = name.as_bytes().to_vec();
    z.push(0);
    let req = Request::genl(GENL_ID_CTRL, NLM_F_ACK, CTRL_CMD_GETFAMILY, 1)
        .attr(CTRL_ATTR_FAMILY_NAME, &z);
    let ids = exchange(t, &req, &mut |m| {
        let (_, a) = genl_payload(m)?;
        for at in attrs(a) {
            let (typ, v) = at?;
            if typ == CTRL_ATTR_FAMILY_ID {
                return Ok(Some(attr_u16(typ, v)?));
            }
        }
        Ok(None)
    });
    match ids {
        Ok(v) => match v.first() {
            Some(id) => Ok(Some(*id)),
            None => Err(malformed(format!("family {name}: reply without an id"))),
        },
        Err(Error::Kernel(ENOENT)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Test and fuzz helpers: build the kernel's side of an exchange.
pub mod fake {
    use super::*;
    use std::collections::VecDeque;

    #[cfg(test)]
    /// A message as the kernel would send it.
    pub fn message(typ: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        let len = u32::try_from(NLMSG_HDRLEN + payload.len()).unwrap_or(u32::MAX);
        b.extend_from_slice(&len.to_ne_bytes());
        b.extend_from_slice(&typ.to_ne_bytes());
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&4242u32.to_ne_bytes());
        b.extend_from_slice(payload);
        b.resize(align4(b.len()), 0);
        b
    }

    #[cfg(test)]
    /// One attribute, padded.
    pub fn attr(typ: u16, value: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        let len = u16::try_from(4 + value.len()).unwrap_or(u16::MAX);
        b.extend_from_slice(&len.to_ne_bytes());
        b.extend_from_slice(&typ.to_ne_bytes());
        b.extend_from_slice(value);
        b.resize(align4(b.len()), 0);
        b
    }

    #[cfg(test)]
    pub fn done(seq: u32, code: i32) -> Vec<u8> {
        message(NLMSG_DONE, NLM_F_MULTI, seq, &code.to_ne_bytes())
    }

    #[cfg(test)]
    /// NLMSG_ERROR (0 is the ack) echoing a 16-byte request header.
    pub fn error(seq: u32, code: i32) -> Vec<u8> {
        let mut p = code.to_ne_bytes().to_vec();
        p.extend_from_slice(&[0; NLMSG_HDRLEN]);
        message(NLMSG_ERROR, 0, seq, &p)
    }

    /// What the fake kernel does with one request.
    pub type Script = Box<dyn FnMut(&[u8], u32) -> Vec<Result<Vec<u8>, i32>>>;

    /// A transport whose kernel is a closure: each sent request (and its sequence number)
    /// yields the datagrams (or errnos) `recv` then returns, in order.
    pub struct Fake {
        pub script: Script,
        pub queue: VecDeque<Result<Vec<u8>, i32>>,
        pub sent: Vec<Vec<u8>>,
        pub seq: u32,
    }

    impl Fake {
        pub fn new(script: Script) -> Fake {
            Fake {
                script,
                queue: VecDeque::new(),
                sent: Vec::new(),
                seq: 0,
            }
        }
    }

    impl Transport for Fake {
        fn send(&mut self, msg: &[u8]) -> std::io::Result<()> {
            self.sent.push(msg.to_vec());
            let seq = ne_u32(msg, 8).unwrap_or(0);
            let replies = (self.script)(msg, seq);
            self.queue.extend(replies);
            Ok(())
        }
        fn recv(&mut self, buf: &mut Vec<u8>) -> std::io::Result<()> {
            buf.clear();
            match self.queue.pop_front() {
                Some(Ok(d)) => {
                    buf.extend_from_slice(&d);
                    Ok(())
                }
                Some(Err(errno)) => Err(std::io::Error::from_raw_os_error(errno)),
                // A real socket would block, then time out.
                None => Err(std::io::ErrorKind::WouldBlock.into()),
            }
        }
        fn next_seq(&mut self) -> u32 {
            self.seq = self.seq.wrapping_add(1);
            self.seq
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::*;
    use super::*;

    #[test]
    fn getfamily_request_is_byte_exact() {
        // The CTRL_CMD_GETFAMILY "nl80211" request of the reference (§6.2), with NLM_F_ACK.
        let req = Request::genl(0x10, NLM_F_ACK, 3, 1).attr(2, b"nl80211\0");
        let b = req.bytes(7);
        let mut want = Vec::new();
        want.extend_from_slice(&32u32.to_ne_bytes());
        want.extend_from_slice(&0x10u16.to_ne_bytes());
        want.extend_from_slice(&0x05u16.to_ne_bytes());
        want.extend_from_slice(&7u32.to_ne_bytes());
        want.extend_from_slice(&0u32.to_ne_bytes());
        want.extend_from_slice(&[3, 1, 0, 0]);
        want.extend_from_slice(&12u16.to_ne_bytes());
        want.extend_from_slice(&2u16.to_ne_bytes());
        want.extend_from_slice(b"nl80211\0");
        assert_eq!(b, want);
    }

    #[test]
    fn messages_and_attrs_walk_padding() {
        let mut d = message(20, NLM_F_MULTI, 1, &[1, 2, 3]); // padded to 20
        d.extend(message(21, NLM_F_MULTI, 1, &attr(5, b"ab")));
        let ms: Vec<_> = messages(&d).collect::<Result<_, _>>().unwrap();
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[0].payload, [1, 2, 3]);
        assert_eq!(ms[1].header.typ, 21);
        let a: Vec<_> = attrs(ms[1].payload).collect::<Result<_, _>>().unwrap();
        assert_eq!(a, vec![(5, &b"ab"[..])]);
        // The nested and byte-order flag bits are masked off the type.
        let a = attr(0x8000 | 21, &[]);
        assert_eq!(attrs(&a).next().unwrap().unwrap().0, 21);
    }

    #[test]
    fn bad_lengths_are_errors_not_panics() {
        let mut d = message(20, 0, 1, &[0; 8]);
        d[0..4].copy_from_slice(&100u32.to_ne_bytes());
        assert!(messages(&d).next().unwrap().is_err(), "length past the end");
        d[0..4].copy_from_slice(&3u32.to_ne_bytes());
        assert!(messages(&d).next().unwrap().is_err(), "length below header");
        assert!(messages(&d[..10]).next().unwrap().is_err(), "short header");
        let mut a = attr(1, &[0; 4]);
        a[0..2].copy_from_slice(&200u16.to_ne_bytes());
        assert!(attrs(&a).next().unwrap().is_err());
        a[0..2].copy_from_slice(&2u16.to_ne_bytes());
        assert!(attrs(&a).next().unwrap().is_err());
        assert!(attr_u32(1, &[1, 2]).is_err());
        assert!(attr_u64(1, &[1; 4]).is_err());
        assert_eq!(attr_str(b"wlan0\0junk"), "wlan0");
    }

    fn collect_types(t: &mut Fake, req: &Request) -> Result<Vec<u16>, Error> {
        exchange(t, req, &mut |m| Ok(Some(m.header.typ)))
    }

    #[test]
    fn dump_spans_datagrams_with_several_messages_each() {
        let mut t = Fake::new(Box::new(|_, seq| {
            let mut first = message(100, NLM_F_MULTI, seq, &[]);
            first.extend(message(101, NLM_F_MULTI, seq, &[]));
            let mut second = message(102, NLM_F_MULTI, seq, &[]);
            second.extend(done(seq, 0));
            vec![Ok(first), Ok(second)]
        }));
        let req = Request::new(18, NLM_F_DUMP, &[0; 16]);
        assert_eq!(collect_types(&mut t, &req).unwrap(), [100, 101, 102]);
        assert_eq!(t.sent.len(), 1);
    }

    #[test]
    fn torn_dump_is_started_again() {
        let mut calls = 0;
        let mut t = Fake::new(Box::new(move |_, seq| {
            calls += 1;
            let flags = if calls == 1 {
                NLM_F_MULTI | NLM_F_DUMP_INTR
            } else {
                NLM_F_MULTI
            };
            let mut d = message(100 + calls, flags, seq, &[]);
            d.extend(done(seq, 0));
            vec![Ok(d)]
        }));
        let req = Request::new(18, NLM_F_DUMP, &[0; 16]);
        // Only the second, consistent attempt's replies.
        assert_eq!(collect_types(&mut t, &req).unwrap(), [102]);
        assert_eq!(t.sent.len(), 2);
        // Always torn: an error after ATTEMPTS tries, not a loop.
        let mut t = Fake::new(Box::new(|_, seq| {
            vec![
                Ok(message(100, NLM_F_MULTI | NLM_F_DUMP_INTR, seq, &[])),
                Ok(done(seq, 0)),
            ]
        }));
        assert!(matches!(
            collect_types(&mut t, &req),
            Err(Error::Inconsistent(_))
        ));
        assert_eq!(t.sent.len(), ATTEMPTS);
    }

    #[test]
    fn enobufs_restarts_and_stale_replies_are_skipped() {
        let mut calls = 0u16;
        let mut t = Fake::new(Box::new(move |_, seq| {
            calls += 1;
            if calls == 1 {
                // Part of the dump, the overflow, then the rest of the dump: read to its
                // end, then the request is sent again.
                vec![
                    Ok(message(100, NLM_F_MULTI, seq, &[])),
                    Err(ENOBUFS),
                    Ok(message(101, NLM_F_MULTI, seq, &[])),
                    Ok(done(seq, 0)),
                ]
            } else {
                let mut d = message(200, NLM_F_MULTI, seq, &[]);
                d.extend(done(seq, 0));
                vec![Ok(d)]
            }
        }));
        let req = Request::new(18, NLM_F_DUMP, &[0; 16]);
        assert_eq!(collect_types(&mut t, &req).unwrap(), [200]);
        assert_eq!(t.sent.len(), 2);
        // A stale reply of an earlier request in the way is skipped by its sequence number.
        let mut t = Fake::new(Box::new(|_, seq| {
            let stale = message(300, NLM_F_MULTI, seq.wrapping_sub(1), &[]);
            vec![
                Ok([stale, message(301, NLM_F_MULTI, seq, &[])].concat()),
                Ok(done(seq, 0)),
            ]
        }));
        assert_eq!(collect_types(&mut t, &req).unwrap(), [301]);
        // Overflowing every time: an error after ATTEMPTS, and the DONE lost with the rest
        // ends in the socket's timeout rather than a hang.
        let mut t = Fake::new(Box::new(|_, seq| vec![Err(ENOBUFS), Ok(done(seq, 0))]));
        assert!(matches!(
            collect_types(&mut t, &req),
            Err(Error::Inconsistent(_))
        ));
        assert_eq!(t.sent.len(), ATTEMPTS);
        let mut t = Fake::new(Box::new(|_, _| vec![Err(ENOBUFS)]));
        assert!(matches!(collect_types(&mut t, &req), Err(Error::Io(_))));
    }

    #[test]
    fn kernel_errors_and_acks() {
        let req = Request::genl(0x10, NLM_F_ACK, 3, 1);
        let mut t = Fake::new(Box::new(|_, seq| vec![Ok(error(seq, -ENOENT))]));
        assert!(matches!(
            collect_types(&mut t, &req),
            Err(Error::Kernel(ENOENT))
        ));
        let mut t = Fake::new(Box::new(|_, seq| {
            let mut d = message(0x10, 0, seq, &[1, 1, 0, 0]);
            d.extend(error(seq, 0));
            vec![Ok(d)]
        }));
        assert_eq!(collect_types(&mut t, &req).unwrap(), [0x10]);
        // An error at the end of a dump (DONE carrying -ENODEV).
        let mut t = Fake::new(Box::new(|_, seq| vec![Ok(done(seq, -ENODEV))]));
        assert!(matches!(
            collect_types(&mut t, &req),
            Err(Error::Kernel(ENODEV))
        ));
        // A silent kernel is the socket's timeout, not a hang.
        let mut t = Fake::new(Box::new(|_, _| vec![]));
        assert!(matches!(collect_types(&mut t, &req), Err(Error::Io(_))));
        // Garbage in a datagram.
        let mut t = Fake::new(Box::new(|_, _| vec![Ok(vec![1, 2, 3])]));
        assert!(matches!(
            collect_types(&mut t, &req),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn family_id_resolution() {
        let mut t = Fake::new(Box::new(|req, seq| {
            assert_eq!(&req[24..32], b"nl80211\0");
            let mut p = vec![1, 2, 0, 0];
            p.extend(attr(2, b"nl80211\0"));
            p.extend(attr(1, &0x1cu16.to_ne_bytes()));
            let mut d = message(0x10, 0, seq, &p);
            d.extend(error(seq, 0));
            vec![Ok(d)]
        }));
        assert_eq!(family_id(&mut t, "nl80211").unwrap(), Some(0x1c));
        let mut t = Fake::new(Box::new(|_, seq| vec![Ok(error(seq, -ENOENT))]));
        assert_eq!(family_id(&mut t, "nl80211").unwrap(), None);
    }
}
