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

/// The node collectors' parsers of /proc text (any bytes, lossily decoded).
#[cfg(feature = "node")]
pub fn node_proc(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::collector::mdadm::parse(&text);
    let _ = crate::collector::os::parse(&text);
    let _ = crate::collector::os::major_minor(&text);
    let _ = crate::collector::cpu::parse_cpuinfo(&text);
    let _ = crate::collector::cpu::parse_cpu_list(&text);
}

/// The HTTP server's request-head reader: finding the head's end in arbitrary bytes, then the
/// head and body-length checks. A head that passes must have a path starting with `/`.
pub fn http_request_head(data: &[u8]) {
    if let Some(end) = crate::server::find_head_end(data, 0) {
        if let Some(head) = data.get(..end) {
            if let Ok(req) = crate::server::check_request_head(head) {
                assert!(req.path.starts_with('/'));
                let _ = req.query_pairs();
                let _ = req.scrape_timeout();
            }
        }
    }
    let _ = crate::server::check_request_head(data);
}
