//! promlet's one HTTP/1.1 response decoder (RFC 9112), for every client: the proxy's upstreams,
//! the Packet SD API and the `CONNECT` proxy in front of it. It reads from any [`BufRead`], so
//! the same code runs over a socket, a TLS stream and, in the fuzz target, a byte slice.
//!
//! Heads, trailers and chunk-size lines are parsed by `httparse` (hyper's parser); this module
//! adds the framing rules (RFC 9112 §6.3) and a cap on every size an upstream chooses:
//!
//! - the head (status line and fields) is at most [`MAX_HEAD`] bytes, 1xx answers included
//!   (they are skipped), with at most [`MAX_FIELDS`] fields;
//! - `Transfer-Encoding` other than exactly `chunked` is refused (promlet never asks for one);
//!   `Content-Length` must be digits, and several differing values are refused;
//! - a chunk-size line (hex size, at most 16 digits, and extensions) is at most
//!   [`MAX_CHUNK_LINE`] bytes, each chunk ends with CRLF, the trailer section is at most
//!   [`MAX_TRAILERS`] bytes;
//! - the body is cut off with an error past the caller's limit: every sum is checked, so a chunk
//!   of size `ffffffffffffffff` is just "larger than the limit".
//!
//! A body's errors come out of [`Read`] as `io::Error`s that wrap an [`Error`]: a body that
//! broke off is `UnexpectedEof`, everything the upstream got wrong is `InvalidData`, and errors
//! of the connection below (a deadline: `TimedOut`) pass through as they are.

use std::fmt;
use std::io::{self, BufRead, Read};

/// The longest head accepted, status line to the empty line, 1xx answers before it included.
pub const MAX_HEAD: usize = 64 * 1024;
/// Header fields in one head at most.
pub const MAX_FIELDS: usize = 100;
/// The longest chunk-size line (size, extensions, CRLF).
pub const MAX_CHUNK_LINE: usize = 4096;
/// The longest trailer section after the last chunk.
pub const MAX_TRAILERS: usize = 16 * 1024;

/// What an upstream can get wrong, and what the connection below can do.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The connection ended before the head was complete.
    HeadBrokeOff,
    /// The head is longer than [`MAX_HEAD`].
    HeadTooLong,
    /// httparse refused the head (its reason) or found more than [`MAX_FIELDS`] fields.
    BadHead(&'static str),
    /// `101 Switching Protocols`, which promlet never asks for.
    Upgrade,
    /// A `Content-Length` that is not a number, or several that differ.
    BadLength,
    /// A transfer coding other than `chunked`.
    TransferEncoding(String),
    BadChunkSize,
    /// A chunk-size line longer than [`MAX_CHUNK_LINE`] (long extensions).
    ChunkLineTooLong,
    /// Chunk data not followed by CRLF.
    BadChunkEnd,
    BadTrailers,
    TrailersTooLong,
    /// The connection ended inside the body.
    BodyBrokeOff,
    /// The body is larger than the caller's limit.
    TooLarge(u64),
    /// The answer's status, when the caller accepts only 200.
    Status(u16),
    /// A `Content-Encoding` the caller cannot decode.
    ContentEncoding(String),
    /// The gzip body does not decode (or decodes past the limit).
    Gzip(String),
    /// The connection below failed (a deadline is "timeout").
    Io(io::ErrorKind, String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::HeadBrokeOff => f.write_str("response ended inside its header"),
            Error::HeadTooLong => write!(f, "response header longer than {MAX_HEAD} bytes"),
            Error::BadHead(why) => write!(f, "malformed response header: {why}"),
            Error::Upgrade => f.write_str("unexpected 101 switching protocols"),
            Error::BadLength => f.write_str("bad or conflicting content-length"),
            Error::TransferEncoding(v) => write!(f, "unsupported transfer-encoding {v:?}"),
            Error::BadChunkSize => f.write_str("bad chunk size"),
            Error::ChunkLineTooLong => {
                write!(f, "chunk size line longer than {MAX_CHUNK_LINE} bytes")
            }
            Error::BadChunkEnd => f.write_str("chunk not followed by crlf"),
            Error::BadTrailers => f.write_str("malformed trailer section"),
            Error::TrailersTooLong => write!(f, "trailer section longer than {MAX_TRAILERS} bytes"),
            Error::BodyBrokeOff => f.write_str("body broke off"),
            Error::TooLarge(n) => write!(f, "answer larger than {n} bytes"),
            Error::Status(s) => write!(f, "HTTP status {s}"),
            Error::ContentEncoding(v) => write!(f, "unsupported content-encoding {v:?}"),
            Error::Gzip(e) => write!(f, "gzip body: {e}"),
            Error::Io(io::ErrorKind::TimedOut, _) => f.write_str("timeout"),
            Error::Io(_, e) => write!(f, "read response: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                Error::Io(io::ErrorKind::TimedOut, "timeout".into())
            }
            k => match e.into_inner() {
                // One of ours, come back through a Read.
                Some(inner) => match inner.downcast::<Error>() {
                    Ok(ours) => *ours,
                    Err(other) => Error::Io(k, other.to_string()),
                },
                None => Error::Io(k, k.to_string()),
            },
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::Io(k, _) => *k,
            Error::HeadBrokeOff | Error::BodyBrokeOff => io::ErrorKind::UnexpectedEof,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

/// A final (non-1xx) answer's status and fields, and how its body is framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// In arrival order, names as sent, values trimmed.
    pub fields: Vec<(String, String)>,
    pub framing: Framing,
    /// HTTP/1.1 and no `Connection: close`: the connection may carry another request once
    /// the body is read (RFC 9112 §9.3).
    pub reusable: bool,
}

impl Head {
    /// The first field of that name (any case).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How a body ends (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    Chunked,
    /// Until the server closes.
    Close,
}

/// Reads heads until a final answer's (1xx answers are skipped), leaving the reader at the
/// first byte of its body.
pub fn read_head<R: BufRead>(r: &mut R) -> Result<Head, Error> {
    let mut budget = MAX_HEAD;
    loop {
        let raw = read_block(r, budget, false, Error::HeadTooLong, Error::HeadBrokeOff)?;
        budget -= raw.len();
        let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
        let mut resp = httparse::Response::new(&mut fields);
        match resp.parse(&raw) {
            Ok(httparse::Status::Complete(n)) if n == raw.len() => {}
            Ok(_) => return Err(Error::BadHead("incomplete")),
            Err(e) => return Err(Error::BadHead(describe(e))),
        }
        let status = resp.code.ok_or(Error::BadHead("no status"))?;
        if status == 101 {
            return Err(Error::Upgrade);
        }
        if (100..200).contains(&status) {
            continue;
        }
        let fields: Vec<(String, String)> = resp
            .headers
            .iter()
            .map(|h| {
                let v = String::from_utf8_lossy(h.value);
                (h.name.to_string(), v.trim().to_string())
            })
            .collect();
        let framing = framing(status, &fields)?;
        let closes = fields.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("connection")
                && v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))
        });
        return Ok(Head {
            status,
            reusable: resp.version == Some(1) && !closes,
            fields,
            framing,
        });
    }
}

fn describe(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid field name",
        httparse::Error::HeaderValue => "invalid field value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status line",
        httparse::Error::Token => "invalid token",
        httparse::Error::TooManyHeaders => "too many fields",
        httparse::Error::Version => "invalid version",
    }
}

/// RFC 9112 §6.3, for the answer to a GET.
fn framing(status: u16, fields: &[(String, String)]) -> Result<Framing, Error> {
    if status == 204 || status == 304 {
        return Ok(Framing::Empty);
    }
    let mut codings = Vec::new();
    let mut length: Option<u64> = None;
    for (k, v) in fields {
        if k.eq_ignore_ascii_case("transfer-encoding") {
            codings.extend(v.split(',').map(str::trim).filter(|c| !c.is_empty()));
        } else if k.eq_ignore_ascii_case("content-length") {
            // A list (`5, 5`) or repeated fields are fine when every value is the same.
            for part in v.split(',').map(str::trim) {
                let n = parse_length(part)?;
                if length.is_some_and(|l| l != n) {
                    return Err(Error::BadLength);
                }
                length = Some(n);
            }
        }
    }
    // Transfer-Encoding overrides Content-Length (§6.3 item 3).
    if !codings.is_empty() {
        return match codings.as_slice() {
            [c] if c.eq_ignore_ascii_case("chunked") => Ok(Framing::Chunked),
            _ => Err(Error::TransferEncoding(codings.join(", "))),
        };
    }
    Ok(length.map_or(Framing::Close, Framing::Length))
}

/// `1*DIGIT`, without signs or blanks, that fits in 64 bits.
fn parse_length(s: &str) -> Result<u64, Error> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::BadLength);
    }
    s.parse().map_err(|_| Error::BadLength)
}

/// Bytes up to and including the empty line that ends a head or a trailer section (CRLF CRLF,
/// or LF LF as httparse also accepts), at most `max` of them. Nothing after it is consumed.
/// `section`: the block may be that empty line alone (a trailer section without fields; a
/// head's leading empty lines are httparse's to skip).
fn read_block<R: BufRead>(
    r: &mut R,
    max: usize,
    section: bool,
    long: Error,
    eof: Error,
) -> Result<Vec<u8>, Error> {
    let mut out: Vec<u8> = Vec::new();
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            return Err(eof);
        }
        // Look for the end from just before the new bytes (it may straddle two reads).
        let from = out.len().saturating_sub(3);
        let room = max - out.len();
        let take = avail.len().min(room);
        out.extend_from_slice(&avail[..take]);
        match block_end(&out, from, section) {
            Some(end) => {
                // `end` lies in the bytes just taken (an end in the earlier ones was found
                // on the read before): leave what follows it in the reader.
                let used = end.saturating_sub(out.len() - take);
                r.consume(used);
                out.truncate(end);
                return Ok(out);
            }
            None => {
                r.consume(take);
                if out.len() >= max {
                    return Err(long);
                }
            }
        }
    }
}

/// The end (exclusive) of the first empty line at or after `from`: `\n\r\n` or `\n\n`, or
/// with `section`, an empty first line.
fn block_end(b: &[u8], from: usize, section: bool) -> Option<usize> {
    if section && b.starts_with(b"\r\n") {
        return Some(2);
    }
    if section && b.starts_with(b"\n") {
        return Some(1);
    }
    let mut i = from;
    while i < b.len() {
        if b[i] == b'\n' {
            match b.get(i + 1..) {
                Some([b'\n', ..]) => return Some(i + 2),
                Some([b'\r', b'\n', ..]) => return Some(i + 3),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// A chunk-size line comes next.
    Size,
    /// Bytes left of the current chunk's data.
    Data(u64),
    Done,
}

/// A body: de-chunked, cut at `Content-Length`, refused past `limit` bytes.
pub struct Body<R> {
    r: R,
    framing: Framing,
    chunk: Chunk,
    /// Bytes left of a `Content-Length` body.
    left: u64,
    limit: u64,
    seen: u64,
}

impl<R: BufRead> Body<R> {
    /// The body that follows `head` in `r`, at most `limit` bytes of it. A `Content-Length`
    /// over the limit fails the first read, before anything is read.
    pub fn new(r: R, head: &Head, limit: u64) -> Body<R> {
        Body {
            r,
            framing: head.framing,
            chunk: Chunk::Size,
            left: match head.framing {
                Framing::Length(n) => n,
                _ => 0,
            },
            limit,
            seen: 0,
        }
    }

    /// The reader below, for a caller that goes on after the body (nothing does today).
    #[cfg(test)]
    fn into_inner(self) -> R {
        self.r
    }

    /// The reader below once the body has been read to its end, for the next answer on the
    /// connection; None before that, and for a body that ends only when the server closes.
    #[cfg(feature = "push")]
    pub fn finished(self) -> Option<R> {
        let done = match self.framing {
            Framing::Empty => true,
            Framing::Length(_) => self.left == 0,
            Framing::Chunked => self.chunk == Chunk::Done,
            Framing::Close => false,
        };
        done.then_some(self.r)
    }

    /// Counts `n` more body bytes against the limit.
    fn count(&mut self, n: usize) -> Result<(), Error> {
        self.seen = self
            .seen
            .checked_add(n as u64)
            .filter(|s| *s <= self.limit)
            .ok_or(Error::TooLarge(self.limit))?;
        Ok(())
    }

    /// Reads up to `max` bytes of data into `buf`; 0 only at the reader's end.
    fn read_some(&mut self, buf: &mut [u8], max: u64) -> io::Result<usize> {
        let max = buf.len().min(usize::try_from(max).unwrap_or(usize::MAX));
        loop {
            match self.r.read(&mut buf[..max]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    fn read_chunked(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.chunk {
                Chunk::Done => return Ok(0),
                Chunk::Size => {
                    let line = read_line(&mut self.r, MAX_CHUNK_LINE)?;
                    let size = chunk_size(&line)?;
                    if size == 0 {
                        let trailers = read_block(
                            &mut self.r,
                            MAX_TRAILERS,
                            true,
                            Error::TrailersTooLong,
                            Error::BodyBrokeOff,
                        )?;
                        let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
                        match httparse::parse_headers(&trailers, &mut fields) {
                            Ok(httparse::Status::Complete((n, _))) if n == trailers.len() => {}
                            _ => return Err(Error::BadTrailers.into()),
                        }
                        self.chunk = Chunk::Done;
                        return Ok(0);
                    }
                    // Checked before a byte of it is read: a huge size fails here.
                    if size > self.limit - self.seen {
                        return Err(Error::TooLarge(self.limit).into());
                    }
                    self.chunk = Chunk::Data(size);
                }
                Chunk::Data(0) => {
                    let mut crlf = [0u8; 2];
                    self.r.read_exact(&mut crlf).map_err(|e| match e.kind() {
                        io::ErrorKind::UnexpectedEof => Error::BodyBrokeOff.into(),
                        _ => e,
                    })?;
                    if crlf != *b"\r\n" {
                        return Err(Error::BadChunkEnd.into());
                    }
                    self.chunk = Chunk::Size;
                }
                Chunk::Data(left) => {
                    if buf.is_empty() {
                        return Ok(0);
                    }
                    let n = self.read_some(buf, left)?;
                    if n == 0 {
                        return Err(Error::BodyBrokeOff.into());
                    }
                    self.chunk = Chunk::Data(left - n as u64);
                    return Ok(n);
                }
            }
        }
    }
}

/// One chunk-size line including its CRLF, at most `max` bytes.
fn read_line<R: BufRead>(r: &mut R, max: usize) -> Result<Vec<u8>, Error> {
    let mut line = Vec::new();
    let n = r.by_ref().take(max as u64).read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Err(if n >= max {
            Error::ChunkLineTooLong
        } else {
            Error::BodyBrokeOff
        });
    }
    Ok(line)
}

/// The size on a chunk-size line: httparse's rules (at most 16 hex digits, extensions
/// ignored, CRLF), plus at least one digit (httparse reads an empty line as 0).
fn chunk_size(line: &[u8]) -> Result<u64, Error> {
    if !line.first().is_some_and(u8::is_ascii_hexdigit) {
        return Err(Error::BadChunkSize);
    }
    match httparse::parse_chunk_size(line) {
        Ok(httparse::Status::Complete((n, size))) if n == line.len() => Ok(size),
        _ => Err(Error::BadChunkSize),
    }
}

impl<R: BufRead> Read for Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.framing {
            Framing::Empty => 0,
            Framing::Length(_) if self.left == 0 => 0,
            Framing::Length(total) => {
                if total > self.limit {
                    return Err(Error::TooLarge(self.limit).into());
                }
                let n = self.read_some(buf, self.left)?;
                if n == 0 && !buf.is_empty() {
                    return Err(Error::BodyBrokeOff.into());
                }
                self.left -= n as u64;
                n
            }
            Framing::Chunked => self.read_chunked(buf)?,
            Framing::Close => match self.read_some(buf, u64::MAX) {
                // rustls reports a peer that closes without close_notify this way.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
                r => r?,
            },
        };
        self.count(n)?;
        Ok(n)
    }
}

/// A whole body read into memory, with its head.
#[cfg(any(feature = "proxy", test))]
pub fn read_all<R: BufRead>(r: R, head: &Head, limit: u64) -> Result<Vec<u8>, Error> {
    let hint = match head.framing {
        Framing::Length(n) => n.min(limit),
        _ => 0,
    };
    let mut out = Vec::with_capacity(usize::try_from(hint).unwrap_or(0).max(16 * 1024));
    Body::new(r, head, limit).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `raw` whole: the head, then the body under `limit`.
    fn decode(raw: &[u8], limit: u64) -> Result<(Head, Vec<u8>), Error> {
        let mut r = raw;
        let head = read_head(&mut r)?;
        let body = read_all(r, &head, limit)?;
        Ok((head, body))
    }

    fn body(raw: &[u8]) -> Result<Vec<u8>, Error> {
        decode(raw, 1 << 20).map(|(_, b)| b)
    }

    /// A reader that hands out one byte per read, like a slow peer.
    struct Drip<'a>(&'a [u8]);
    impl Read for Drip<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((b, rest)), Some(slot)) => {
                    *slot = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    /// Regression (issue 14): a chunk size of 2^64-1 used to be added unchecked and aborted
    /// promlet (`range end index 18446744073709551615 out of range`).
    #[test]
    fn a_chunk_of_size_u64_max_is_too_large_not_a_crash() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc\r\n0\r\n\r\n";
        assert_eq!(body(raw), Err(Error::TooLarge(1 << 20)));
        // Seventeen digits are not a size at all.
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000000a\r\n";
        assert_eq!(body(raw), Err(Error::BadChunkSize));
        // The limit counts across chunks, with checked sums.
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n";
        assert_eq!(decode(raw, 5).map(|(_, b)| b), Err(Error::TooLarge(5)));
        assert_eq!(decode(raw, 6).unwrap().1, b"abcdef");
    }

    #[test]
    fn chunked_with_extensions_trailers_and_interim_answers() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n\
            HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\nContent-Length: 99\r\n\r\n\
            3;x=1\r\nabc\r\n2 ; y\r\nde\r\n0\r\nT: 1\r\nU: 2\r\n\r\nNEXT";
        let mut r = &raw[..];
        let head = read_head(&mut r).unwrap();
        assert_eq!((head.status, head.framing), (200, Framing::Chunked));
        let mut b = Body::new(r, &head, 100);
        let mut out = Vec::new();
        b.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcde");
        // Nothing past the trailer section was taken.
        assert_eq!(b.into_inner(), b"NEXT");
    }

    #[test]
    fn lengths_close_delimited_and_empty_bodies() {
        let (h, b) = decode(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nab\ncX",
            100,
        )
        .unwrap();
        assert_eq!(
            (b.as_slice(), h.field("content-type")),
            (&b"ab\nc"[..], Some("text/plain"))
        );
        assert_eq!(
            body(b"HTTP/1.0 200 OK\r\n\r\nuntil close").unwrap(),
            b"until close"
        );
        assert_eq!(
            body(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nxxxxx").unwrap(),
            b""
        );
        // The same length twice is one length.
        assert_eq!(
            body(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nok")
                .unwrap(),
            b"ok"
        );
        // A length over the limit fails before the body is read.
        assert_eq!(
            decode(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 4).map(|x| x.1),
            Err(Error::TooLarge(4))
        );
        assert_eq!(
            decode(b"HTTP/1.0 200 OK\r\n\r\n0123456789", 4).map(|x| x.1),
            Err(Error::TooLarge(4))
        );
    }

    #[test]
    fn framing_that_could_be_read_two_ways_is_refused() {
        for (raw, want) in [
            (&b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"[..], Error::BadLength),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nabc", Error::BadLength),
            (b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nab", Error::BadLength),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", Error::BadLength),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Error::TransferEncoding("gzip, chunked".into())),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", Error::TransferEncoding("chunked, chunked".into())),
            (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", Error::Upgrade),
        ] {
            let mut r = raw;
            assert_eq!(read_head(&mut r), Err(want), "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn broken_chunks_are_errors() {
        let h = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        for (rest, want) in [
            ("3\r\nabc\r\n", Error::BodyBrokeOff),
            ("3\r\nab", Error::BodyBrokeOff),
            ("3\r\nabcX\r\n0\r\n\r\n", Error::BadChunkEnd),
            ("\r\nabc\r\n", Error::BadChunkSize),
            ("x\r\n", Error::BadChunkSize),
            ("-1\r\n", Error::BadChunkSize),
            ("3\nabc\r\n", Error::BadChunkSize),
            ("0\r\nbad trailer\r\n\r\n", Error::BadTrailers),
            ("0\r\nT: 1\r\n", Error::BodyBrokeOff),
        ] {
            let raw = format!("{h}{rest}");
            assert_eq!(body(raw.as_bytes()), Err(want), "{rest:?}");
        }
        let long_ext = format!("{h}1;{}\r\na\r\n0\r\n\r\n", "e".repeat(MAX_CHUNK_LINE));
        assert_eq!(body(long_ext.as_bytes()), Err(Error::ChunkLineTooLong));
        let long_trailer = format!("{h}0\r\nT: {}\r\n\r\n", "t".repeat(MAX_TRAILERS));
        assert_eq!(body(long_trailer.as_bytes()), Err(Error::TrailersTooLong));
    }

    #[test]
    fn bad_heads_are_errors() {
        for (raw, want) in [
            (&b"garbage\r\n\r\n"[..], Error::BadHead("invalid version")),
            (b"HTTP/1.1 200 OK\r\nContent-Le", Error::HeadBrokeOff),
            (
                b"HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n",
                Error::BadHead("invalid field value"),
            ),
            (
                b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
                Error::BadHead("invalid field value"),
            ),
            (b"HTTP/2 200\r\n\r\n", Error::BadHead("invalid version")),
            (
                b"HTTP/1.1 2000 OK\r\n\r\n",
                Error::BadHead("invalid status line"),
            ),
        ] {
            let mut r = raw;
            assert_eq!(
                read_head(&mut r),
                Err(want),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        let many = format!(
            "HTTP/1.1 200 OK\r\n{}\r\n",
            "X: 1\r\n".repeat(MAX_FIELDS + 1)
        );
        assert_eq!(
            read_head(&mut many.as_bytes()),
            Err(Error::BadHead("too many fields"))
        );
        let long = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "x".repeat(MAX_HEAD));
        assert_eq!(read_head(&mut long.as_bytes()), Err(Error::HeadTooLong));
        // Endless 100 Continue answers share one head budget.
        let interim = "HTTP/1.1 100 Continue\r\n\r\n".repeat(MAX_HEAD / 25 + 1);
        assert_eq!(read_head(&mut interim.as_bytes()), Err(Error::HeadTooLong));
    }

    #[test]
    fn a_head_that_arrives_byte_by_byte_leaves_the_body_unread() {
        let raw = b"HTTP/1.1 200 Connection established\r\nVia: p\r\n\r\nTUNNEL";
        let mut r = io::BufReader::with_capacity(1, Drip(raw));
        let head = read_head(&mut r).unwrap();
        assert_eq!((head.status, head.field("via")), (200, Some("p")));
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"TUNNEL");
        // Bare LF line endings, as httparse accepts them.
        let mut r =
            io::BufReader::with_capacity(1, Drip(b"HTTP/1.1 200 OK\nContent-Length: 1\n\nz"));
        let head = read_head(&mut r).unwrap();
        assert_eq!(read_all(r, &head, 10).unwrap(), b"z");
    }

    #[test]
    fn body_errors_keep_their_kind_through_read() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        let mut r = &raw[..];
        let head = read_head(&mut r).unwrap();
        let mut out = Vec::new();
        let e = Body::new(r, &head, 100).read_to_end(&mut out).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(e.to_string(), "body broke off");
        assert_eq!(Error::from(e), Error::BodyBrokeOff);
        let timeout = io::Error::new(io::ErrorKind::TimedOut, "timeout");
        assert_eq!(Error::from(timeout).to_string(), "timeout");
    }
}
