//! `selinux`: whether SELinux is on and its modes, as node_exporter 1.5's `selinux_linux.go`
//! reports them, without libselinux: SELinux is enabled when selinuxfs is mounted
//! (`/sys/fs/selinux/enforce` exists), the current mode is that file (1 enforcing, 0
//! permissive), the configured mode is `SELINUX=` in `/etc/selinux/config` (1 enforcing,
//! 0 permissive, -1 disabled).
//!
//! Unlike node_exporter (whose go-selinux library always looks at the real /sys and /etc),
//! these paths are under `--path.sysfs` and `--path.rootfs`, like every other collector's.

use std::path::PathBuf;

use super::{Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Selinux {
        enforce: paths.sys("fs/selinux/enforce"),
        config: paths.rootfs.join("etc/selinux/config"),
    }))
}

struct Selinux {
    enforce: PathBuf,
    config: PathBuf,
}

/// The mode named by `SELINUX=` in a selinux config file; -1 (disabled) when absent or unknown,
/// as go-selinux's DefaultEnforceMode.
pub fn config_mode(text: &str) -> i32 {
    for line in text.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("SELINUX=") {
            return match v.trim().trim_matches('"') {
                "enforcing" => 1,
                "permissive" => 0,
                _ => -1,
            };
        }
    }
    -1
}

impl Collector for Selinux {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let current = match super::read(&self.enforce) {
            Ok(t) => Some(match t.trim() {
                "1" => 1,
                "0" => 0,
                _ => -1,
            }),
            Err(_) => None,
        };
        let help = "SELinux is enabled, 1 is true, 0 is false";
        let Some(current) = current else {
            enc.single("node_selinux_enabled", help, MetricType::Gauge, 0.0);
            return Ok(());
        };
        let config = super::read(&self.config)
            .map(|t| config_mode(&t))
            .unwrap_or(-1);
        enc.single(
            "node_selinux_config_mode",
            "Configured SELinux enforcement mode",
            MetricType::Gauge,
            config as f64,
        );
        enc.single(
            "node_selinux_current_mode",
            "Current SELinux enforcement mode",
            MetricType::Gauge,
            current as f64,
        );
        enc.single("node_selinux_enabled", help, MetricType::Gauge, 1.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_modes() {
        assert_eq!(
            config_mode("# x\nSELINUX=enforcing\nSELINUXTYPE=targeted\n"),
            1
        );
        assert_eq!(config_mode("SELINUX=permissive\n"), 0);
        assert_eq!(config_mode("SELINUX=disabled\n"), -1);
        assert_eq!(config_mode(""), -1);
    }

    #[test]
    fn enabled_only_with_selinuxfs() {
        let root = std::env::temp_dir().join(format!("promlet-selinux-{}", std::process::id()));
        let paths = Paths {
            procfs: "/nonexistent".into(),
            sysfs: root.join("sys"),
            rootfs: root.join("root"),
        };
        let flags = Flags::parse("t", vec![], Vec::<String>::new()).unwrap();
        let c = new(&paths, &flags).unwrap();
        let run = || {
            let mut enc = Encoder::new();
            c.update(&mut enc).unwrap();
            String::from_utf8(enc.into_bytes()).unwrap()
        };
        let off = run();
        assert!(off.contains("\nnode_selinux_enabled 0\n"), "{off}");
        assert!(!off.contains("mode"), "{off}");
        std::fs::create_dir_all(root.join("sys/fs/selinux")).unwrap();
        std::fs::create_dir_all(root.join("root/etc/selinux")).unwrap();
        std::fs::write(root.join("sys/fs/selinux/enforce"), "0").unwrap();
        std::fs::write(root.join("root/etc/selinux/config"), "SELINUX=enforcing\n").unwrap();
        let on = run();
        assert!(on.contains("\nnode_selinux_enabled 1\n"), "{on}");
        assert!(on.contains("\nnode_selinux_current_mode 0\n"), "{on}");
        assert!(on.contains("\nnode_selinux_config_mode 1\n"), "{on}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
