//! Records the git revision for `promlet_build_info` when building from a checkout;
//! tarball builds (OpenWrt feeds) fall back to PROMLET_REVISION or "unknown".
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PROMLET_REVISION");
    // In a git worktree `.git` is a file; ask git where HEAD really is, or cargo reruns this
    // script (and rebuilds promlet) on every call because the named file does not exist.
    let head = Command::new("git")
        .args(["rev-parse", "--git-path", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(h) = head {
        println!("cargo:rerun-if-changed={h}");
    }
    let rev = std::env::var("PROMLET_REVISION").ok().or_else(|| {
        let out = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
    });
    println!(
        "cargo:rustc-env=PROMLET_REVISION={}",
        rev.unwrap_or_else(|| "unknown".into())
    );
}
