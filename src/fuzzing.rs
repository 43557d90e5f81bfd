//! Entry points for the fuzz targets under `fuzz/` (`make fuzz`): one function per parser of
//! untrusted bytes, taking arbitrary bytes. None may panic. Not part of promlet's interface.

/// The HDHomeRun frame decoder and the status parsers; a frame that decodes must encode back to
/// the same frame.
#[cfg(feature = "hdhomerun")]
pub fn hdhomerun_decode(data: &[u8]) {
    use crate::hdhomerun::packet;
    use crate::hdhomerun::status;
    if let Ok(p) = packet::Packet::decode(data) {
        // Decoding is canonical unless a length used the two-byte form for a value below 128
        // (legal on the wire, never produced by the encoder).
        if let Ok(again) = p.encode() {
            assert_eq!(packet::Packet::decode(&again).as_ref(), Ok(&p));
        }
        for t in &p.tags {
            let _ = packet::c_string(&t.value);
        }
    }
    if data.len() >= 4 {
        let _ = packet::frame_len(&[data[0], data[1], data[2], data[3]]);
    }
    let text = String::from_utf8_lossy(data);
    let _ = status::parse_debug(&text);
    let _ = status::parse_status(&text);
    let _ = status::parse_streaminfo(&text);
    let _ = status::parse_version(&text);
}

/// The one HTTP/1.1 response decoder (`httpc::response`), as the proxy reads an upstream
/// (whole, gunzipped when the head says gzip) and as Packet SD streams one (any status, the
/// body in small reads). Both must agree on every body they both accept.
#[cfg(any(feature = "proxy", feature = "packet-sd"))]
pub fn http_response(data: &[u8]) {
    use crate::httpc::response;
    use std::io::Read;
    const LIMIT: u64 = 1 << 20;
    let mut r = data;
    let streamed = response::read_head(&mut r).and_then(|head| {
        let mut body = response::Body::new(r, &head, LIMIT);
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => return Err(response::Error::from(e)),
            }
        }
        assert!(out.len() as u64 <= LIMIT);
        Ok((head, out))
    });
    #[cfg(feature = "proxy")]
    {
        let whole = crate::httpc::read_fetched(data, LIMIT as usize);
        if let Ok(f) = &whole {
            assert!(f.body.len() as u64 <= LIMIT);
        }
        if let (Ok((head, body)), Ok(f)) = (&streamed, &whole) {
            if head.field("content-encoding").is_none() {
                assert_eq!(body, &f.body);
            }
        }
    }
    let _ = streamed;
}
