//! The HDHomeRun control client: getset requests over TCP port 65001 (libhdhomerun
//! `hdhomerun_control.c`), over any byte stream that can bound its reads and writes, so tests
//! can hand it a scripted stream.
//!
//! Every request has a deadline (`timeout` from the moment it is sent, capped by an optional
//! overall deadline for a whole scrape). Replies are read frame by frame from the 4-byte
//! header, never assuming one `read` returns one frame. After any failure other than a device
//! error the stream's position in the reply sequence is unknown, so the client refuses
//! further requests instead of reading someone else's answer.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::packet::{self, Packet};

/// The control port devices listen on.
pub const PORT: u16 = 65001;

/// The message a device sends for an item it does not have.
const NOT_FOUND: &str = "unknown getset variable";

/// A byte stream whose reads and writes can be bounded in time.
pub trait Transport: Read + Write {
    fn set_timeouts(&mut self, t: Duration) -> io::Result<()>;
}

impl Transport for TcpStream {
    fn set_timeouts(&mut self, t: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(t))?;
        self.set_write_timeout(Some(t))
    }
}

/// What went wrong talking to a device.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The TCP connection could not be made.
    Connect(SocketAddr, io::Error),
    Io(io::Error),
    /// No (complete) reply before the deadline.
    Timeout,
    /// The device closed the connection after sending `have` bytes of a reply.
    Closed {
        have: usize,
    },
    /// The reply frame is malformed.
    Packet(packet::Error),
    /// The request could not be encoded (too long).
    Request(packet::Error),
    UnexpectedType(u16),
    /// The reply names another item than the one asked for.
    WrongItem {
        want: String,
        got: String,
    },
    MissingValue,
    /// The device does not know the item (`ERROR: unknown getset variable`).
    NotFound(String),
    /// Any other error the device reported, verbatim (`ERROR: invalid channel`).
    Device(String),
    /// An earlier failure left the connection out of step.
    Broken,
}

impl Error {
    /// True for an error the device itself reported (the connection is still fine).
    pub fn is_device_error(&self) -> bool {
        matches!(self, Error::NotFound(_) | Error::Device(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect(a, e) => write!(f, "connect to {a}: {e}"),
            Error::Io(e) => write!(f, "i/o error: {e}"),
            Error::Timeout => f.write_str("no reply from device before the deadline"),
            Error::Closed { have: 0 } => f.write_str("device closed the connection"),
            Error::Closed { have } => {
                write!(
                    f,
                    "device closed the connection after {have} bytes of a reply"
                )
            }
            Error::Packet(e) => write!(f, "bad reply: {e}"),
            Error::Request(e) => write!(f, "bad request: {e}"),
            Error::UnexpectedType(t) => write!(f, "unexpected reply type 0x{t:04x}"),
            Error::WrongItem { want, got } => {
                write!(f, "reply is for item {got:?}, not {want:?}")
            }
            Error::MissingValue => f.write_str("reply carries no value"),
            Error::NotFound(m) | Error::Device(m) => f.write_str(m),
            Error::Broken => f.write_str("connection unusable after an earlier error"),
        }
    }
}

impl std::error::Error for Error {}

/// A control connection to one device.
pub struct Client<S> {
    stream: S,
    timeout: Duration,
    deadline: Option<Instant>,
    lockkey: Option<u32>,
    broken: bool,
}

/// Connects to `addr` within `timeout`; each request then gets `timeout` too.
pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<Client<TcpStream>, Error> {
    let s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| Error::Connect(addr, e))?;
    // One small frame per request: waiting for Nagle would cost a delayed-ACK round trip.
    let _ = s.set_nodelay(true);
    Ok(Client::new(s, timeout))
}

impl<S: Transport> Client<S> {
    pub fn new(stream: S, timeout: Duration) -> Client<S> {
        Client {
            stream,
            timeout,
            deadline: None,
            lockkey: None,
            broken: false,
        }
    }

    /// Caps every later request at `deadline` (the whole scrape's budget).
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// The tuner lock key sent with every set.
    pub fn set_lockkey(&mut self, key: Option<u32>) {
        self.lockkey = key;
    }

    /// The value of `item` (e.g. `/sys/model`).
    pub fn get(&mut self, item: &str) -> Result<String, Error> {
        self.execute(item, None)
    }

    /// Sets `item` to `value`; returns the value the device reports back.
    pub fn set(&mut self, item: &str, value: &str) -> Result<String, Error> {
        self.execute(item, Some(value))
    }

    fn execute(&mut self, item: &str, value: Option<&str>) -> Result<String, Error> {
        if self.broken {
            return Err(Error::Broken);
        }
        let req = Packet::getset_request(item, value, self.lockkey)
            .encode()
            .map_err(Error::Request)?;
        let mut deadline = Instant::now() + self.timeout;
        if let Some(d) = self.deadline {
            deadline = deadline.min(d);
        }
        // Marked broken until a whole, well-formed reply for this item has been read.
        self.broken = true;
        self.write_all(&req, deadline)?;
        let reply = self.read_frame(deadline)?;
        if reply.typ != packet::TYPE_GETSET_RPY {
            return Err(Error::UnexpectedType(reply.typ));
        }
        // libhdhomerun accepts a reply without the name; one naming another item is a reply
        // to something else and must not be taken for ours.
        if let Some(got) = reply.get_str(packet::TAG_GETSET_NAME) {
            if got != item {
                return Err(Error::WrongItem {
                    want: item.to_string(),
                    got,
                });
            }
        }
        self.broken = false;
        if let Some(msg) = reply.get_str(packet::TAG_ERROR_MESSAGE) {
            return Err(if msg.contains(NOT_FOUND) {
                Error::NotFound(msg)
            } else {
                Error::Device(msg)
            });
        }
        reply
            .get_str(packet::TAG_GETSET_VALUE)
            .ok_or(Error::MissingValue)
    }

    fn left(deadline: Instant) -> Result<Duration, Error> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(Error::Timeout)
        } else {
            Ok(left)
        }
    }

    fn write_all(&mut self, mut buf: &[u8], deadline: Instant) -> Result<(), Error> {
        while !buf.is_empty() {
            self.stream
                .set_timeouts(Self::left(deadline)?)
                .map_err(Error::Io)?;
            match self.stream.write(buf) {
                Ok(0) => return Err(Error::Closed { have: 0 }),
                Ok(n) => buf = &buf[n..],
                Err(e) => match e.kind() {
                    io::ErrorKind::Interrupted => {}
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                        return Err(Error::Timeout)
                    }
                    _ => return Err(Error::Io(e)),
                },
            }
        }
        Ok(())
    }

    /// Fills `buf[*have..]` or fails.
    fn fill(&mut self, buf: &mut [u8], have: &mut usize, deadline: Instant) -> Result<(), Error> {
        while *have < buf.len() {
            self.stream
                .set_timeouts(Self::left(deadline)?)
                .map_err(Error::Io)?;
            match self.stream.read(&mut buf[*have..]) {
                Ok(0) => return Err(Error::Closed { have: *have }),
                Ok(n) => *have += n,
                Err(e) => match e.kind() {
                    io::ErrorKind::Interrupted => {}
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                        return Err(Error::Timeout)
                    }
                    _ => return Err(Error::Io(e)),
                },
            }
        }
        Ok(())
    }

    fn read_frame(&mut self, deadline: Instant) -> Result<Packet, Error> {
        let mut header = [0u8; packet::HEADER_LEN];
        let mut have = 0;
        self.fill(&mut header, &mut have, deadline)?;
        let total = packet::frame_len(&header).map_err(Error::Packet)?;
        let mut frame = vec![0u8; total];
        frame[..packet::HEADER_LEN].copy_from_slice(&header);
        self.fill(&mut frame, &mut have, deadline)?;
        Packet::decode(&frame).map_err(Error::Packet)
    }
}

#[cfg(test)]
mod tests {
    use super::Error;
    use super::*;
    use crate::hdhomerun::packet::{
        Packet, TAG_ERROR_MESSAGE, TAG_GETSET_LOCKKEY, TAG_GETSET_NAME, TAG_GETSET_VALUE,
        TYPE_GETSET_RPY,
    };

    /// A scripted device: replies are read from `input` at most `chunk` bytes per read; when
    /// it runs out the stream either reports EOF or (with `stall`) times out like a device
    /// that never answers.
    struct Script {
        input: Vec<u8>,
        pos: usize,
        chunk: usize,
        stall: bool,
        written: Vec<u8>,
    }

    impl Script {
        fn new(input: Vec<u8>) -> Script {
            Script {
                input,
                pos: 0,
                chunk: usize::MAX,
                stall: false,
                written: Vec::new(),
            }
        }
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.pos == self.input.len() && self.stall {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.chunk).min(self.input.len() - self.pos);
            buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Transport for Script {
        fn set_timeouts(&mut self, _: Duration) -> io::Result<()> {
            Ok(())
        }
    }

    fn reply(name: &str, tag: u8, text: &str) -> Vec<u8> {
        Packet::new(TYPE_GETSET_RPY)
            .with_str(TAG_GETSET_NAME, name)
            .with_str(tag, text)
            .encode()
            .unwrap()
    }

    fn client(input: Vec<u8>) -> Client<Script> {
        Client::new(Script::new(input), Duration::from_secs(1))
    }

    #[test]
    fn get_sends_the_captured_request_and_reads_split_replies() {
        let mut input = reply("/tuner0/debug", TAG_GETSET_VALUE, "tun: ch=none");
        input.extend(reply("/sys/model", TAG_GETSET_VALUE, "hdhomerun4_atsc"));
        let mut c = client(input);
        c.stream.chunk = 1;
        assert_eq!(c.get("/tuner0/debug").unwrap(), "tun: ch=none");
        assert_eq!(c.get("/sys/model").unwrap(), "hdhomerun4_atsc");
        assert_eq!(
            &c.stream.written[..24],
            Packet::getset_request("/tuner0/debug", None, None)
                .encode()
                .unwrap()
                .as_slice()
        );
    }

    #[test]
    fn set_sends_value_and_lockkey() {
        let mut c = client(reply("/tuner1/channel", TAG_GETSET_VALUE, "8vsb:183000000"));
        c.set_lockkey(Some(0x1234_5678));
        assert_eq!(
            c.set("/tuner1/channel", "8vsb:183000000").unwrap(),
            "8vsb:183000000"
        );
        let sent = Packet::decode(&c.stream.written).unwrap();
        assert_eq!(sent.get_u32(TAG_GETSET_LOCKKEY), Some(0x1234_5678));
        assert_eq!(sent.get_str(TAG_GETSET_VALUE).unwrap(), "8vsb:183000000");
    }

    #[test]
    fn device_errors_are_typed_and_keep_the_connection() {
        let mut input = reply(
            "/tuner2/debug",
            TAG_ERROR_MESSAGE,
            "ERROR: unknown getset variable",
        );
        input.extend(reply(
            "/tuner0/channel",
            TAG_ERROR_MESSAGE,
            "ERROR: invalid channel",
        ));
        input.extend(reply("/sys/model", TAG_GETSET_VALUE, "m"));
        let mut c = client(input);
        let e = c.get("/tuner2/debug").unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e:?}");
        assert_eq!(e.to_string(), "ERROR: unknown getset variable");
        let e = c.set("/tuner0/channel", "bogus").unwrap_err();
        assert!(matches!(&e, Error::Device(m) if m == "ERROR: invalid channel"));
        assert!(e.is_device_error());
        assert_eq!(c.get("/sys/model").unwrap(), "m");
    }

    #[test]
    fn wrong_item_is_refused_and_breaks_the_connection() {
        let mut input = reply("/sys/version", TAG_GETSET_VALUE, "20200907");
        input.extend(reply("/sys/model", TAG_GETSET_VALUE, "m"));
        let mut c = client(input);
        let e = c.get("/sys/model").unwrap_err();
        assert_eq!(
            e.to_string(),
            "reply is for item \"/sys/version\", not \"/sys/model\""
        );
        assert!(matches!(c.get("/sys/model"), Err(Error::Broken)));
    }

    #[test]
    fn reply_without_name_is_accepted_like_libhdhomerun() {
        let r = Packet::new(TYPE_GETSET_RPY)
            .with_str(TAG_GETSET_VALUE, "v")
            .encode()
            .unwrap();
        assert_eq!(client(r).get("/x").unwrap(), "v");
    }

    #[test]
    fn bad_crc() {
        let mut r = reply("/sys/model", TAG_GETSET_VALUE, "m");
        let n = r.len();
        r[n - 2] ^= 0xff;
        let e = client(r).get("/sys/model").unwrap_err();
        assert!(
            matches!(e, Error::Packet(packet::Error::BadCrc { .. })),
            "{e}"
        );
    }

    #[test]
    fn truncated_reply_then_close() {
        let r = reply("/sys/model", TAG_GETSET_VALUE, "hdhomerun4_atsc");
        for cut in [0, 2, 4, 10, r.len() - 1] {
            let e = client(r[..cut].to_vec()).get("/sys/model").unwrap_err();
            assert!(
                matches!(e, Error::Closed { have } if have == cut),
                "{cut}: {e}"
            );
        }
    }

    #[test]
    fn length_field_larger_than_frame() {
        // The header promises 0x0400 bytes of payload; the device sends 20 and stops.
        let mut r = reply("/sys/model", TAG_GETSET_VALUE, "m");
        r[2] = 0x04;
        let mut c = client(r.clone());
        assert!(matches!(c.get("/sys/model"), Err(Error::Closed { .. })));
        let mut c = client(r);
        c.stream.stall = true;
        assert!(matches!(c.get("/sys/model"), Err(Error::Timeout)));
        // A length past the cap is refused from the header alone, before allocating.
        let mut c = client(vec![0, 5, 0xff, 0xff]);
        c.stream.stall = true;
        assert!(matches!(
            c.get("/sys/model"),
            Err(Error::Packet(packet::Error::TooLarge(65543)))
        ));
    }

    #[test]
    fn garbage_bytes() {
        let e = client(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec())
            .get("/sys/model")
            .unwrap_err();
        assert!(matches!(e, Error::Packet(_)), "{e}");
    }

    #[test]
    fn never_answers_times_out() {
        let mut c = client(Vec::new());
        c.stream.stall = true;
        assert!(matches!(c.get("/sys/model"), Err(Error::Timeout)));
    }

    #[test]
    fn deadline_in_the_past_fails_before_sending() {
        let mut c = client(reply("/sys/model", TAG_GETSET_VALUE, "m"));
        c.set_deadline(Some(Instant::now()));
        assert!(matches!(c.get("/sys/model"), Err(Error::Timeout)));
    }

    #[test]
    fn unexpected_reply_type() {
        let r = Packet::discover_request().encode().unwrap();
        assert!(matches!(
            client(r).get("/sys/model"),
            Err(Error::UnexpectedType(2))
        ));
    }
}
