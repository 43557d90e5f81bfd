//! `promtool check metrics`, shared by the integration tests (`tests/common`) and the unit
//! tests that check exposition text (`src/proxy/tests.rs` includes this file by path).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Path of a required external tool, or a failure naming the Debian package.
pub fn require_tool(name: &str, package: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain([
        "/usr/sbin",
        "/sbin",
        "/usr/bin",
    ]) {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} not found: install the Debian package {package} (make deps does it)");
}

/// Runs `promtool check metrics` on `text` and returns its output. Exit 0 passes, and so does
/// 3 (lint findings such as a missing HELP, which are style, not validity); 1 (invalid
/// exposition) fails the test, and so does anything else: promtool crashing or killed is no
/// pass.
pub fn promtool_check_metrics(text: &str) -> String {
    let promtool = require_tool("promtool", "prometheus");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        matches!(out.status.code(), Some(0) | Some(3)),
        "promtool check metrics: {}\n{msg}\n--- input ---\n{text}",
        out.status
    );
    msg
}
