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

/// The node collectors' parsers of /proc text (any bytes, lossily decoded); none may panic.
#[cfg(feature = "node")]
pub fn node_proc(data: &[u8]) {
    use crate::collector::*;
    let text = String::from_utf8_lossy(data);
    let _ = crate::collector::mdadm::parse(&text);
    let _ = crate::collector::os::parse(&text);
    let _ = crate::collector::os::major_minor(&text);
    let _ = arp::parse(&text);
    let _ = conntrack::parse_stat(&text);
    let _ = diskstats::parse(&text);
    let _ = diskstats::parse_udev(&text);
    let _ = entropy::parse_uint(&text);
    let _ = filefd::parse(&text);
    let _ = netstat::parse_pairs(&text);
    let _ = netstat::parse_snmp6(&text);
    let _ = pressure::parse(&text);
    let _ = procstat::parse(&text);
    let _ = schedstat::parse(&text);
    let _ = sockstat::parse(&text);
    let _ = softnet::parse(&text);
    let _ = udp_queues::parse(&text);
    let _ = vmstat::parse(&text);
}

#[cfg(all(test, feature = "node"))]
mod node_proc_tests {
    /// Every /proc fixture, cut at every byte and with every byte replaced by a space, a digit,
    /// a letter or a newline, through every parser: none may panic.
    #[test]
    fn node_proc_survives_truncated_and_mangled_fixtures() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut files = Vec::new();
        let mut dirs = vec![root.join("server/proc"), root.join("node/proc")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    files.push(std::fs::read(&p).unwrap());
                }
            }
        }
        assert!(files.len() > 20);
        for data in files.iter().filter(|d| d.len() < 4096) {
            for cut in 0..data.len() {
                super::node_proc(&data[..cut]);
            }
            for i in (0..data.len()).step_by(7) {
                for b in [b' ', b'9', b'x', b'\n', b':', 0xff] {
                    let mut m = data.clone();
                    m[i] = b;
                    super::node_proc(&m);
                }
            }
        }
    }
}
