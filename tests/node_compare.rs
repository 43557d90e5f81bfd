//! Side by side with Debian's node_exporter 1.5 on the same input, with the same flags and only
//! the collectors in [`COLLECTORS`]:
//! - on the server fixture tree (`tests/fixtures/server`: proc, sys, rootfs, udev data, read
//!   through `--path.procfs`, `--path.sysfs`, `--path.rootfs` and `--path.udev.data`) every
//!   `node_*` family must agree: HELP text, TYPE, the set of series (label sets) and each value;
//! - on this machine's own /proc and /sys (plus [`MACHINE_COLLECTORS`]), the same families,
//!   HELP, TYPE and label sets, and the values that do not move between two scrapes.
//!
//! A difference that is intentional is listed in [`INTENTIONAL`] with its reason (and in the
//! README).

#![cfg(feature = "node")]

mod common;
use common::*;
use std::collections::{BTreeMap, BTreeSet};
#[cfg(feature = "node-server")]
use std::path::PathBuf;

/// The collectors compared on the fixture tree (both exporters run exactly these).
const COLLECTORS: &[&str] = &[
    "cpu",
    "stat",
    "meminfo",
    "loadavg",
    "netdev",
    "btrfs",
    "xfs",
    "zfs",
    "nfs",
    "nfsd",
    "infiniband",
    "fibrechannel",
    "ipvs",
    "tapestats",
    "bcache",
    "arp",
    "conntrack",
    "diskstats",
    "entropy",
    "filefd",
    "netstat",
    "pressure",
    "schedstat",
    "sockstat",
    "softnet",
    "udp_queues",
    "vmstat",
    "bonding",
    "cpufreq",
    "dmi",
    "edac",
    "hwmon",
    "mdadm",
    "netclass",
    "nvme",
    "os",
    "powersupplyclass",
    "rapl",
    "selinux",
    "thermal_zone",
];

/// Collectors compared on this machine only: their input is the running system (statfs of
/// the real mounts, the clock, uname), not files a fixture tree can hold.
const MACHINE_COLLECTORS: &[&str] = &["filesystem", "time", "uname", "timex"];

/// Flags both get besides the paths and the collector switches.
const SHARED_FLAGS: &[&str] = &[
    // Debian patches in ^lo$ as the default; upstream excludes nothing.
    "--collector.netdev.device-exclude=^$",
    // node_softirqs_total{vector} too.
    "--collector.stat.softirq",
];

/// Flags both get on the fixture tree only.
#[cfg(feature = "node-server")]
const FIXTURE_FLAGS: &[&str] = &[
    // /proc/net/dev: netlink would read this machine's kernel, not the fixture.
    "--no-collector.netdev.netlink",
];

/// Families (or sample names) that differ on purpose: (name, reason).
const INTENTIONAL: &[(&str, &str)] = &[];

#[cfg(feature = "node-server")]
fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/server")
}

/// One exporter's output: HELP and TYPE per family, value per (sample name, sorted labels).
#[derive(Default)]
struct Exposition {
    help: BTreeMap<String, String>,
    typ: BTreeMap<String, String>,
    samples: BTreeMap<String, BTreeMap<String, f64>>,
}

/// Splits `{a="x",b="y\"z"}` into sorted `a="x"` pieces, honouring escapes in values.
fn labels(s: &str) -> String {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut in_value, mut escaped) = (false, false);
    for c in s.chars() {
        if in_value {
            cur.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_value = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_value = true;
                cur.push(c);
            }
            ',' => out.push(std::mem::take(&mut cur)),
            c if c.is_whitespace() => {}
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.sort();
    out.join(",")
}

fn parse(text: &str) -> Exposition {
    let mut e = Exposition::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            e.help.insert(name.into(), help.into());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, t) = rest.split_once(' ').unwrap_or((rest, ""));
            e.typ.insert(name.into(), t.into());
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = match line.rfind('}') {
            Some(close) => (&line[..=close], line[close + 1..].trim()),
            None => line.split_once(' ').unwrap(),
        };
        let value = value.split(' ').next().unwrap();
        let v: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or(f64::NAN),
        };
        let (name, ls) = match series.split_once('{') {
            Some((n, l)) => (n, labels(l.trim_end_matches('}'))),
            None => (series, String::new()),
        };
        e.samples.entry(name.into()).or_default().insert(ls, v);
    }
    e
}

fn compared(name: &str) -> bool {
    name.starts_with("node_")
        && !name.starts_with("node_scrape_collector_")
        && name != "node_exporter_build_info"
        && !INTENTIONAL.iter().any(|(n, _)| *n == name)
}

#[cfg(feature = "node-server")]
fn args(listen: Option<&str>) -> Vec<String> {
    let f = fixture();
    let mut a = vec![
        format!("--path.procfs={}", f.join("proc").display()),
        format!("--path.sysfs={}", f.join("sys").display()),
        format!("--path.rootfs={}", f.join("rootfs").display()),
        format!("--path.udev.data={}", f.join("udev/data").display()),
    ];
    a.extend(collector_args(COLLECTORS, listen));
    a.extend(FIXTURE_FLAGS.iter().map(|s| s.to_string()));
    a
}

/// The collector switches, the shared flags, and (for node_exporter) its own flags and
/// listen address.
fn collector_args(collectors: &[&str], listen: Option<&str>) -> Vec<String> {
    let mut a = vec!["--collector.disable-defaults".to_string()];
    a.extend(collectors.iter().map(|c| format!("--collector.{c}")));
    a.extend(SHARED_FLAGS.iter().map(|s| s.to_string()));
    if let Some(l) = listen {
        a.push(format!("--web.listen-address={l}"));
    }
    a
}

/// Where the two disagree, one line each (empty when they agree); values are compared for
/// the sample names `values` accepts.
fn differences(
    ours: &Exposition,
    theirs: &Exposition,
    values: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let mut out = Vec::new();
    let names = |e: &Exposition| -> BTreeSet<String> {
        e.samples.keys().filter(|n| compared(n)).cloned().collect()
    };
    let (on, tn) = (names(ours), names(theirs));
    for n in tn.difference(&on) {
        out.push(format!("missing in promlet: {n}"));
    }
    for n in on.difference(&tn) {
        out.push(format!("only in promlet: {n}"));
    }
    let fams = |e: &Exposition| -> BTreeSet<String> {
        e.help.keys().filter(|n| compared(n)).cloned().collect()
    };
    for f in fams(ours).intersection(&fams(theirs)) {
        if ours.help.get(f) != theirs.help.get(f) {
            out.push(format!(
                "HELP of {f}: promlet {:?}, node_exporter {:?}",
                ours.help.get(f),
                theirs.help.get(f)
            ));
        }
        if ours.typ.get(f) != theirs.typ.get(f) {
            out.push(format!(
                "TYPE of {f}: promlet {:?}, node_exporter {:?}",
                ours.typ.get(f),
                theirs.typ.get(f)
            ));
        }
    }
    for n in on.intersection(&tn) {
        let (o, t) = (&ours.samples[n], &theirs.samples[n]);
        for l in t.keys().filter(|l| !o.contains_key(*l)) {
            out.push(format!("missing in promlet: {n}{{{l}}}"));
        }
        for l in o.keys().filter(|l| !t.contains_key(*l)) {
            out.push(format!("only in promlet: {n}{{{l}}}"));
        }
        if !values(n) {
            continue;
        }
        for (l, ov) in o {
            let Some(tv) = t.get(l) else { continue };
            let same = ov == tv
                || (ov.is_nan() && tv.is_nan())
                || (ov - tv).abs() <= 1e-9 * ov.abs().max(tv.abs());
            if !same {
                out.push(format!("{n}{{{l}}}: promlet {ov}, node_exporter {tv}"));
            }
        }
    }
    out
}

#[cfg(feature = "node-server")]
#[test]
fn same_as_node_exporter_on_the_server_fixture() {
    let ne = require_tool("prometheus-node-exporter", "prometheus-node-exporter");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let ne = spawn_listening(&ne, &args(Some(&addr.to_string())), addr, "node_exporter");
    let ours_args = args(None);
    let mut ours_args: Vec<&str> = ours_args.iter().map(String::as_str).collect();
    ours_args.push("--web.disable-exporter-metrics");
    let p = promlet(&ours_args);

    let theirs_text = body_text(&http_get(ne.addr, "/metrics"));
    let ours_text = http_get(p.addr, "/metrics").text();
    promtool_check_metrics(&ours_text);
    let (ours, theirs) = (parse(&ours_text), parse(&theirs_text));
    // Every compared collector ran and succeeded in both.
    for c in COLLECTORS {
        let key = format!("collector=\"{c}\"");
        for (who, e) in [("promlet", &ours), ("node_exporter", &theirs)] {
            let ok = e
                .samples
                .get("node_scrape_collector_success")
                .and_then(|m| m.get(&key));
            assert_eq!(ok, Some(&1.0), "{who}: collector {c} did not succeed");
        }
    }
    let diffs = differences(&ours, &theirs, &|_| true);
    assert!(
        diffs.is_empty(),
        "promlet and node_exporter 1.5 differ on {}:\n{}",
        fixture().display(),
        diffs.join("\n")
    );
    assert!(
        ours.samples.keys().filter(|n| compared(n)).count() > 30,
        "too few families compared"
    );
}

/// Values that stay put between two scrapes a moment apart, compared on this machine; every
/// other family is compared by HELP, TYPE and label sets only.
const STABLE_ON_THIS_MACHINE: &[&str] = &[
    "node_boot_time_seconds",
    "node_filesystem_size_bytes",
    "node_filesystem_files",
    "node_filesystem_readonly",
    "node_memory_MemTotal_bytes",
    "node_memory_SwapTotal_bytes",
    "node_memory_VmallocTotal_bytes",
    "node_memory_HugePages_Total",
    "node_time_zone_offset_seconds",
    "node_uname_info",
    "node_time_clocksource_current_info",
    "node_time_clocksource_available_info",
    "node_filefd_maximum",
    "node_entropy_pool_size_bits",
    "node_nf_conntrack_entries_limit",
    "node_timex_tick_seconds",
    "node_timex_tai_offset_seconds",
];

#[test]
fn same_families_as_node_exporter_on_this_machine() {
    let ne = require_tool("prometheus-node-exporter", "prometheus-node-exporter");
    let all: Vec<&str> = COLLECTORS
        .iter()
        .chain(MACHINE_COLLECTORS)
        .copied()
        .collect();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut theirs_args = collector_args(&all, Some(&addr.to_string()));
    // Debian patches the mount point default; give the upstream one, which promlet has.
    theirs_args.push(
        "--collector.filesystem.mount-points-exclude=^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)".into(),
    );
    let ne = spawn_listening(&ne, &theirs_args, addr, "node_exporter");
    let ours_args = collector_args(&all, None);
    let mut ours_args: Vec<&str> = ours_args.iter().map(String::as_str).collect();
    ours_args.push("--web.disable-exporter-metrics");
    let p = promlet(&ours_args);
    let theirs = parse(&body_text(&http_get(ne.addr, "/metrics")));
    let ours_text = http_get(p.addr, "/metrics").text();
    promtool_check_metrics(&ours_text);
    let mut ours = parse(&ours_text);
    // A mount statfs fails on (permission denied, stale NFS) is reported differently by
    // design: node_exporter 1.5 gives it only device_error, promlet (as 1.8+) also readonly
    // and the error text as a label. Compare mounts without that label.
    let mut theirs = theirs;
    for e in [&mut ours, &mut theirs] {
        for (name, series) in e.samples.iter_mut() {
            if name.starts_with("node_filesystem_") {
                *series = series
                    .iter()
                    .map(|(l, v)| {
                        let l: Vec<&str> = l
                            .split(',')
                            .filter(|p| !p.starts_with("device_error="))
                            .collect();
                        (l.join(","), *v)
                    })
                    .collect();
            }
        }
    }
    let failing: BTreeSet<String> = ["node_filesystem_device_error"]
        .iter()
        .flat_map(|f| {
            [&ours, &theirs].into_iter().flat_map(move |e| {
                e.samples
                    .get(*f)
                    .into_iter()
                    .flatten()
                    .filter(|(_, v)| **v != 0.0)
                    .map(|(k, _)| k.clone())
            })
        })
        .collect();
    for e in [&mut ours, &mut theirs] {
        for series in e.samples.values_mut() {
            series.retain(|l, _| !failing.contains(l));
        }
    }
    let diffs = differences(&ours, &theirs, &|n| STABLE_ON_THIS_MACHINE.contains(&n));
    // Both read link counters over netlink (node_exporter's default): they move between the
    // two scrapes (which cross lo themselves), so close, and promlet's (read second) not behind.
    assert!(ours
        .samples
        .contains_key("node_network_receive_nohandler_total"));
    for (name, series) in ours
        .samples
        .iter()
        .filter(|(n, _)| n.starts_with("node_network_"))
    {
        let Some(t) = theirs.samples.get(name) else {
            continue;
        };
        for (labels, ov) in series {
            let Some(tv) = t.get(labels) else { continue };
            if name.ends_with("_total") {
                assert!(
                    *ov >= *tv && *ov - *tv <= 2e6_f64.max(*tv * 0.01),
                    "{name}{{{labels}}}: promlet {ov}, node_exporter {tv}"
                );
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "promlet and node_exporter 1.5 differ on this machine:\n{}",
        diffs.join("\n")
    );
    assert!(
        ours.samples.keys().filter(|n| compared(n)).count() > 40,
        "too few families compared"
    );
}

/// The comparison itself must catch a difference.
#[test]
fn comparison_sees_a_changed_value_help_and_label() {
    let a = parse("# HELP node_x X.\n# TYPE node_x gauge\nnode_x{a=\"1\",b=\"q\\\",r\"} 1\n");
    let b = parse(
        "# HELP node_x Y.\n# TYPE node_x counter\nnode_x{b=\"q\\\",r\",a=\"1\"} 2\nnode_y 1\n",
    );
    let d = differences(&a, &b, &|_| true);
    assert_eq!(d.len(), 4, "{d:?}");
    assert_eq!(differences(&a, &b, &|_| false).len(), 3);
}

/// The body as text, with `Transfer-Encoding: chunked` undone (node_exporter's Go server
/// chunks large bodies; `common::parse_response` only knows Content-Length).
fn body_text(r: &HttpResponse) -> String {
    let chunked = r
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if !chunked {
        return r.text();
    }
    let mut out = Vec::new();
    let mut rest = &r.body[..];
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_hex = std::str::from_utf8(&rest[..eol]).unwrap();
        let size = usize::from_str_radix(size_hex.split(';').next().unwrap().trim(), 16).unwrap();
        rest = &rest[eol + 2..];
        if size == 0 {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
    String::from_utf8(out).unwrap()
}
