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
}

impl Spec {
    pub fn value(name: &str, default: Option<&str>, help: &str) -> Spec {
        Spec {
            name: name.into(),
            kind: Kind::Value,
            default: default.map(Into::into),
            env: None,
            help: help.into(),
        }
    }
    pub fn repeated(name: &str, help: &str) -> Spec {
        Spec {
            name: name.into(),
            kind: Kind::Repeated,
            default: None,
            env: None,
            help: help.into(),
        }
    }
    pub fn switch(name: &str, default: bool, help: &str) -> Spec {
        Spec {
            name: name.into(),
            kind: Kind::Switch,
            default: Some(if default { "true" } else { "false" }.into()),
            env: None,
            help: help.into(),
        }
    }
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
                "help" => return Err(Error::Help(flags.help(usage))),
                "version" => return Err(Error::Version),
                _ => {}
            }
            if let Some(spec) = flags.find(name) {
                let (kind, key) = (spec.kind, spec.name.clone());
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
                    let key = spec.name.clone();
                    flags.given.insert(key, vec!["false".into()]);
                    continue;
                }
            }
            return Err(Error::Usage(format!("unknown flag --{name}, try --help")));
        }
        Ok(flags)
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
        for s in &self.specs {
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

/// Parses a Go/Prometheus-style duration: `30s`, `5m`, `1h30m`, `250ms`, `1.5s`.
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
        vec![
            Spec::value("web.listen-address", Some(":9100"), "Listen address."),
            Spec::repeated("collector.textfile.directory", "Textfile dirs."),
            Spec::switch("collector.cpu", true, "Enable the cpu collector."),
            Spec::value("packet.authtoken", None, "Token.").env("PROMLET_TEST_TOKEN_ENV"),
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

    #[test]
    fn env_fallback() {
        std::env::set_var("PROMLET_TEST_TOKEN_ENV", "secret");
        let f = Flags::parse("t", specs(), Vec::<String>::new()).unwrap();
        assert_eq!(f.value("packet.authtoken").unwrap(), "secret");
        let f = Flags::parse("t", specs(), ["--packet.authtoken=flag"]).unwrap();
        assert_eq!(f.value("packet.authtoken").unwrap(), "flag");
    }

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
