//! `openwrt`: `node_openwrt_info{board_name,id,model,release,revision,system,target} 1`, the
//! series OpenWrt's Lua exporter builds from `ubus call system board`, read here from the
//! files procd itself reads (`system_board` in openwrt/procd's `system.c`; `/etc/openwrt_release`
//! from openwrt/openwrt's `package/base-files/files/etc/openwrt_release` template), under
//! `--path.rootfs` and `--path.procfs`:
//! - `/etc/openwrt_release` (shell `KEY='value'`): id, release, revision, target;
//! - `/tmp/sysinfo/board_name` and `/tmp/sysinfo/model`, else `/etc/board.json`'s
//!   `model.id` and `model.name` (board_detect writes both from the same source);
//! - `/proc/cpuinfo`: system (procd's rule: the first non-numeric `system type`,
//!   `processor`, `cpu` or `model name`; "ARMv8 Processor rev N" on aarch64).
//!
//! On by default where `/etc/openwrt_release` exists (decided at start); elsewhere it does
//! not run unless asked for.

use std::path::{Path, PathBuf};

use super::{read, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

/// `--collector.openwrt` defaults to on where this returns true.
pub fn present(paths: &Paths) -> bool {
    paths.rootfs.join("etc/openwrt_release").is_file()
}

pub fn new(paths: &Paths, _flags: &Flags) -> Result<Box<dyn Collector>, String> {
    let r = &paths.rootfs;
    Ok(Box::new(OpenWrt {
        release: r.join("etc/openwrt_release"),
        board_json: r.join("etc/board.json"),
        board_name: r.join("tmp/sysinfo/board_name"),
        model: r.join("tmp/sysinfo/model"),
        cpuinfo: paths.proc("cpuinfo"),
    }))
}

struct OpenWrt {
    release: PathBuf,
    board_json: PathBuf,
    board_name: PathBuf,
    model: PathBuf,
    cpuinfo: PathBuf,
}

/// The value of `KEY=...` lines of a shell assignment file: `'...'` (with `'\''` for a
/// quote), `"..."` or bare words. Later assignments win, as in the shell.
pub fn parse_release(text: &str) -> Vec<(&str, String)> {
    let mut out: Vec<(&str, String)> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        let v = unquote(v);
        out.retain(|(key, _)| *key != k);
        out.push((k, v));
    }
    out
}

fn unquote(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    out.push(c);
                }
            }
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                out.push(n);
                            }
                        }
                        c => out.push(c),
                    }
                }
            }
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            c if c.is_whitespace() => break,
            c => out.push(c),
        }
    }
    out
}

/// procd's `system` from /proc/cpuinfo.
pub fn cpu_system(cpuinfo: &str) -> String {
    let field = |k: &str| {
        cpuinfo.lines().find_map(|l| {
            let (key, v) = l.split_once(':')?;
            (key.trim() == k).then(|| v.trim().to_string())
        })
    };
    if field("CPU architecture").as_deref() == Some("8") {
        if let Some(rev) = field("CPU revision") {
            return format!("ARMv8 Processor rev {rev}");
        }
    }
    for l in cpuinfo.lines() {
        let Some((key, v)) = l.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if matches!(
            key.trim(),
            "system type" | "processor" | "cpu" | "model name"
        ) && !v.is_empty()
            && !v.starts_with(|c: char| c.is_ascii_digit())
        {
            return v.to_string();
        }
    }
    String::new()
}

/// `model.id` and `model.name` of board.json (either may be missing).
pub fn parse_board_json(text: &str) -> Result<(Option<String>, Option<String>), String> {
    let v = json::parse(text)?;
    let model = v.get("model");
    let s = |k| {
        model
            .and_then(|m| m.get(k))
            .and_then(json::Value::as_str)
            .map(str::to_string)
    };
    Ok((s("id"), s("name")))
}

/// The first line of a file, trimmed; `None` if it is missing or empty.
fn first_line(p: &Path) -> Result<Option<String>, Error> {
    match read(p) {
        Ok(t) => Ok(t
            .lines()
            .next()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())),
        Err(Error::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl Collector for OpenWrt {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let rel_text = read(&self.release)?;
        let rel = parse_release(&rel_text);
        let key = |k: &str| {
            rel.iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let mut board_name = first_line(&self.board_name)?;
        let mut model = first_line(&self.model)?;
        if board_name.is_none() || model.is_none() {
            match read(&self.board_json) {
                Ok(t) => {
                    let (id, name) = parse_board_json(&t).map_err(|msg| Error::Parse {
                        path: self.board_json.clone(),
                        msg,
                    })?;
                    board_name = board_name.or(id);
                    model = model.or(name);
                }
                Err(Error::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let system = match read(&self.cpuinfo) {
            Ok(t) => cpu_system(&t),
            Err(Error::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => {
                String::new()
            }
            Err(e) => return Err(e),
        };
        let (board_name, model) = (board_name.unwrap_or_default(), model.unwrap_or_default());
        let (id, release, revision, target) = (
            key("DISTRIB_ID"),
            key("DISTRIB_RELEASE"),
            key("DISTRIB_REVISION"),
            key("DISTRIB_TARGET"),
        );
        enc.family(
            "node_openwrt_info",
            "OpenWrt board and release (/etc/openwrt_release, board.json, /tmp/sysinfo).",
            MetricType::Gauge,
        )
        .sample(
            &[
                ("board_name", &board_name),
                ("id", &id),
                ("model", &model),
                ("release", &release),
                ("revision", &revision),
                ("system", &system),
                ("target", &target),
            ],
            1.0,
        );
        Ok(())
    }
}

/// Just enough JSON (RFC 8259) to read board.json: values, with a depth and size cap.
mod json {
    pub enum Value {
        Null,
        Bool,
        Num,
        Str(String),
        /// Arrays are checked, not kept: nothing promlet reads is in one.
        Arr,
        Obj(Vec<(String, Value)>),
    }

    impl Value {
        pub fn get(&self, k: &str) -> Option<&Value> {
            match self {
                Value::Obj(m) => m.iter().find(|(key, _)| key == k).map(|(_, v)| v),
                _ => None,
            }
        }
        pub fn as_str(&self) -> Option<&str> {
            match self {
                Value::Str(s) => Some(s),
                _ => None,
            }
        }
    }

    const MAX_DEPTH: usize = 32;
    const MAX_LEN: usize = 1 << 20;

    pub fn parse(text: &str) -> Result<Value, String> {
        if text.len() > MAX_LEN {
            return Err(format!("more than {MAX_LEN} bytes"));
        }
        let mut p = P {
            b: text.as_bytes(),
            i: 0,
        };
        let v = p.value(0)?;
        p.ws();
        if p.i != p.b.len() {
            return Err(format!("trailing bytes at offset {}", p.i));
        }
        Ok(v)
    }

    struct P<'a> {
        b: &'a [u8],
        i: usize,
    }

    impl P<'_> {
        fn ws(&mut self) {
            while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.i += 1;
            }
        }
        fn err<T>(&self, what: &str) -> Result<T, String> {
            Err(format!("{what} at offset {}", self.i))
        }
        fn lit(&mut self, s: &[u8], v: Value) -> Result<Value, String> {
            if self.b.get(self.i..self.i + s.len()) == Some(s) {
                self.i += s.len();
                Ok(v)
            } else {
                self.err("bad literal")
            }
        }
        fn value(&mut self, depth: usize) -> Result<Value, String> {
            if depth > MAX_DEPTH {
                return self.err("nested too deep");
            }
            self.ws();
            match self.b.get(self.i) {
                Some(b'{') => {
                    self.i += 1;
                    let mut m = Vec::new();
                    self.ws();
                    if self.b.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        return Ok(Value::Obj(m));
                    }
                    loop {
                        self.ws();
                        let k = self.string()?;
                        self.ws();
                        if self.b.get(self.i) != Some(&b':') {
                            return self.err("expected ':'");
                        }
                        self.i += 1;
                        let v = self.value(depth + 1)?;
                        m.push((k, v));
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                return Ok(Value::Obj(m));
                            }
                            _ => return self.err("expected ',' or '}'"),
                        }
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    self.ws();
                    if self.b.get(self.i) == Some(&b']') {
                        self.i += 1;
                        return Ok(Value::Arr);
                    }
                    loop {
                        self.value(depth + 1)?;
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                return Ok(Value::Arr);
                            }
                            _ => return self.err("expected ',' or ']'"),
                        }
                    }
                }
                Some(b'"') => Ok(Value::Str(self.string()?)),
                Some(b't') => self.lit(b"true", Value::Bool),
                Some(b'f') => self.lit(b"false", Value::Bool),
                Some(b'n') => self.lit(b"null", Value::Null),
                Some(b'-' | b'0'..=b'9') => {
                    let start = self.i;
                    while matches!(
                        self.b.get(self.i),
                        Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                    ) {
                        self.i += 1;
                    }
                    let t = std::str::from_utf8(&self.b[start..self.i]).unwrap_or("x");
                    match t.parse::<f64>() {
                        Ok(_) => Ok(Value::Num),
                        Err(_) => self.err("bad number"),
                    }
                }
                _ => self.err("expected a value"),
            }
        }
        fn string(&mut self) -> Result<String, String> {
            if self.b.get(self.i) != Some(&b'"') {
                return self.err("expected a string");
            }
            self.i += 1;
            let mut out: Vec<u8> = Vec::new();
            loop {
                let Some(&c) = self.b.get(self.i) else {
                    return self.err("unterminated string");
                };
                self.i += 1;
                match c {
                    b'"' => break,
                    b'\\' => {
                        let Some(&e) = self.b.get(self.i) else {
                            return self.err("unterminated escape");
                        };
                        self.i += 1;
                        let ch = match e {
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'u' => {
                                let hex = self
                                    .b
                                    .get(self.i..self.i + 4)
                                    .and_then(|h| std::str::from_utf8(h).ok())
                                    .and_then(|h| u32::from_str_radix(h, 16).ok());
                                let Some(h) = hex else {
                                    return self.err("bad \\u escape");
                                };
                                self.i += 4;
                                // Surrogate halves (emoji in a model name) become U+FFFD.
                                char::from_u32(h).unwrap_or('\u{fffd}')
                            }
                            _ => return self.err("bad escape"),
                        };
                        let mut tmp = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                    }
                    c if c < 0x20 => return self.err("control character in string"),
                    c => out.push(c),
                }
            }
            String::from_utf8(out).or_else(|_| self.err("not UTF-8"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_file_quoting() {
        let r = parse_release(
            "DISTRIB_ID='OpenWrt'\nDISTRIB_RELEASE='23.05.3'\nDISTRIB_DESCRIPTION='OpenWrt 23.05.3 r23809'\\''s'\n# c\nDISTRIB_TAINTS=\"no-all busybox\"\nBARE=word tail\nDISTRIB_ID='Later'\n",
        );
        let get = |k: &str| r.iter().find(|(key, _)| *key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("DISTRIB_ID"), Some("Later"));
        assert_eq!(get("DISTRIB_RELEASE"), Some("23.05.3"));
        assert_eq!(get("DISTRIB_DESCRIPTION"), Some("OpenWrt 23.05.3 r23809's"));
        assert_eq!(get("DISTRIB_TAINTS"), Some("no-all busybox"));
        assert_eq!(get("BARE"), Some("word"));
    }

    #[test]
    fn cpuinfo_system_per_architecture() {
        assert_eq!(
            cpu_system("system type\t\t: MediaTek MT7621 ver:1 eco:3\nmachine\t\t\t: Xiaomi\nprocessor\t\t: 0\n"),
            "MediaTek MT7621 ver:1 eco:3"
        );
        assert_eq!(
            cpu_system("processor\t: 0\nmodel name\t: ARMv7 Processor rev 5 (v7l)\n"),
            "ARMv7 Processor rev 5 (v7l)"
        );
        assert_eq!(
            cpu_system(
                "processor\t: 0\nBogoMIPS\t: 48.00\nCPU architecture: 8\nCPU revision\t: 4\n"
            ),
            "ARMv8 Processor rev 4"
        );
        assert_eq!(cpu_system(""), "");
    }

    #[test]
    fn board_json_model() {
        let (id, name) = parse_board_json(
            r#"{"model": {"id": "xiaomi,mi-router-4a-gigabit", "name": "Xiaomi Mi Router 4A \"Gigabit\" \u00e9"},
               "network": {"lan": {"ports": ["lan1", "lan2"], "protocol": "static"}},
               "system": {"ntpserver": [], "n": -1.5e3, "t": true, "z": null}}"#,
        )
        .unwrap();
        assert_eq!(id.as_deref(), Some("xiaomi,mi-router-4a-gigabit"));
        assert_eq!(name.as_deref(), Some("Xiaomi Mi Router 4A \"Gigabit\" é"));
        assert_eq!(parse_board_json("{}").unwrap(), (None, None));
        for bad in [
            "",
            "{",
            "{\"a\" 1}",
            "[1,]",
            "\"\\x\"",
            "{}x",
            &"[".repeat(100),
        ] {
            assert!(parse_board_json(bad).is_err(), "{bad:?}");
        }
    }
}
