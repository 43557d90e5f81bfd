//! Logging to stderr in logfmt (`ts=… level=… msg="…"`), like node_exporter; systemd and
//! procd both capture stderr, so nothing more is needed.

use std::io::Write;

pub fn log(level: &str, msg: std::fmt::Arguments<'_>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let msg = msg
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    let line = format!(
        "ts={}.{:03} level={level} msg=\"{msg}\"\n",
        now.as_secs(),
        now.subsec_millis()
    );
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[macro_export]
macro_rules! info {
    ($($t:tt)*) => { $crate::log::log("info", format_args!($($t)*)) };
}

#[macro_export]
macro_rules! warn {
    ($($t:tt)*) => { $crate::log::log("warn", format_args!($($t)*)) };
}

#[macro_export]
macro_rules! error {
    ($($t:tt)*) => { $crate::log::log("error", format_args!($($t)*)) };
}
