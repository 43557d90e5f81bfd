//! Command-line flags in node_exporter's (kingpin's) spelling: dotted names, `--flag value`
//! and `--flag=value`, boolean `--name` / `--no-name`, repeatable flags, and an environment
//! variable fallback. argh cannot express dotted names, `=` or switches generated at run time
//! from the collector table, so every subcommand parses through this one table-driven parser.

use std::collections::HashMap;
use std::fmt::Write as _;

/// What a flag takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One value; the last occurrence wins.
    Value,
    /// A value that may be given many times; all are kept.
    Repeated,
    /// A boolean: `--name`, `--no-name`, `--name=true|false`.
    Switch,
}

/// One flag in a table.
#[derive(Clone, Debug)]
pub struct Spec {
    pub name: String,
    pub kind: Kind,
    /// Default shown in `--help` and returned when the flag is absent (`"true"`/`"false"` for
    /// switches).
    pub default: Option<String>,
    /// Environment variable read when the flag is absent.
    pub env: Option<&'static str>,
    pub help: String,
    /// A node_exporter flag this build has no use for: accepted, hidden from `--help`, and
    /// reported by [`Flags::ignored`] so the caller can warn once.
    pub ignored: bool,
    /// A deprecated spelling of another flag (node_exporter's hidden aliases): its value goes
    /// to that flag when this build has it.
    pub alias_of: Option<&'static str>,
}

impl Spec {
    pub fn value(name: &str, default: Option<&str>, help: &str) -> Spec {
        Spec {
            name: name.into(),
            kind: Kind::Value,
            default: default.map(Into::into),
            env: None,
            help: help.into(),
            ignored: false,
            alias_of: None,
        }
    }
    pub fn repeated(name: &str, help: &str) -> Spec {
        Spec {
            name: name.into(),
            kind: Kind::Repeated,
            default: None,
            env: None,
            help: help.into(),
            ignored: false,
            alias_of: None,
        }
    }
    pub fn switch(name: &str, default: bool, help: &str) -> Spec {
        Spec {
            name: name.into(),
            kind: Kind::Switch,
            default: Some(if default { "true" } else { "false" }.into()),
            env: None,
            help: help.into(),
            ignored: false,
            alias_of: None,
        }
    }
    #[cfg(feature = "packet-sd")]
    pub fn env(mut self, var: &'static str) -> Spec {
        self.env = Some(var);
        self
    }
}

/// Why parsing stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// `--help` was given: the text to print, exit 0.
    Help(String),
    /// `--version` was given.
    Version,
    /// A usage error: the message to print, exit 2.
    Usage(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Help(h) => f.write_str(h),
            Error::Version => f.write_str("version requested"),
            Error::Usage(m) => f.write_str(m),
        }
    }
}

/// Parsed flags and positional arguments.
#[derive(Debug, Default)]
pub struct Flags {
    specs: Vec<Spec>,
    given: HashMap<String, Vec<String>>,
    positional: Vec<String>,
    /// Ignored flags as given (`--no-collector.wifi`), in order, each once.
    ignored: Vec<String>,
    /// Deprecated aliases used: (alias, the flag it set).
    deprecated: Vec<(String, String)>,
}

impl Flags {
    /// Parses `args` (without the program name and subcommand) against `specs`. `usage` is the
    /// first line of `--help` (e.g. "promlet [<flags>]").
    pub fn parse<I, S>(usage: &str, specs: Vec<Spec>, args: I) -> Result<Flags, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut flags = Flags {
            specs,
            ..Flags::default()
        };
        let mut it = args.into_iter().map(Into::into);
        let mut only_positional = false;
        while let Some(arg) = it.next() {
            if arg == "-h" && !only_positional {
                return Err(Error::Help(flags.help(usage)));
            }
            if only_positional || !arg.starts_with("--") || arg == "-" {
                if arg.starts_with('-') && arg.len() > 1 && !only_positional && arg != "-" {
                    return Err(Error::Usage(format!("unknown short flag {arg:?}")));
                }
                flags.positional.push(arg);
                continue;
            }
            if arg == "--" {
                only_positional = true;
                continue;
            }
            let body = &arg[2..];
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            match name {
                "help" | "help-long" | "help-man" => return Err(Error::Help(flags.help(usage))),
                "version" => return Err(Error::Version),
                _ => {}
            }
            if let Some(spec) = flags.find(name) {
                let (kind, key, ignored) = (spec.kind, spec.name.clone(), spec.ignored);
                let value = match kind {
                    Kind::Switch => match inline.as_deref() {
                        None => "true".to_string(),
                        Some(v @ ("true" | "false")) => v.to_string(),
                        Some(v) => {
                            return Err(Error::Usage(format!(
                                "flag --{name} takes true or false, not {v:?}"
                            )))
                        }
                    },
                    Kind::Value | Kind::Repeated => match inline {
                        Some(v) => v,
                        None => it
                            .next()
                            .ok_or_else(|| Error::Usage(format!("flag --{name} needs a value")))?,
                    },
                };
                if ignored {
                    flags.note_ignored(format!("--{name}"));
                    continue;
                }
                let slot = flags.given.entry(key).or_default();
                if kind != Kind::Repeated {
                    slot.clear();
                }
                slot.push(value);
                continue;
            }
            if let Some(neg) = name.strip_prefix("no-") {
                if let Some(spec) = flags.find(neg).filter(|s| s.kind == Kind::Switch) {
                    if inline.is_some() {
                        return Err(Error::Usage(format!("flag --{name} takes no value")));
                    }
                    let (key, ignored) = (spec.name.clone(), spec.ignored);
                    if ignored {
                        flags.note_ignored(format!("--{name}"));
                    } else {
                        flags.given.insert(key, vec!["false".into()]);
                    }
                    continue;
                }
            }
            return Err(Error::Usage(format!("unknown flag --{name}, try --help")));
        }
        flags.resolve_aliases()?;
        Ok(flags)
    }

    fn note_ignored(&mut self, spelled: String) {
        if !self.ignored.contains(&spelled) {
            self.ignored.push(spelled);
        }
    }

    /// Moves the values of deprecated aliases to the flags they stand for; giving both is an
    /// error, as in node_exporter ("... are mutually exclusive").
    fn resolve_aliases(&mut self) -> Result<(), Error> {
        let aliases: Vec<(String, &'static str)> = self
            .specs
            .iter()
            .filter_map(|s| s.alias_of.map(|t| (s.name.clone(), t)))
            .collect();
        for (alias, target) in aliases {
            let Some(v) = self.given.remove(&alias) else {
                continue;
            };
            if self.given.contains_key(target) {
                return Err(Error::Usage(format!(
                    "--{alias} and --{target} are mutually exclusive"
                )));
            }
            self.given.insert(target.to_string(), v);
            self.deprecated.push((alias, target.to_string()));
        }
        Ok(())
    }

    /// node_exporter flags that were given but mean nothing in this build, as spelled.
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }

    /// Deprecated aliases that were used: (alias, the flag it set).
    pub fn deprecated(&self) -> &[(String, String)] {
        &self.deprecated
    }

    fn find(&self, name: &str) -> Option<&Spec> {
        self.specs.iter().find(|s| s.name == name)
    }

    /// The value of a `Value` flag: last given, else its environment variable, else the default.
    pub fn value(&self, name: &str) -> Option<String> {
        if let Some(v) = self.given.get(name).and_then(|v| v.last()) {
            return Some(v.clone());
        }
        let spec = self.find(name)?;
        if let Some(var) = spec.env {
            if let Ok(v) = std::env::var(var) {
                if !v.is_empty() {
                    return Some(v);
                }
            }
        }
        spec.default.clone()
    }

    /// All values of a `Repeated` flag (or the one value of any other flag).
    pub fn values(&self, name: &str) -> Vec<String> {
        match self.given.get(name) {
            Some(v) => v.clone(),
            None => self.value(name).into_iter().collect(),
        }
    }

    /// A switch's state.
    pub fn switch(&self, name: &str) -> bool {
        self.value(name).as_deref() == Some("true")
    }

    /// True if the flag was given on the command line (not defaulted).
    #[cfg(any(feature = "node", feature = "packet-sd"))]
    pub fn is_given(&self, name: &str) -> bool {
        self.given.contains_key(name)
    }

    pub fn positional(&self) -> &[String] {
        &self.positional
    }

    /// The `--help` text, kingpin-like.
    pub fn help(&self, usage: &str) -> String {
        let mut out = format!("usage: {usage}\n\nFlags:\n");
        let mut rows: Vec<(String, String)> = vec![
            ("-h, --help".into(), "Show this help and exit.".into()),
            ("--version".into(), "Show the version and exit.".into()),
        ];
        for s in self
            .specs
            .iter()
            .filter(|s| !s.ignored && s.alias_of.is_none())
        {
            let left = match s.kind {
                Kind::Switch => format!("--[no-]{}", s.name),
                _ => format!("--{}=<value>", s.name),
            };
            let mut right = s.help.clone();
            if let (Some(d), true) = (&s.default, s.kind != Kind::Switch) {
                let _ = write!(right, " (default: {d:?})");
            }
            if let (Some(d), true) = (&s.default, s.kind == Kind::Switch) {
                let _ = write!(
                    right,
                    " (default: {})",
                    if d == "true" { "on" } else { "off" }
                );
            }
            if let Some(e) = s.env {
                let _ = write!(right, " ($env {e})");
            }
            rows.push((left, right));
        }
        for (l, r) in rows {
            let _ = writeln!(out, "  {l}\n      {r}");
        }
        out
    }
}

/// Parses the flags of command `prog` the way every promlet command does: `--help` and
/// `--version` print and give exit code 0, a usage error prints `<prog>: <message>` and gives 2.
/// `extra_help` is appended to the `--help` text.
pub fn parse_command<I: IntoIterator<Item = String>>(
    prog: &str,
    usage: &str,
    specs: Vec<Spec>,
    args: I,
    extra_help: &str,
) -> Result<Flags, i32> {
    match Flags::parse(usage, specs, args) {
        Ok(f) => Ok(f),
        Err(Error::Help(h)) => {
            print!("{h}{extra_help}");
            Err(0)
        }
        Err(Error::Version) => {
            print!("{}", crate::version_text());
            Err(0)
        }
        Err(Error::Usage(m)) => {
            eprintln!("{prog}: {m}");
            Err(2)
        }
    }
}

/// Every flag node_exporter accepts on Linux: 1.5.0 (Debian's build's `--help`, plus the hidden
/// deprecated aliases that binary accepts) and the flags releases up to 1.10 added
/// (prometheus/node_exporter `collector/*.go` `kingpin.Flag` calls). A trailing `=` marks a flag
/// that takes a value; the others are booleans (`--x`, `--no-x`). An existing unit's ARGS line
/// must not stop promlet, so [`node_exporter_rest`] makes every one of these that promlet does
/// not define an ignored flag.
#[rustfmt::skip]
const NODE_EXPORTER_FLAGS: &[&str] = &[
    // 1.5.0
    "collector.arp.device-include=", "collector.arp.device-exclude=",
    "collector.bcache.priorityStats", "collector.cpu.guest", "collector.cpu.info",
    "collector.cpu.info.flags-include=", "collector.cpu.info.bugs-include=",
    "collector.diskstats.device-exclude=", "collector.diskstats.device-include=",
    "collector.ethtool.device-include=", "collector.ethtool.device-exclude=",
    "collector.ethtool.metrics-include=", "collector.filesystem.mount-points-exclude=",
    "collector.filesystem.fs-types-exclude=", "collector.ipvs.backend-labels=",
    "collector.netclass.ignored-devices=", "collector.netclass.ignore-invalid-speed",
    "collector.netclass.netlink", "collector.netclass_rtnl.with-stats",
    "collector.netdev.device-include=", "collector.netdev.device-exclude=",
    "collector.netdev.address-info", "collector.netdev.enable-detailed-metrics",
    "collector.netdev.netlink", "collector.netstat.fields=", "collector.ntp.server=",
    "collector.ntp.server-port=", "collector.ntp.protocol-version=",
    "collector.ntp.server-is-local", "collector.ntp.ip-ttl=", "collector.ntp.max-distance=",
    "collector.ntp.local-offset-tolerance=", "path.procfs=", "path.sysfs=", "path.rootfs=",
    "path.udev.data=", "collector.perf.cpus=", "collector.perf.tracepoint=",
    "collector.powersupply.ignored-supplies=", "collector.qdisc.fixtures=",
    "collector.qdisk.device-include=", "collector.qdisk.device-exclude=",
    "collector.rapl.enable-zone-label", "collector.runit.servicedir=", "collector.stat.softirq",
    "collector.supervisord.url=", "collector.sysctl.include=", "collector.sysctl.include-info=",
    "collector.systemd.unit-include=", "collector.systemd.unit-exclude=",
    "collector.systemd.enable-task-metrics", "collector.systemd.enable-restarts-metrics",
    "collector.systemd.enable-start-time-metrics", "collector.systemd.private",
    "collector.tapestats.ignored-devices=", "collector.textfile.directory=",
    "collector.vmstat.fields=", "collector.wifi.fixtures=", "web.telemetry-path=",
    "web.disable-exporter-metrics", "web.max-requests=", "collector.disable-defaults",
    "runtime.gomaxprocs=", "web.systemd-socket", "web.listen-address=", "web.config.file=",
    "log.level=", "log.format=",
    // Added after 1.5.0.
    "collector.arp.netlink", "collector.filesystem.mount-points-include=",
    "collector.filesystem.fs-types-include=", "collector.filesystem.mount-timeout=",
    "collector.filesystem.stat-workers=", "collector.hwmon.chip-include=",
    "collector.hwmon.chip-exclude=", "collector.hwmon.sensor-include=",
    "collector.hwmon.sensor-exclude=", "collector.interrupts.name-include=",
    "collector.interrupts.name-exclude=", "collector.interrupts.include-zeros",
    "collector.netdev.label-ifalias", "collector.slabinfo.slabs-include=",
    "collector.slabinfo.slabs-exclude=", "collector.perf.disable-hardware-profilers",
    "collector.perf.hardware-profilers=", "collector.perf.disable-software-profilers",
    "collector.perf.software-profilers=", "collector.perf.disable-cache-profilers",
    "collector.perf.cache-profilers=", "collector.pcidevice.idsfile=",
    "collector.pcidevice.names",
];

/// node_exporter's Linux collectors (1.5.0 and later): each gives `--[no-]collector.<name>`.
#[rustfmt::skip]
const NODE_EXPORTER_COLLECTORS: &[&str] = &[
    "arp", "bcache", "bcachefs", "bonding", "btrfs", "buddyinfo", "cgroups", "conntrack", "cpu",
    "cpu_vulnerabilities", "cpufreq", "diskstats", "dmi", "dmmultipath", "drbd", "drm", "edac",
    "entropy", "ethtool", "fibrechannel", "filefd", "filesystem", "hwmon", "infiniband",
    "interrupts", "ipvs", "kernel_hung", "ksmd", "lnstat", "loadavg", "logind", "mdadm",
    "meminfo", "meminfo_numa", "mountstats", "netclass", "netdev", "netstat", "network_route",
    "nfs", "nfsd", "ntp", "nvme", "os", "pcidevice", "perf", "powersupplyclass", "pressure",
    "processes", "qdisc", "rapl", "runit", "schedstat", "selinux", "slabinfo", "sockstat",
    "softirqs", "softnet", "stat", "supervisord", "swap", "sysctl", "systemd", "tapestats",
    "tcpstat", "textfile", "thermal_zone", "time", "timex", "udp_queues", "uname", "vmstat",
    "watchdog", "wifi", "xfrm", "xfs", "zfs", "zoneinfo",
];

/// True if `name` is one of node_exporter's collectors (for its "disabled collector" answer).
pub fn is_node_exporter_collector(name: &str) -> bool {
    NODE_EXPORTER_COLLECTORS.contains(&name)
}

/// node_exporter's hidden deprecated spellings and the flags they set (1.5.0 warns and maps
/// them; both given is an error).
const NODE_EXPORTER_ALIASES: &[(&str, &str)] = &[
    (
        "collector.filesystem.ignored-mount-points",
        "collector.filesystem.mount-points-exclude",
    ),
    (
        "collector.filesystem.ignored-fs-types",
        "collector.filesystem.fs-types-exclude",
    ),
    (
        "collector.diskstats.ignored-devices",
        "collector.diskstats.device-exclude",
    ),
    (
        "collector.netdev.device-blacklist",
        "collector.netdev.device-exclude",
    ),
    (
        "collector.netdev.device-whitelist",
        "collector.netdev.device-include",
    ),
];

/// Specs for every node_exporter flag `existing` lacks: ignored ones, and deprecated aliases
/// of flags `existing` has. A flag promlet implements is never shadowed: the real spec wins,
/// so a collector flag added to promlet leaves this list by itself.
pub fn node_exporter_rest(existing: &[Spec]) -> Vec<Spec> {
    let has = |n: &str| existing.iter().any(|s| s.name == n);
    let mut out: Vec<Spec> = Vec::new();
    let mut add = |name: String, value: bool, alias_of: Option<&'static str>| {
        if has(&name) || out.iter().any(|s| s.name == name) {
            return;
        }
        let mut s = if value {
            Spec::repeated(&name, "")
        } else {
            Spec::switch(&name, false, "")
        };
        s.ignored = alias_of.is_none();
        s.alias_of = alias_of;
        out.push(s);
    };
    for (alias, target) in NODE_EXPORTER_ALIASES {
        add(alias.to_string(), true, has(target).then_some(*target));
    }
    for f in NODE_EXPORTER_FLAGS {
        match f.strip_suffix('=') {
            Some(n) => add(n.to_string(), true, None),
            None => add(f.to_string(), false, None),
        }
    }
    for c in NODE_EXPORTER_COLLECTORS {
        add(format!("collector.{c}"), false, None);
    }
    out
}

/// Parses a Go/Prometheus-style duration: `30s`, `5m`, `1h30m`, `250ms`, `1.5s`. Every part
/// has a duration flag; a build of optional pieces alone (tls, yaml, gzip) has none.
#[cfg(any(
    feature = "node",
    feature = "hdhomerun",
    feature = "packet-sd",
    feature = "http-sd",
    feature = "proxy",
    feature = "push"
))]
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s == "0" {
        return Some(std::time::Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "us" | "µs" => 1e-6,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * mult;
    }
    if !total.is_finite() || total > 1e12 {
        return None;
    }
    Some(std::time::Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<Spec> {
        let token = Spec::value("packet.authtoken", None, "Token.");
        #[cfg(feature = "packet-sd")]
        let token = token.env("PROMLET_TEST_TOKEN_ENV");
        vec![
            Spec::value("web.listen-address", Some(":9100"), "Listen address."),
            Spec::repeated("collector.textfile.directory", "Textfile dirs."),
            Spec::switch("collector.cpu", true, "Enable the cpu collector."),
            token,
        ]
    }

    #[test]
    fn both_spellings_and_defaults() {
        let f = Flags::parse("t", specs(), ["--web.listen-address=127.0.0.1:1"]).unwrap();
        assert_eq!(f.value("web.listen-address").unwrap(), "127.0.0.1:1");
        let f = Flags::parse("t", specs(), ["--web.listen-address", ":2"]).unwrap();
        assert_eq!(f.value("web.listen-address").unwrap(), ":2");
        let f = Flags::parse("t", specs(), Vec::<String>::new()).unwrap();
        assert_eq!(f.value("web.listen-address").unwrap(), ":9100");
        assert!(f.switch("collector.cpu"));
    }

    #[test]
    fn switches_and_negation() {
        let f = Flags::parse("t", specs(), ["--no-collector.cpu"]).unwrap();
        assert!(!f.switch("collector.cpu"));
        let f = Flags::parse("t", specs(), ["--no-collector.cpu", "--collector.cpu"]).unwrap();
        assert!(f.switch("collector.cpu"));
        let f = Flags::parse("t", specs(), ["--collector.cpu=false"]).unwrap();
        assert!(!f.switch("collector.cpu"));
        assert!(Flags::parse("t", specs(), ["--collector.cpu=maybe"]).is_err());
    }

    #[test]
    fn repeated_and_positional() {
        let f = Flags::parse(
            "t",
            specs(),
            [
                "get",
                "--collector.textfile.directory=/a",
                "--collector.textfile.directory",
                "/b",
                "x",
            ],
        )
        .unwrap();
        assert_eq!(f.values("collector.textfile.directory"), vec!["/a", "/b"]);
        assert_eq!(f.positional(), ["get", "x"]);
    }

    #[test]
    fn errors_are_usage() {
        assert!(matches!(
            Flags::parse("t", specs(), ["--nope"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            Flags::parse("t", specs(), ["--web.listen-address"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            Flags::parse("t", specs(), ["--help"]),
            Err(Error::Help(_))
        ));
        assert!(matches!(
            Flags::parse("t", specs(), ["--version"]),
            Err(Error::Version)
        ));
        let Err(Error::Help(h)) = Flags::parse("t", specs(), ["--help"]) else {
            panic!()
        };
        assert!(h.contains("--web.listen-address=<value>"));
        assert!(h.contains("--[no-]collector.cpu"));
    }

    #[cfg(feature = "packet-sd")]
    #[test]
    fn env_fallback() {
        std::env::set_var("PROMLET_TEST_TOKEN_ENV", "secret");
        let f = Flags::parse("t", specs(), Vec::<String>::new()).unwrap();
        assert_eq!(f.value("packet.authtoken").unwrap(), "secret");
        let f = Flags::parse("t", specs(), ["--packet.authtoken=flag"]).unwrap();
        assert_eq!(f.value("packet.authtoken").unwrap(), "flag");
    }

    fn with_rest(mut v: Vec<Spec>) -> Vec<Spec> {
        let rest = node_exporter_rest(&v);
        v.extend(rest);
        v
    }

    #[test]
    fn node_exporter_flags_this_build_lacks_are_ignored() {
        let args = [
            "--collector.systemd",
            "--no-collector.wifi",
            "--web.systemd-socket",
            "--collector.ntp.server",
            "10.0.0.1",
            "--collector.diskstats.device-exclude=^ram",
            "--no-collector.wifi",
            "--collector.cpu",
        ];
        let f = Flags::parse("t", with_rest(specs()), args).unwrap();
        assert_eq!(
            f.ignored(),
            [
                "--collector.systemd",
                "--no-collector.wifi",
                "--web.systemd-socket",
                "--collector.ntp.server",
                "--collector.diskstats.device-exclude"
            ]
        );
        assert!(
            f.positional().is_empty(),
            "the value 10.0.0.1 was taken by its flag"
        );
        assert!(f.switch("collector.cpu"));
        // Nobody's flags stay errors.
        assert!(matches!(
            Flags::parse("t", with_rest(specs()), ["--collector.nope"]),
            Err(Error::Usage(_))
        ));
        // Hidden from --help.
        let Err(Error::Help(h)) = Flags::parse("t", with_rest(specs()), ["-h"]) else {
            panic!()
        };
        assert!(!h.contains("systemd"), "{h}");
    }

    #[test]
    fn real_flags_win_over_the_table() {
        // A collector flag promlet implements is a real spec, never an ignored one.
        let mut v = specs();
        v.push(Spec::value(
            "collector.netclass.ignored-devices",
            Some("^$"),
            "x",
        ));
        let f = Flags::parse(
            "t",
            with_rest(v),
            ["--collector.netclass.ignored-devices=^lo$"],
        )
        .unwrap();
        assert!(f.ignored().is_empty());
        assert_eq!(
            f.value("collector.netclass.ignored-devices").unwrap(),
            "^lo$"
        );
    }

    #[test]
    fn deprecated_aliases_map_to_their_flag() {
        let mut v = specs();
        v.push(Spec::value(
            "collector.filesystem.mount-points-exclude",
            Some("^/d"),
            "x",
        ));
        let f = Flags::parse(
            "t",
            with_rest(v.clone()),
            ["--collector.filesystem.ignored-mount-points=^/(sys|proc)($|/)"],
        )
        .unwrap();
        assert_eq!(
            f.value("collector.filesystem.mount-points-exclude")
                .unwrap(),
            "^/(sys|proc)($|/)"
        );
        assert_eq!(f.deprecated().len(), 1);
        assert!(f.ignored().is_empty());
        assert!(matches!(
            Flags::parse(
                "t",
                with_rest(v),
                [
                    "--collector.filesystem.ignored-mount-points=a",
                    "--collector.filesystem.mount-points-exclude=b"
                ]
            ),
            Err(Error::Usage(_))
        ));
        // Without the target (a node-less build) the alias is just ignored.
        let f = Flags::parse(
            "t",
            with_rest(specs()),
            ["--collector.filesystem.ignored-mount-points=x"],
        )
        .unwrap();
        assert_eq!(f.ignored(), ["--collector.filesystem.ignored-mount-points"]);
    }

    #[cfg(any(
        feature = "node",
        feature = "hdhomerun",
        feature = "packet-sd",
        feature = "http-sd",
        feature = "proxy",
        feature = "push"
    ))]
    #[test]
    fn durations() {
        use std::time::Duration;
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration(""), None);
    }
}
