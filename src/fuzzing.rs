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

/// The text exposition format: the 0.0.4 parser (what it accepts is written back by the
/// encoder), the OpenMetrics parser, and the proxy's span decoder, which must give the same
/// families or the same error as the 0.0.4 parser (`expfmt::same_as_parse_text`).
pub fn expfmt_parse(data: &[u8]) {
    use crate::expfmt::{parse, parse_text, write_families, Encoder, Format};
    let text = String::from_utf8_lossy(data);
    if let Ok(families) = parse_text(&text) {
        let mut enc = Encoder::new();
        write_families(&mut enc, &families);
    }
    let _ = parse(&text, Format::OpenMetrics);
    #[cfg(feature = "proxy")]
    if let Err(e) = crate::expfmt::same_as_parse_text(&text) {
        panic!("{e}");
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
    let _ = api::parse_retry_after(&text, now);
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
    let _ = crate::webconfig::tls::subject_cn(&data.to_vec().into());
}

/// The proxy's part of `--config.file`, read and validated as at start.
#[cfg(feature = "proxy")]
pub fn proxy_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let path = std::path::Path::new("promlet.yml");
    let _ = crate::proxy::config::parse(path, &text, &["/metrics"]);
}

/// Every node collector's parser of `/proc`, `/sys` and textfile text, fed the same bytes.
/// One line per parser: a new collector appends its own.
#[cfg(feature = "node")]
pub fn node_proc(data: &[u8]) {
    use crate::collector::*;
    let text = &*String::from_utf8_lossy(data);
    let _ = filesystem::parse_mountinfo(text);
    let _ = filesystem::unescape(text);
    let _ = procstat::parse(text);
    let _ = meminfo::parse(text);
    let _ = netdev::parse(text);
    let _ = loadavg::parse(text);
    textfile_twice(text);
    // time and uname parse nothing: time reads whitespace-separated names, uname a syscall.
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
/// - a count with a leading zero (`x{01}`): literal text in Go, a count in regex-lite.
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
                    .take_while(|c| c.is_ascii_digit() || **c == ',')
                    .collect();
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
