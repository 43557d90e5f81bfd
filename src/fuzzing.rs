//! Entry points for the fuzz targets under `fuzz/` (`make fuzz`): one function per parser of
//! untrusted bytes, taking arbitrary bytes. None may panic. Not part of promlet's interface.
//!
//! Parsers that read text get the bytes as text with invalid UTF-8 replaced (their callers
//! read files and bodies the same way, or refuse non-UTF-8 before parsing). Where an answer
//! can be checked, it is: two parsers of one format agree, what is written reads back the same.

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

/// The text exposition format: the one tokenizer through the 0.0.4 parser and the OpenMetrics
/// parser. What either accepts is written by the encoder, and that text must parse again to
/// the same families (NaN values compared by being NaN).
pub fn expfmt_parse(data: &[u8]) {
    use crate::expfmt::{parse_openmetrics, parse_text, write_families, Encoder};
    let text = String::from_utf8_lossy(data);
    for parsed in [parse_text(&text), parse_openmetrics(&text)] {
        let Ok(families) = parsed else { continue };
        let mut enc = Encoder::new();
        write_families(&mut enc, &families);
        let written = String::from_utf8_lossy(enc.as_bytes()).into_owned();
        let again = parse_text(&written).unwrap_or_else(|e| panic!("{e}: {written:?}"));
        let mut enc2 = Encoder::new();
        write_families(&mut enc2, &again);
        assert_eq!(enc2.as_bytes(), enc.as_bytes(), "{written:?}");
    }
}

/// http_sd target files as a generator writes them, JSON and YAML. What is accepted is
/// spliced into answers as JSON and must read back as the same groups.
#[cfg(feature = "http-sd")]
pub fn http_sd_targets(data: &[u8]) {
    use crate::sd::http::groups;
    for parsed in [groups::parse_json(data), groups::parse_yaml(data)] {
        let Ok(g) = parsed else { continue };
        let fragment = groups::Fragment::new(&g);
        let back = groups::parse_json(format!("[{}]", fragment.json).as_bytes());
        assert_eq!(back.ok().as_ref(), Some(&g), "{:?}", fragment.json);
        let _ = groups::targets_without_port(&g);
    }
    // The path below /targets of a request, before it touches the filesystem.
    let _ = crate::sd::http::tree::normalize(&String::from_utf8_lossy(data));
}

/// Packet / Equinix Metal API answers: a list page read item by item as projects and as
/// devices, each device mapped to its target group (whose compact form must write what serde
/// writes), and the rate-limit headers.
#[cfg(feature = "packet-sd")]
pub fn packet_page(data: &[u8]) {
    use crate::sd::packet::{api, model};
    use model::{AddressKind, Device, Project, ProjectInfo, Target};
    let mut projects = Vec::new();
    let _ = model::parse_page(data, "projects", |p: Project| {
        projects.push(ProjectInfo::from_project(&p))
    });
    let project = projects.pop().unwrap_or_default();
    let _ = model::parse_page(data, "devices", |d: Device| {
        for kind in [
            AddressKind::PrivateIpv4,
            AddressKind::PublicIpv4,
            AddressKind::PublicIpv6,
        ] {
            let Some(g) = model::device_group(&d, &project, kind, 9100) else {
                continue;
            };
            let t = Target::from_group(&g);
            assert!(t.is_some(), "a device's group does not compact: {g:?}");
            let mut compact = Vec::new();
            if let Some(t) = t {
                let _ = t.write_json(&mut compact);
            }
            assert_eq!(compact, serde_json::to_vec(&g).unwrap_or_default());
        }
    });
    let text = String::from_utf8_lossy(data);
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
    let _ = crate::httpc::parse_retry_after(&text, now);
    let (remaining, reset) = text.split_once('\n').unwrap_or((&text, ""));
    let _ = api::rate_limit_wait(Some(remaining), Some(reset), now);
    let _ = model::id_from_href(&text);
}

/// `--web.config.file` text: read and checked as at start (everything but the TLS files and
/// the bcrypt work); the `Authorization: Basic` decoder; the client certificate subject reader.
#[cfg(any(feature = "tls", feature = "proxy"))]
pub fn web_config(data: &[u8]) {
    use crate::webconfig::imp;
    let text = String::from_utf8_lossy(data);
    let path = std::path::Path::new("web.yml");
    if let Ok(c) = imp::parse(path, &text) {
        let _ = imp::check(path, &text, &c);
    }
    let _ = imp::base64_decode(&text);
    // The subject of a client certificate, read by a DER walk of promlet's own.
    #[cfg(feature = "tls")]
    let _ = crate::tls::subject_cn(&data.to_vec().into());
}

/// The proxy's part of `--config.file`, read and validated as at start.
#[cfg(feature = "proxy")]
pub fn proxy_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let path = std::path::Path::new("promlet.yml");
    let _ = crate::proxy::config::parse(path, &text, &["/metrics"]);
}

/// The node collectors' parsers of /proc and /sys text (lossy: the collectors refuse
/// non-UTF-8 files before parsing).
#[cfg(feature = "node")]
pub fn node_proc(data: &[u8]) {
    use crate::collector::*;
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    #[cfg(feature = "node-server")]
    let _ = xfs::parse(text);
    let _ = nfs::parse(text);
    #[cfg(feature = "node-server")]
    let _ = nfsd::parse(text);
    #[cfg(feature = "node-server")]
    let _ = ipvs::parse_stats(text);
    #[cfg(feature = "node-server")]
    let _ = ipvs::parse_backends(text);
    #[cfg(feature = "node-server")]
    let _ = ipvs::parse_labels(text);
    #[cfg(feature = "node-server")]
    let _ = zfs::parse_kstat(text);
    #[cfg(feature = "node-server")]
    let _ = zfs::parse_pool_io(text);
    #[cfg(feature = "node-server")]
    let _ = bcache::dehumanize(text);
    #[cfg(feature = "node-server")]
    let _ = bcache::parse_writeback(text);
    #[cfg(feature = "node-server")]
    let _ = bcache::parse_priority(text);
    let _ = btrfs::parse_value(text);
    #[cfg(feature = "node-server")]
    let _ = infiniband::parse_state(text);
    #[cfg(feature = "node-server")]
    let _ = infiniband::parse_rate(text);
    #[cfg(feature = "node-server")]
    let _ = infiniband::parse_counter(text);
    #[cfg(feature = "node-server")]
    let _ = fibrechannel::parse_counter(text);
    #[cfg(feature = "node-server")]
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
    let _ = filesystem::parse_mountinfo(text);
    let _ = filesystem::unescape(text);
    let _ = procstat::parse(text);
    let _ = meminfo::parse(text);
    let _ = netdev::parse(text);
    let _ = loadavg::parse(text);
    textfile_twice(text);
    let _ = cpu::parse_cpuinfo(text);
    let _ = cpu::parse_cpu_list(text);
    // nat_traffic, snmp6 and openwrt (feature `router`).
    #[cfg(feature = "router")]
    fuzz_parsers(text);
}

/// The textfile collector's merge of two files with the same text (the second repeats
/// every series of the first, so it must be refused whole).
#[cfg(feature = "node")]
fn textfile_twice(text: &str) {
    use crate::collector::textfile::Merged;
    use crate::expfmt::Encoder;
    let mut enc = Encoder::new();
    let mut merged = Merged::default();
    let first = merged.add_text(text, "a.prom", &enc);
    let second = merged.add_text(text, "b.prom", &enc);
    let has_samples = crate::expfmt::parse_text(text)
        .is_ok_and(|fams| fams.iter().any(|f| !f.samples.is_empty()));
    assert!(
        !(first.is_ok() && has_samples && second.is_ok()),
        "the same series merged twice"
    );
    merged.write(&mut enc);
}

/// A compiled pattern of the reference engine: true if it matches somewhere in the haystack.
pub type Matcher = Box<dyn Fn(&str) -> bool>;

/// A reference regex engine: compiles a pattern (None if it refuses it) into a matcher.
pub type Reference<'a> = &'a dyn Fn(&str) -> Option<Matcher>;

/// `collector/pattern.rs` against a reference engine (regex-lite, given by the fuzz target and
/// the unit test): the input is a pattern and haystacks separated by NUL bytes.
#[cfg(feature = "node")]
pub fn pattern(data: &[u8], reference: Reference) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let re = parts.next().unwrap_or_default();
    let hays: Vec<&str> = parts.collect();
    if let Err(e) = pattern_agrees(re, &hays, reference) {
        panic!("{e}");
    }
}

/// For a pattern that `pattern.rs` accepts, the same match (unanchored search, Go's
/// `MatchString`) as `reference` on every haystack, skipping the constructs where Go's RE2,
/// which `pattern.rs` follows, and regex-lite differ by design. Returns how many haystacks
/// were compared.
#[cfg(feature = "node")]
pub fn pattern_agrees(re: &str, hays: &[&str], reference: Reference) -> Result<usize, String> {
    let Ok(ours) = crate::collector::pattern::Pattern::new(re) else {
        return Ok(0);
    };
    let (skip_pattern, skip_vt) = go_only_constructs(re);
    if skip_pattern {
        return Ok(0);
    }
    let Some(theirs) = reference(re) else {
        // Go reads `{` that starts no valid count as a literal (`a{`, `x{,2}`, `{x}`);
        // regex-lite refuses it. Any other refusal is a pattern Go refuses too.
        if re.contains('{') {
            return Ok(0);
        }
        return Err(format!("{re:?}: accepted here, refused by the reference"));
    };
    let mut compared = 0;
    for hay in hays {
        if skip_vt && hay.contains('\x0b') {
            continue;
        }
        let (a, b) = (ours.is_match(hay), theirs(hay));
        if a != b {
            return Err(format!("{re:?} on {hay:?}: pattern.rs {a}, reference {b}"));
        }
        compared += 1;
    }
    Ok(compared)
}

/// Constructs of `re` that mean one thing in Go's RE2 and another in regex-lite, each a
/// documented difference of the two syntaxes: (skip the pattern, skip haystacks with `\v`).
/// - `\<` `\>`: literal `<` `>` in Go, word-boundary assertions in regex-lite.
/// - `[` inside a class and the class operators `&&` `--` `~~`: literal characters in Go,
///   nested classes and set operations in regex-lite.
/// - a count with a leading zero (`x{01}`) or with white space in it (`x{ 2}`, `x{\n0,}`):
///   literal text in Go, a count in regex-lite (which skips white space inside the braces).
/// - `-` after a class escape in a class (`[\d-z]`): a literal `-` in Go, an invalid range
///   in regex-lite.
/// - `\s` `\S`: Go's `\s` is `[\t\n\f\r ]`, regex-lite's adds `\v` (so only haystacks holding a
///   vertical tab are skipped).
#[cfg(feature = "node")]
fn go_only_constructs(re: &str) -> (bool, bool) {
    let c: Vec<char> = re.chars().collect();
    let (mut i, mut in_class, mut vt) = (0, false, false);
    while i < c.len() {
        match c[i] {
            '\\' => {
                let next = c.get(i + 1).copied();
                match next {
                    Some('<' | '>') => return (true, vt),
                    Some('s' | 'S') => vt = true,
                    _ => {}
                }
                let class_escape = matches!(next, Some('d' | 'D' | 'w' | 'W' | 's' | 'S'));
                if in_class
                    && class_escape
                    && c.get(i + 2) == Some(&'-')
                    && c.get(i + 3).is_some_and(|&n| n != ']')
                {
                    return (true, vt);
                }
                i += 2;
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                i += 1;
                if c.get(i) == Some(&'^') {
                    i += 1;
                }
                // `]` first in a class is a literal in both.
                if c.get(i) == Some(&']') {
                    i += 1;
                }
                continue;
            }
            '[' => return (true, vt),
            ']' if in_class => in_class = false,
            '&' | '-' | '~' if in_class && c.get(i + 1) == Some(&c[i]) => return (true, vt),
            '{' if !in_class => {
                let body: String = c[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit() || **c == ',' || c.is_whitespace())
                    .collect();
                if body.contains(char::is_whitespace) {
                    return (true, vt);
                }
                if body.split(',').any(|n| n.len() > 1 && n.starts_with('0')) {
                    return (true, vt);
                }
            }
            _ => {}
        }
        i += 1;
    }
    (false, vt)
}

/// The HTTP server's request-head reader: finding the head's end in arbitrary bytes, then the
/// head and body-length checks. A head that passes must have a path starting with `/`.
pub fn http_request_head(data: &[u8]) {
    if let Some(end) = crate::httpd::find_head_end(data, 0) {
        if let Some(head) = data.get(..end) {
            if let Ok(req) = crate::httpd::check_request_head(head) {
                assert!(req.path.starts_with('/'));
                let _ = req.query_pairs();
                let _ = req.scrape_timeout();
            }
        }
    }
    let _ = crate::httpd::check_request_head(data);
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

/// Push mode's spool segment reader (files a killed promlet or a bad disk left behind). What
/// it keeps must be exactly the start of the file: encoding the records again gives the same
/// bytes, all of them when nothing was wrong.
#[cfg(feature = "push")]
pub fn push_spool(data: &[u8]) {
    use crate::push::spool::{decode, encode};
    if let Ok(seg) = decode(data) {
        let again = encode(&seg.url, &seg.records);
        match &seg.problem {
            None => assert_eq!(again, data),
            Some(p) => assert!(data.starts_with(&again) && again.len() < data.len(), "{p}"),
        }
    }
}
