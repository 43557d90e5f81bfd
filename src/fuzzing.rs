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

/// The node collectors' parsers of /proc and /sys text (lossy: the collectors refuse
/// non-UTF-8 files before parsing).
#[cfg(feature = "node")]
pub fn node_proc(data: &[u8]) {
    use crate::collector::*;
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    let _ = xfs::parse(text);
    let _ = nfs::parse(text);
    let _ = nfsd::parse(text);
    let _ = ipvs::parse_stats(text);
    let _ = ipvs::parse_backends(text);
    let _ = ipvs::parse_labels(text);
    let _ = zfs::parse_kstat(text);
    let _ = zfs::parse_pool_io(text);
    let _ = bcache::dehumanize(text);
    let _ = bcache::parse_writeback(text);
    let _ = bcache::parse_priority(text);
    let _ = btrfs::parse_value(text);
    let _ = infiniband::parse_state(text);
    let _ = infiniband::parse_rate(text);
    let _ = infiniband::parse_counter(text);
    let _ = fibrechannel::parse_counter(text);
    let _ = tapestats::parse_counter(text);
    let _ = mdadm::parse(text);
    let _ = os::parse(text);
    let _ = os::major_minor(text);
    let _ = arp::parse(text);
    let _ = conntrack::parse_stat(text);
    let _ = diskstats::parse(text);
    let _ = diskstats::parse_udev(text);
    let _ = entropy::parse_uint(text);
    let _ = filefd::parse(text);
    let _ = netstat::parse_pairs(text);
    let _ = netstat::parse_snmp6(text);
    let _ = pressure::parse(text);
    let _ = procstat::parse(text);
    let _ = schedstat::parse(text);
    let _ = sockstat::parse(text);
    let _ = softnet::parse(text);
    let _ = udp_queues::parse(text);
    let _ = vmstat::parse(text);
    let _ = cpu::parse_cpuinfo(text);
    let _ = cpu::parse_cpu_list(text);
    // nat_traffic, snmp6 and openwrt (feature `router`).
    #[cfg(feature = "router")]
    fuzz_parsers(text);
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

/// The netlink message walker, attribute walker and the rtnetlink and nl80211 reply parsers
/// on one datagram, then the dump loop fed that datagram (split in two) by a fake kernel.
#[cfg(feature = "node")]
pub fn netlink(data: &[u8]) {
    use crate::netlink::{self, fake, rtnl};
    for m in netlink::messages(data).flatten() {
        let _ = rtnl::parse_link(&m);
        #[cfg(feature = "router")]
        {
            use crate::netlink::nl80211;
            let _ = nl80211::parse_interface(&m);
            let _ = nl80211::parse_station(&m);
            let _ = nl80211::parse_survey(&m);
            let _ = nl80211::parse_reg(&m);
        }
        for a in netlink::attrs(m.payload).flatten() {
            for _ in netlink::attrs(a.1) {}
        }
    }
    let cut = data.first().map_or(0, |b| *b as usize).min(data.len());
    let (a, b) = (data[..cut].to_vec(), data[cut..].to_vec());
    // The kernel's replies carry the request's sequence number: patch it in where the
    // fuzzer's bytes put a header.
    let mut t = fake::Fake::new(Box::new(move |_, seq| {
        let fix = |mut d: Vec<u8>| {
            if d.len() >= 12 {
                d[8..12].copy_from_slice(&seq.to_ne_bytes());
            }
            Ok(d)
        };
        vec![fix(a.clone()), fix(b.clone())]
    }));
    let _ = rtnl::links(&mut t);
    let _ = netlink::family_id(&mut t, "nl80211");
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

#[cfg(all(test, feature = "node"))]
mod node_proc_tests {
    /// Every regular file of both fixture trees (symlinks not followed: the sysfs tree has
    /// loops, as real sysfs does), cut at every byte up to 600 (the torn reads a collector can
    /// see), and every /proc file also with every seventh byte replaced by a space, a digit, a
    /// letter, a newline, a colon or a non-UTF-8 byte, through every parser: none may panic.
    #[test]
    fn node_proc_survives_truncated_and_mangled_fixtures() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut files = Vec::new();
        let mut dirs = vec![root.join("server"), root.join("node")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                let meta = std::fs::symlink_metadata(&p).unwrap();
                if meta.is_dir() {
                    dirs.push(p);
                } else if meta.is_file() && meta.len() < 4096 {
                    let in_proc = p.components().any(|c| c.as_os_str() == "proc");
                    files.push((in_proc, std::fs::read(&p).unwrap()));
                }
            }
        }
        assert!(files.len() > 100, "{} files", files.len());
        for (in_proc, data) in &files {
            for cut in 0..data.len().min(600) {
                super::node_proc(&data[..cut]);
            }
            if !in_proc {
                continue;
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
