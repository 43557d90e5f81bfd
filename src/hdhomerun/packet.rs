//! The HDHomeRun packet codec (libhdhomerun `hdhomerun_pkt.h`), used on both TCP control
//! (port 65001) and UDP discovery (port 65001). It knows nothing about sockets.
//!
//! A frame is: packet type (u16, big-endian), payload length (u16, big-endian), the payload
//! as a sequence of TLV tags, then the IEEE CRC-32 of everything before it, little-endian.
//! A tag is one byte, its length is one byte when below 128 and otherwise two bytes
//! (`0x80 | len & 0x7f`, then `len >> 7`), then the value. Strings (getset name, value,
//! error) end in a NUL that the length includes; they are cut at the length, never at a
//! NUL found by scanning past it.
//!
//! [`Packet::decode`] checks the frame size against [`MAX_FRAME`] and the CRC before it looks
//! at a single tag, keeps every tag in order (unknown ones included, so discovery can show
//! them), and the typed accessors simply skip the tags they do not know.

use std::fmt;

/// Packet types.
pub const TYPE_DISCOVER_REQ: u16 = 0x0002;
pub const TYPE_DISCOVER_RPY: u16 = 0x0003;
pub const TYPE_GETSET_REQ: u16 = 0x0004;
pub const TYPE_GETSET_RPY: u16 = 0x0005;
#[allow(dead_code)] // the protocol's full table; promlet does not upgrade firmware
pub const TYPE_UPGRADE_REQ: u16 = 0x0006;
#[allow(dead_code)] // the protocol's full table; promlet does not upgrade firmware
pub const TYPE_UPGRADE_RPY: u16 = 0x0007;

/// Tags.
pub const TAG_DEVICE_TYPE: u8 = 0x01;
pub const TAG_DEVICE_ID: u8 = 0x02;
pub const TAG_GETSET_NAME: u8 = 0x03;
pub const TAG_GETSET_VALUE: u8 = 0x04;
pub const TAG_ERROR_MESSAGE: u8 = 0x05;
pub const TAG_TUNER_COUNT: u8 = 0x10;
pub const TAG_GETSET_LOCKKEY: u8 = 0x15;
pub const TAG_LINEUP_URL: u8 = 0x27;
pub const TAG_STORAGE_URL: u8 = 0x28;
#[allow(dead_code)] // the protocol's full table; promlet does not upgrade firmware
pub const TAG_DEVICE_AUTH_BIN: u8 = 0x29;
pub const TAG_BASE_URL: u8 = 0x2A;
pub const TAG_DEVICE_AUTH_STR: u8 = 0x2B;
pub const TAG_STORAGE_ID: u8 = 0x2C;

/// The wildcard device type and device id.
pub const WILDCARD: u32 = 0xFFFF_FFFF;
/// Device type of a tuner.
pub const DEVICE_TYPE_TUNER: u32 = 1;
/// Device type of a storage (DVR) device.
#[allow(dead_code)] // the protocol's full table; promlet does not upgrade firmware
pub const DEVICE_TYPE_STORAGE: u32 = 5;

/// Header (type + length) and CRC sizes.
pub const HEADER_LEN: usize = 4;
pub const CRC_LEN: usize = 4;
/// The largest frame accepted. libhdhomerun sends at most 1460 bytes and receives into about
/// 2 KiB; 4 KiB leaves room for odd firmware without letting a peer make us allocate 64 KiB.
pub const MAX_FRAME: usize = 4096;
/// The largest TLV value the two-byte length form can express.
pub const MAX_VALUE: usize = 0x7FFF;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Fewer bytes than the header (or the header's length) asks for.
    Truncated { need: usize, have: usize },
    /// More bytes than the header's length accounts for.
    TrailingBytes { expected: usize, have: usize },
    /// The header announces a frame larger than [`MAX_FRAME`].
    TooLarge(usize),
    /// The CRC does not match the bytes.
    BadCrc { expected: u32, computed: u32 },
    /// A tag's length runs past the end of the payload.
    TagOverrun { offset: usize },
    /// A value longer than [`MAX_VALUE`] (encoding only).
    ValueTooLong(usize),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated { need, have } => {
                write!(f, "truncated frame: need {need} bytes, have {have}")
            }
            Error::TrailingBytes { expected, have } => write!(
                f,
                "frame length mismatch: header says {expected} bytes, got {have}"
            ),
            Error::TooLarge(n) => write!(f, "frame of {n} bytes exceeds the {MAX_FRAME}-byte cap"),
            Error::BadCrc { expected, computed } => write!(
                f,
                "bad crc: frame says {expected:08x}, bytes give {computed:08x}"
            ),
            Error::TagOverrun { offset } => {
                write!(f, "tag at payload offset {offset} runs past the payload")
            }
            Error::ValueTooLong(n) => write!(f, "tag value of {n} bytes is too long"),
        }
    }
}

impl std::error::Error for Error {}

/// One TLV tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub tag: u8,
    pub value: Vec<u8>,
}

/// A decoded (or to be encoded) packet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Packet {
    pub typ: u16,
    pub tags: Vec<Tag>,
}

impl Packet {
    pub fn new(typ: u16) -> Packet {
        Packet {
            typ,
            tags: Vec::new(),
        }
    }

    /// Appends a raw tag.
    pub fn with(mut self, tag: u8, value: &[u8]) -> Packet {
        self.tags.push(Tag {
            tag,
            value: value.to_vec(),
        });
        self
    }

    /// Appends a string tag with its terminating NUL.
    pub fn with_str(self, tag: u8, s: &str) -> Packet {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.with(tag, &v)
    }

    /// Appends a big-endian u32 tag.
    pub fn with_u32(self, tag: u8, n: u32) -> Packet {
        self.with(tag, &n.to_be_bytes())
    }

    /// A discovery request for any device (what hdhomerun_config 20220303 sends).
    pub fn discover_request() -> Packet {
        Packet::new(TYPE_DISCOVER_REQ)
            .with_u32(TAG_DEVICE_TYPE, WILDCARD)
            .with_u32(TAG_DEVICE_ID, WILDCARD)
    }

    /// A get (`value` None) or set request, with the lock key when a tuner lock is held.
    pub fn getset_request(name: &str, value: Option<&str>, lockkey: Option<u32>) -> Packet {
        let mut p = Packet::new(TYPE_GETSET_REQ).with_str(TAG_GETSET_NAME, name);
        if let Some(v) = value {
            p = p.with_str(TAG_GETSET_VALUE, v);
            if let Some(k) = lockkey {
                p = p.with_u32(TAG_GETSET_LOCKKEY, k);
            }
        }
        p
    }

    /// The first value of `tag`.
    pub fn get(&self, tag: u8) -> Option<&[u8]> {
        self.tags
            .iter()
            .find(|t| t.tag == tag)
            .map(|t| t.value.as_slice())
    }

    /// The first value of `tag` as a string: cut at the first NUL inside the value (the
    /// length is what bounds it), invalid UTF-8 replaced.
    pub fn get_str(&self, tag: u8) -> Option<String> {
        self.get(tag).map(c_string)
    }

    /// The first value of `tag` as a big-endian u32; `None` unless exactly 4 bytes.
    pub fn get_u32(&self, tag: u8) -> Option<u32> {
        let v: [u8; 4] = self.get(tag)?.try_into().ok()?;
        Some(u32::from_be_bytes(v))
    }

    /// The first value of `tag` as a u8; `None` unless exactly 1 byte.
    pub fn get_u8(&self, tag: u8) -> Option<u8> {
        match self.get(tag)? {
            [b] => Some(*b),
            _ => None,
        }
    }

    /// The frame bytes.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let mut out = vec![0u8; HEADER_LEN];
        out[..2].copy_from_slice(&self.typ.to_be_bytes());
        for t in &self.tags {
            let n = t.value.len();
            if n > MAX_VALUE {
                return Err(Error::ValueTooLong(n));
            }
            out.push(t.tag);
            if n < 128 {
                out.push(n as u8);
            } else {
                out.push(0x80 | (n & 0x7f) as u8);
                out.push((n >> 7) as u8);
            }
            out.extend_from_slice(&t.value);
        }
        let payload = out.len() - HEADER_LEN;
        if out.len() + CRC_LEN > MAX_FRAME {
            return Err(Error::TooLarge(out.len() + CRC_LEN));
        }
        out[2..4].copy_from_slice(&(payload as u16).to_be_bytes());
        let crc = crate::crc32::crc32(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Decodes exactly one whole frame.
    pub fn decode(frame: &[u8]) -> Result<Packet, Error> {
        if frame.len() < HEADER_LEN {
            return Err(Error::Truncated {
                need: HEADER_LEN + CRC_LEN,
                have: frame.len(),
            });
        }
        let header: [u8; HEADER_LEN] = [frame[0], frame[1], frame[2], frame[3]];
        let total = frame_len(&header)?;
        if frame.len() < total {
            return Err(Error::Truncated {
                need: total,
                have: frame.len(),
            });
        }
        if frame.len() > total {
            return Err(Error::TrailingBytes {
                expected: total,
                have: frame.len(),
            });
        }
        let body = &frame[..total - CRC_LEN];
        let expected = u32::from_le_bytes([
            frame[total - 4],
            frame[total - 3],
            frame[total - 2],
            frame[total - 1],
        ]);
        let computed = crate::crc32::crc32(body);
        if expected != computed {
            return Err(Error::BadCrc { expected, computed });
        }
        let typ = u16::from_be_bytes([frame[0], frame[1]]);
        let payload = &body[HEADER_LEN..];
        let mut tags = Vec::new();
        let mut i = 0;
        while i < payload.len() {
            let start = i;
            let tag = payload[i];
            let b0 = *payload
                .get(i + 1)
                .ok_or(Error::TagOverrun { offset: start })? as usize;
            i += 2;
            let len = if b0 & 0x80 != 0 {
                let b1 = *payload.get(i).ok_or(Error::TagOverrun { offset: start })? as usize;
                i += 1;
                (b0 & 0x7f) | (b1 << 7)
            } else {
                b0
            };
            let value = payload
                .get(i..i + len)
                .ok_or(Error::TagOverrun { offset: start })?;
            tags.push(Tag {
                tag,
                value: value.to_vec(),
            });
            i += len;
        }
        Ok(Packet { typ, tags })
    }
}

/// The whole frame's length (header + payload + CRC) from its 4-byte header, checked
/// against [`MAX_FRAME`] so a reader knows how much more to read before allocating.
pub fn frame_len(header: &[u8; HEADER_LEN]) -> Result<usize, Error> {
    let payload = u16::from_be_bytes([header[2], header[3]]) as usize;
    let total = HEADER_LEN + payload + CRC_LEN;
    if total > MAX_FRAME {
        return Err(Error::TooLarge(total));
    }
    Ok(total)
}

/// A C string value: up to the first NUL within the bytes.
pub fn c_string(v: &[u8]) -> String {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Encodes `p`, compares with `want` byte for byte, and decodes `want` back to `p`.
    fn round_trip(p: &Packet, want: &str) {
        let want = hex(want);
        assert_eq!(p.encode().unwrap(), want, "encode {p:?}");
        assert_eq!(&Packet::decode(&want).unwrap(), p, "decode");
    }

    #[test]
    fn empty_packet_crc_vector_mdlayher() {
        // mdlayher/hdhomerun packet_test.go: type 0, no payload.
        round_trip(&Packet::new(0), "0000 0000 1cdf4421");
    }

    #[test]
    fn one_tag_crc_vector_mdlayher() {
        // mdlayher/hdhomerun packet_test.go: type 1 with tag 2 = ff.
        round_trip(
            &Packet::new(1).with(2, &[0xff]),
            "0001 0003 0201ff 97a91873",
        );
    }

    #[test]
    fn discover_request_captured_from_hdhomerun_config_20220303() {
        round_trip(
            &Packet::discover_request(),
            "0002 000c 0104ffffffff 0204ffffffff 73cc7d8f",
        );
    }

    #[test]
    fn discover_reply() {
        let p = Packet::new(TYPE_DISCOVER_RPY)
            .with_u32(TAG_DEVICE_TYPE, DEVICE_TYPE_TUNER)
            .with_u32(TAG_DEVICE_ID, 0x1040_A3E7)
            .with(TAG_TUNER_COUNT, &[2]);
        round_trip(&p, "0003 000f 010400000001 02041040a3e7 100102 fe93d7a4");
        assert_eq!(p.get_u32(TAG_DEVICE_ID), Some(0x1040_A3E7));
        assert_eq!(p.get_u8(TAG_TUNER_COUNT), Some(2));
    }

    #[test]
    fn getset_get_request_captured_from_hdhomerun_config_20220303() {
        round_trip(
            &Packet::getset_request("/tuner0/debug", None, None),
            "0004 0010 030e 2f74756e6572302f646562756700 3ed11c14",
        );
    }

    #[test]
    fn getset_set_request_with_lockkey() {
        let p =
            Packet::getset_request("/tuner1/channel", Some("8vsb:183000000"), Some(0x1234_5678));
        round_trip(
            &p,
            "0004 0029 0310 2f74756e6572312f6368616e6e656c00 040f 387673623a31383330303030303000 \
             150412345678 25dcb82f",
        );
    }

    #[test]
    fn getset_error_reply_captured_from_fake_for_hdhomerun_config() {
        let p = Packet::new(TYPE_GETSET_RPY)
            .with_str(TAG_GETSET_NAME, "/tuner2/debug")
            .with_str(TAG_ERROR_MESSAGE, "ERROR: unknown getset variable");
        round_trip(
            &p,
            "0005 0031 030e 2f74756e6572322f646562756700 051f 4552524f523a20756e6b6e6f776e20676574736574207661726961626c6500 4c2463ed",
        );
        assert_eq!(
            p.get_str(TAG_ERROR_MESSAGE).unwrap(),
            "ERROR: unknown getset variable"
        );
    }

    #[test]
    fn getset_value_reply() {
        round_trip(
            &Packet::new(TYPE_GETSET_RPY)
                .with_str(TAG_GETSET_NAME, "/sys/model")
                .with_str(TAG_GETSET_VALUE, "hdhomerun4_atsc"),
            "0005 001f 030b 2f7379732f6d6f64656c00 0410 6864686f6d6572756e345f6174736300 aa54a687",
        );
    }

    #[test]
    fn upgrade_request_and_reply() {
        round_trip(
            &Packet::new(TYPE_UPGRADE_REQ).with(0x03, &[0, 0, 0, 0]),
            "0006 0006 030400000000 a8f05480",
        );
        round_trip(&Packet::new(TYPE_UPGRADE_RPY), "0007 0000 99c90b24");
    }

    #[test]
    fn two_byte_lengths() {
        // 167 is `a7 01` (seen live in a /tuner0/debug reply); 255 is `ff 01`; 128 switches.
        for (n, len) in [
            (127usize, "7f"),
            (128, "8001"),
            (167, "a701"),
            (255, "ff01"),
        ] {
            let p = Packet::new(TYPE_GETSET_RPY).with(TAG_GETSET_VALUE, &vec![b'x'; n]);
            let bytes = p.encode().unwrap();
            assert_eq!(bytes[4], TAG_GETSET_VALUE);
            assert_eq!(&bytes[5..5 + len.len() / 2], hex(len).as_slice(), "{n}");
            assert_eq!(Packet::decode(&bytes).unwrap(), p);
        }
    }

    #[test]
    fn unknown_tags_are_kept_and_skipped_by_accessors() {
        let p = Packet::new(TYPE_GETSET_RPY)
            .with(0x7e, b"future")
            .with_str(TAG_GETSET_VALUE, "v");
        let back = Packet::decode(&p.encode().unwrap()).unwrap();
        assert_eq!(back.get_str(TAG_GETSET_VALUE).unwrap(), "v");
        assert_eq!(back.tags.len(), 2);
    }

    #[test]
    fn strings_end_at_the_length_not_a_missing_nul() {
        let p = Packet::new(TYPE_GETSET_RPY)
            .with(TAG_GETSET_VALUE, b"abc")
            .with(TAG_GETSET_NAME, b"x\0junk");
        assert_eq!(p.get_str(TAG_GETSET_VALUE).unwrap(), "abc");
        assert_eq!(p.get_str(TAG_GETSET_NAME).unwrap(), "x");
    }

    #[test]
    fn rejects_bad_crc_before_reading_tags() {
        let mut b = Packet::discover_request().encode().unwrap();
        let n = b.len();
        b[n - 1] ^= 1;
        assert!(matches!(Packet::decode(&b), Err(Error::BadCrc { .. })));
        // A flipped payload byte is caught the same way.
        let mut b = Packet::discover_request().encode().unwrap();
        b[6] ^= 0x40;
        assert!(matches!(Packet::decode(&b), Err(Error::BadCrc { .. })));
    }

    #[test]
    fn rejects_truncated_and_overlong_frames() {
        let b = Packet::discover_request().encode().unwrap();
        for cut in 0..b.len() {
            assert!(
                matches!(Packet::decode(&b[..cut]), Err(Error::Truncated { .. })),
                "cut at {cut}"
            );
        }
        let mut long = b.clone();
        long.push(0);
        assert!(matches!(
            Packet::decode(&long),
            Err(Error::TrailingBytes { .. })
        ));
    }

    #[test]
    fn rejects_length_field_larger_than_frame_and_cap() {
        // Header claims 0x0100 payload bytes, frame has 12.
        let mut b = Packet::discover_request().encode().unwrap();
        b[2] = 0x01;
        b[3] = 0x00;
        assert!(matches!(
            Packet::decode(&b),
            Err(Error::Truncated { need: 264, .. })
        ));
        assert_eq!(frame_len(&[0, 5, 0xff, 0xff]), Err(Error::TooLarge(65543)));
        assert_eq!(frame_len(&[0, 5, 0x0f, 0xf8]), Ok(MAX_FRAME));
    }

    #[test]
    fn rejects_tag_running_past_payload() {
        // A valid CRC over a payload whose tag claims 9 bytes but has 2.
        let mut body = hex("0005 0004 0409 6162");
        let crc = crate::crc32::crc32(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(Packet::decode(&body), Err(Error::TagOverrun { offset: 0 }));
        // A two-byte length cut after its first byte.
        let mut body = hex("0005 0002 0480");
        let crc = crate::crc32::crc32(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(Packet::decode(&body), Err(Error::TagOverrun { offset: 0 }));
    }

    #[test]
    fn garbage_never_panics() {
        // A cheap deterministic sweep; the fuzz target (fuzz/) does the real search.
        let mut x = 0x1234_5678u32;
        for len in 0..200 {
            let mut b = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                b.push(x as u8);
            }
            let _ = Packet::decode(&b);
        }
    }

    #[test]
    fn refuses_to_encode_oversized() {
        let p = Packet::new(TYPE_GETSET_REQ).with(TAG_GETSET_VALUE, &vec![0; MAX_VALUE + 1]);
        assert_eq!(p.encode(), Err(Error::ValueTooLong(MAX_VALUE + 1)));
        let p = Packet::new(TYPE_GETSET_REQ).with(TAG_GETSET_VALUE, &vec![0; 5000]);
        assert!(matches!(p.encode(), Err(Error::TooLarge(_))));
    }
}
