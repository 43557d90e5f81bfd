//! Logging to stderr the way node_exporter does (`--log.level`, `--log.format`): logfmt
//! (`ts=2026-12-01T07:00:00.123Z level=info msg="…"`) or JSON (`{"level":…,"msg":…,"ts":…}`,
//! go-kit's key order), RFC 3339 UTC timestamps with milliseconds. systemd and procd both
//! capture stderr, so nothing more is needed.
//!
//! [`StateLog`] keeps a router's small `logread` buffer useful: it logs a failing upstream or
//! device when it goes down and when it comes back, not on every scrape. (What child processes
//! print is logged, rate-limited, by the child runner, `children.rs`.)

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
#[cfg(any(feature = "hdhomerun", feature = "proxy"))]
use std::sync::Mutex;
#[cfg(any(feature = "hdhomerun", feature = "proxy"))]
use std::time::Instant;
use std::time::{SystemTime, UNIX_EPOCH};

/// Severity, in node_exporter's spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

static MIN_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static JSON: AtomicBool = AtomicBool::new(false);

/// Applies `--log.level` and `--log.format`; an unknown value is an error naming the choices.
pub fn init(level: &str, format: &str) -> Result<(), String> {
    let l = match level {
        "debug" => Level::Debug,
        "info" => Level::Info,
        "warn" => Level::Warn,
        "error" => Level::Error,
        _ => {
            return Err(format!(
                "--log.level must be one of debug, info, warn, error, not {level:?}"
            ))
        }
    };
    let json = match format {
        "logfmt" => false,
        "json" => true,
        _ => {
            return Err(format!(
                "--log.format must be logfmt or json, not {format:?}"
            ))
        }
    };
    MIN_LEVEL.store(l as u8, Ordering::Relaxed);
    JSON.store(json, Ordering::Relaxed);
    Ok(())
}

/// True if a message at `level` would be written.
pub fn enabled(level: Level) -> bool {
    level as u8 >= MIN_LEVEL.load(Ordering::Relaxed)
}

pub fn log(level: Level, msg: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let line = format_line(
        level,
        &msg.to_string(),
        SystemTime::now(),
        JSON.load(Ordering::Relaxed),
    );
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

fn format_line(level: Level, msg: &str, now: SystemTime, json: bool) -> String {
    let ts = rfc3339_millis(now);
    if json {
        format!(
            "{{\"level\":\"{}\",\"msg\":\"{}\",\"ts\":\"{ts}\"}}\n",
            level.name(),
            json_escape(msg)
        )
    } else {
        let msg = msg
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        format!("ts={ts} level={} msg=\"{msg}\"\n", level.name())
    }
}

fn json_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o
}

/// `2026-12-01T07:00:00.123Z`: UTC, milliseconds, as Go's `time.RFC3339Nano` trimmed to ms
/// (what go-kit's `log.DefaultTimestampUTC` writes, at node_exporter's precision).
pub fn rfc3339_millis(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86400, secs % 86400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(any(feature = "hdhomerun", feature = "proxy"))]
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(any(feature = "hdhomerun", feature = "proxy"))]
/// Remembers which keys (upstreams, devices) are failing, so that a failure is logged when
/// it starts and a recovery when it ends, instead of one line per scrape. Repeats go to the
/// debug level. Only failing keys are kept (a key that works costs nothing), at most
/// [`StateLog::MAX_KEYS`]; past that a failure is logged every time rather than forgotten.
pub struct StateLog {
    what: &'static str,
    /// (key, since, failures).
    down: Mutex<Vec<(String, Instant, u64)>>,
}

#[cfg(any(feature = "hdhomerun", feature = "proxy"))]
impl StateLog {
    pub const MAX_KEYS: usize = 256;

    pub const fn new(what: &'static str) -> StateLog {
        StateLog {
            what,
            down: Mutex::new(Vec::new()),
        }
    }

    /// `key` failed with `reason`; true if this was logged as a change of state.
    pub fn failed(&self, key: &str, reason: &str) -> bool {
        let mut down = lock(&self.down);
        if let Some(e) = down.iter_mut().find(|e| e.0 == key) {
            e.2 = e.2.saturating_add(1);
            drop(down);
            log(
                Level::Debug,
                format_args!("{} {key} still failing: {reason}", self.what),
            );
            return false;
        }
        if down.len() < Self::MAX_KEYS {
            down.push((key.to_string(), Instant::now(), 1));
        }
        drop(down);
        log(
            Level::Warn,
            format_args!("{} {key} is down: {reason}", self.what),
        );
        true
    }

    /// `key` worked; true if it had been failing (and its recovery was logged).
    pub fn ok(&self, key: &str) -> bool {
        let mut down = lock(&self.down);
        let Some(i) = down.iter().position(|e| e.0 == key) else {
            return false;
        };
        let (_, since, n) = down.swap_remove(i);
        drop(down);
        log(
            Level::Info,
            format_args!(
                "{} {key} is up again after {n} failure{} in {:.0}s",
                self.what,
                if n == 1 { "" } else { "s" },
                since.elapsed().as_secs_f64()
            ),
        );
        true
    }
}

#[macro_export]
macro_rules! debug {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Debug, format_args!($($t)*)) };
}

#[macro_export]
macro_rules! info {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Info, format_args!($($t)*)) };
}

#[macro_export]
macro_rules! warn {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Warn, format_args!($($t)*)) };
}

#[macro_export]
macro_rules! error {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Error, format_args!($($t)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc_millis() {
        let t = UNIX_EPOCH + Duration::from_millis(1_796_108_400_123);
        assert_eq!(rfc3339_millis(t), "2026-12-01T07:00:00.123Z");
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // A leap day and the last second of a year.
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339_millis(t), "2000-02-29T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_735_689_599);
        assert_eq!(rfc3339_millis(t), "2024-12-31T23:59:59.000Z");
    }

    #[test]
    fn logfmt_and_json_lines() {
        let t = UNIX_EPOCH + Duration::from_millis(1_796_108_400_123);
        assert_eq!(
            format_line(Level::Warn, "a \"b\"\nc", t, false),
            "ts=2026-12-01T07:00:00.123Z level=warn msg=\"a \\\"b\\\"\\nc\"\n"
        );
        let j = format_line(Level::Error, "x \"y\"\t\u{1}", t, true);
        assert_eq!(
            j,
            "{\"level\":\"error\",\"msg\":\"x \\\"y\\\"\\t\\u0001\",\"ts\":\"2026-12-01T07:00:00.123Z\"}\n"
        );
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["msg"], "x \"y\"\t\u{1}");
    }

    #[test]
    fn init_refuses_unknown_values() {
        assert!(init("verbose", "logfmt").is_err());
        assert!(init("info", "text").is_err());
        assert!(init("info", "logfmt").is_ok());
    }

    #[cfg(any(feature = "hdhomerun", feature = "proxy"))]
    #[test]
    fn state_log_reports_changes_not_repeats() {
        let s = StateLog::new("test upstream");
        assert!(!s.ok("a"), "never failed: nothing to log");
        assert!(s.failed("a", "refused"));
        assert!(!s.failed("a", "refused"));
        assert!(!s.failed("a", "timeout"));
        assert!(s.failed("b", "refused"), "keys are independent");
        assert!(s.ok("a"));
        assert!(!s.ok("a"));
        assert!(s.failed("a", "refused"), "a new outage is a new change");
    }
}
