//! promlet: a tiny, static Prometheus agent (the library behind the `promlet` binary).
//!
//! `promlet [flags]` serves `/metrics` (node collectors) and every enabled part; the
//! subcommands are tools of single parts (`promlet hdhomerun ...`, `promlet packet-sd ...`,
//! `promlet check DIR`). Each part is a cargo feature and a folder under `src/`.

#[macro_use]
mod log;
mod agent;
mod atomic64;
mod children;
#[cfg(any(feature = "proxy", feature = "tls", feature = "push"))]
mod config;
#[cfg(any(feature = "gzip", feature = "hdhomerun", feature = "push"))]
mod crc32;
mod expfmt;
mod flags;
mod httpd;
mod part;
mod self_metrics;
mod spare;
mod webconfig;

// ---- parts ----
#[cfg(feature = "node")]
mod collector;
#[cfg(feature = "hdhomerun")]
mod hdhomerun;
#[cfg(any(feature = "proxy", feature = "packet-sd", feature = "push"))]
mod httpc;
#[cfg(feature = "node")]
pub(crate) mod netlink;
#[cfg(feature = "proxy")]
mod proxy;
#[cfg(feature = "push")]
mod push;
#[cfg(any(feature = "packet-sd", feature = "http-sd"))]
mod sd;

// ---- optional pieces ----
#[cfg(feature = "gzip")]
mod gzip;
#[cfg(feature = "tls")]
mod tls;

/// The features this binary was built with, for `promlet_build_info` and `--version`.
pub fn features() -> String {
    let all: [(&str, bool); 10] = [
        ("node", cfg!(feature = "node")),
        ("router", cfg!(feature = "router")),
        ("hdhomerun", cfg!(feature = "hdhomerun")),
        ("packet-sd", cfg!(feature = "packet-sd")),
        ("http-sd", cfg!(feature = "http-sd")),
        ("proxy", cfg!(feature = "proxy")),
        ("push", cfg!(feature = "push")),
        ("tls", cfg!(feature = "tls")),
        ("yaml", cfg!(feature = "yaml")),
        ("gzip", cfg!(feature = "gzip")),
    ];
    all.iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

#[doc(hidden)]
pub mod fuzzing;

/// The whole program: `promlet ARGS...` (without the program name); returns the exit code.
pub fn run(args: &[String]) -> i32 {
    match args.first().map(String::as_str) {
        #[cfg(feature = "hdhomerun")]
        Some("hdhomerun") => hdhomerun::cli::main(&args[1..]),
        #[cfg(feature = "packet-sd")]
        Some("packet-sd") => sd::packet::cli_main(&args[1..]),
        #[cfg(feature = "http-sd")]
        Some("check") => sd::http::check_main(&args[1..]),
        _ => agent::main(args),
    }
}

/// `promlet, version 0.1.0 (revision: abc)` plus the build's features.
pub fn version_text() -> String {
    format!(
        "promlet, version {} (revision: {})\n  features: {}\n  target: {}-{}\n",
        env!("CARGO_PKG_VERSION"),
        env!("PROMLET_REVISION"),
        features(),
        std::env::consts::ARCH,
        std::env::consts::OS,
    )
}
