//! Reading sysfs attributes the way node_exporter's procfs library does
//! (`internal/util/sysreadfile.go`, `valueparser.go`): one read(2) of at most 128 bytes per
//! attribute, then trimmed. A single read rather than a read-to-end loop because some
//! hwmon drivers answer a second read with EAGAIN forever; 128 bytes because every attribute
//! these collectors read is a number or a short name (Documentation/ABI/testing/sysfs-*).
//!
//! Which errors mean "this attribute is not there" differs per collector in node_exporter
//! (netclass skips EINVAL, the power supply class fails on EACCES), so [`errno_in`] lets each
//! collector say which ones it skips.

use std::fs::FileType;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::Error;
use crate::expfmt::{Encoder, MetricType};

/// The most an attribute read returns, as procfs's `SysReadFile`.
pub const ATTR_MAX: usize = 128;

/// Opens a file for reading with rustix's raw `openat`, relative to `dir` (or the working
/// directory for [`rustix::fs::CWD`]). Not `std::fs::File::open`: musl's `open` follows
/// every `O_CLOEXEC` open with an `fcntl(F_SETFD)` for kernels older than 2.6.23, one wasted
/// system call per file, and a scrape opens about 150.
pub fn open_at(dir: impl std::os::fd::AsFd, path: &Path) -> io::Result<std::fs::File> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::openat(dir, path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    Ok(std::fs::File::from(fd))
}

/// A file read with `pread` from offset 0 on, as [`std::io::Read`]: a held procfs or sysfs
/// file is read again from its start this way (no seek, so threads may share it), through
/// the same readers as a freshly opened one.
pub struct FromStart<'a> {
    file: &'a std::fs::File,
    offset: u64,
}

impl<'a> FromStart<'a> {
    pub fn new(file: &'a std::fs::File) -> FromStart<'a> {
        FromStart { file, offset: 0 }
    }
}

impl Read for FromStart<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let n = self.file.read_at(buf, self.offset)?;
        self.offset = self.offset.saturating_add(n as u64);
        Ok(n)
    }
}

/// One read of at most [`ATTR_MAX`] bytes (see the module comment).
fn read_once(mut f: impl Read) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; ATTR_MAX];
    let n = loop {
        match f.read(&mut buf) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    };
    buf.truncate(n);
    Ok(buf)
}

/// An attribute's raw bytes: one read of at most [`ATTR_MAX`] bytes (see the module comment).
pub fn read_raw(path: &Path) -> io::Result<Vec<u8>> {
    read_once(open_at(rustix::fs::CWD, path)?)
}

/// An attribute as text, whitespace-trimmed; invalid UTF-8 is replaced (U+FFFD) as Go's
/// label handling does.
pub fn read_attr(path: &Path) -> io::Result<String> {
    Ok(trimmed(read_raw(path)?))
}

fn trimmed(raw: Vec<u8>) -> String {
    String::from_utf8_lossy(&raw).trim().to_string()
}

/// A directory held open while many of its attributes are read: each read then resolves one
/// name instead of the whole path again (`/sys/class/net/eth0` is a symlink into
/// `/sys/devices/...`, so every full-path open walks about a dozen components; the kernel's
/// path walk was a fifth of a scrape's CPU time before this).
pub struct Dir {
    fd: std::os::fd::OwnedFd,
}

impl Dir {
    pub fn open(path: &Path) -> io::Result<Dir> {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(rustix::fs::CWD, path, flags, Mode::empty())?;
        Ok(Dir { fd })
    }

    /// True if the directory is on sysfs (statfs magic `SYSFS_MAGIC`).
    pub fn is_sysfs(&self) -> bool {
        const SYSFS_MAGIC: u64 = 0x6265_6572;
        rustix::fs::fstatfs(&self.fd).is_ok_and(|s| s.f_type as u64 == SYSFS_MAGIC)
    }

    /// As [`read_attr`], for `name` in this directory.
    pub fn read_attr(&self, name: &str) -> io::Result<String> {
        Ok(trimmed(read_once(open_at(&self.fd, Path::new(name))?)?))
    }
}

/// Attributes of one sysfs directory held open across scrapes and re-read with `pread` at
/// offset 0, which makes sysfs call the attribute's show function again (the way
/// Documentation/filesystems/sysfs.rst tells pollers to re-read): no path walk, open or
/// close per attribute and scrape. Only for directories on sysfs itself ([`Dir::is_sysfs`]):
/// a regular file (a fixture tree) may be replaced by a rename, and the held descriptor
/// would go on reading the old one. The caller checks that the directory still is the
/// device it names (a rename) before trusting what it reads.
pub struct HeldAttrs {
    files: Vec<Option<std::fs::File>>,
}

impl HeldAttrs {
    /// Opens every name in `dir`; a name whose open fails with an errno in `absent` is held
    /// as absent (a device's attributes are fixed while it exists).
    pub fn open(dir: &Dir, names: &[&str], absent: &[i32]) -> io::Result<HeldAttrs> {
        let mut files = Vec::with_capacity(names.len());
        for name in names {
            match open_at(&dir.fd, Path::new(name)) {
                Ok(f) => files.push(Some(f)),
                Err(e) if errno_in(&e, absent) => files.push(None),
                Err(e) => return Err(e),
            }
        }
        Ok(HeldAttrs { files })
    }

    /// How many descriptors this holds.
    pub fn fds(&self) -> usize {
        self.files.iter().flatten().count()
    }

    /// Attribute `i` (in the order given to [`HeldAttrs::open`]) as [`read_attr`] reads it;
    /// `None` when it is absent.
    pub fn read(&self, i: usize) -> Option<io::Result<String>> {
        let f = self.files.get(i)?.as_ref()?;
        Some(read_once(FromStart::new(f)).map(trimmed))
    }
}

/// True if `e` is one of the errno values in `set`.
pub fn errno_in(e: &io::Error, set: &[i32]) -> bool {
    e.raw_os_error().is_some_and(|c| set.contains(&c))
        || (e.kind() == io::ErrorKind::NotFound && set.contains(&libc::ENOENT))
}

/// The entries of a directory, sorted by name (ReadDir order, which node_exporter's output
/// follows wherever it does not sort itself). Names that are not UTF-8 are skipped: no
/// sysfs name node_exporter handles is.
pub fn list_dir(dir: &Path) -> io::Result<Vec<(String, FileType)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        out.push((name, e.file_type()?));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The names in `dir`, sorted (as Go's `filepath.Glob` and `ioutil.ReadDir` give them), or
/// `None` when it does not exist: [`list_dir`] without the file types.
pub fn names(dir: &Path) -> Result<Option<Vec<String>>, Error> {
    match list_dir(dir) {
        Ok(e) => Ok(Some(e.into_iter().map(|(n, _)| n).collect())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(dir, e)),
    }
}

/// The entries of `dir` named `prefix*` (with `digit`, `prefix[0-9]*`), sorted, as Go's
/// `filepath.Glob`: the name's rest after the prefix, and the path. A missing `dir` gives
/// none, as Glob does.
pub fn glob(dir: &Path, prefix: &str, digit: bool) -> Result<Vec<(String, PathBuf)>, Error> {
    let entries = match list_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir, e)),
    };
    Ok(entries
        .into_iter()
        .filter_map(|(n, _)| {
            let rest = n.strip_prefix(prefix)?;
            if digit && !rest.starts_with(|c: char| c.is_ascii_digit()) {
                return None;
            }
            Some((rest.to_string(), dir.join(&n)))
        })
        .collect())
}

/// The entries of a class directory (`/sys/class/hwmon`, ...), or [`Error::NoData`] when the
/// listing fails with one of `no_data` (the class does not exist on this machine: node_exporter
/// reports that as "no data", not as a failure). `ENOENT` also covers `NotFound`.
pub fn list_class(dir: &Path, no_data: &[i32]) -> Result<Vec<(String, FileType)>, Error> {
    match list_dir(dir) {
        Ok(e) => Ok(e),
        Err(e) if errno_in(&e, no_data) => Err(Error::NoData(dir.display().to_string())),
        Err(e) => Err(io_err(dir, e)),
    }
}

/// The I/O error as a collector error naming the path.
pub fn io_err(path: &Path, err: io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        err,
    }
}

/// A required attribute: its text, or an error naming it.
pub fn attr(dir: &Path, name: &str) -> Result<String, Error> {
    let p = dir.join(name);
    read_attr(&p).map_err(|e| io_err(&p, e))
}

/// A parse failure naming the path.
pub fn parse_err(path: PathBuf, msg: impl Into<String>) -> Error {
    Error::Parse {
        path,
        msg: msg.into(),
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: an optional sign, then `0x`/`0X` hex, `0b` binary,
/// `0o` or a leading `0` octal, otherwise decimal; `_` separators after a base prefix.
pub fn parse_int_base0(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let mag = parse_uint_base0(body)?;
    if neg {
        0i64.checked_sub_unsigned(mag)
    } else {
        i64::try_from(mag).ok()
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)` (see [`parse_int_base0`]; no sign).
pub fn parse_uint_base0(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let (radix, digits, prefixed) = if b.len() > 2 && b[0] == b'0' && (b[1] | 0x20) == b'x' {
        (16, &s[2..], true)
    } else if b.len() > 2 && b[0] == b'0' && (b[1] | 0x20) == b'b' {
        (2, &s[2..], true)
    } else if b.len() > 2 && b[0] == b'0' && (b[1] | 0x20) == b'o' {
        (8, &s[2..], true)
    } else if b.len() > 1 && b[0] == b'0' {
        (8, &s[1..], true)
    } else {
        (10, s, false)
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    // Go allows one `_` between digits, or right after the prefix.
    let mut last_us = false;
    let mut any = false;
    for c in digits.chars() {
        if c == '_' && prefixed && !last_us {
            last_us = true;
            continue;
        }
        let d = c.to_digit(radix)?;
        v = v.checked_mul(u64::from(radix))?.checked_add(u64::from(d))?;
        last_us = false;
        any = true;
    }
    (any && !last_us).then_some(v)
}

/// Go's `strconv.ParseFloat` as far as sysfs values need it (decimal, exponent, inf, nan).
pub fn parse_float(s: &str) -> Option<f64> {
    if s.is_empty()
        || s.starts_with(|c: char| c.is_whitespace())
        || s.ends_with(|c: char| c.is_whitespace())
    {
        return None;
    }
    s.parse().ok()
}

/// Families whose names come from the files found (hwmon, power supplies, netclass): samples
/// are gathered first, then written sorted by family name and label values, as
/// client_golang orders its output. The first HELP given for a name wins.
#[derive(Default)]
pub struct Families {
    map: std::collections::BTreeMap<String, Fam>,
}

struct Fam {
    help: String,
    typ: MetricType,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Families {
    pub fn add(
        &mut self,
        name: &str,
        help: &str,
        typ: MetricType,
        labels: Vec<(&'static str, String)>,
        value: f64,
    ) {
        if let Some(f) = self.map.get_mut(name) {
            f.samples.push((labels, value));
            return;
        }
        self.map.insert(
            name.to_string(),
            Fam {
                help: help.to_string(),
                typ,
                samples: vec![(labels, value)],
            },
        );
    }

    /// Writes every family; labels are sorted by name, samples by label values.
    pub fn write(self, enc: &mut Encoder) {
        for (name, mut fam) in self.map {
            for (labels, _) in &mut fam.samples {
                labels.sort_by(|a, b| a.0.cmp(b.0));
            }
            fam.samples.sort_by(|a, b| {
                let ka = a.0.iter().map(|(_, v)| v.as_str());
                let kb = b.0.iter().map(|(_, v)| v.as_str());
                ka.cmp(kb)
            });
            let mut f = enc.family(&name, &fam.help, fam.typ);
            let mut pairs: Vec<(&str, &str)> = Vec::new();
            for (labels, v) in &fam.samples {
                pairs.clear();
                pairs.extend(labels.iter().map(|(k, v)| (*k, v.as_str())));
                f.sample(&pairs, *v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base0_integers_as_go() {
        assert_eq!(parse_int_base0("0x1003"), Some(4099));
        assert_eq!(parse_int_base0("-1"), Some(-1));
        assert_eq!(parse_int_base0("0"), Some(0));
        assert_eq!(parse_int_base0("010"), Some(8), "leading 0 is octal");
        assert_eq!(parse_int_base0("1500"), Some(1500));
        assert_eq!(parse_int_base0("0x"), None);
        assert_eq!(parse_int_base0("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int_base0("9223372036854775808"), None);
        assert_eq!(parse_int_base0("12a"), None);
        assert_eq!(parse_int_base0(""), None);
        assert_eq!(parse_int_base0("-"), None);
        assert_eq!(parse_uint_base0("0x_ff"), Some(255));
        assert_eq!(
            parse_uint_base0("1_000"),
            None,
            "no separators without a prefix"
        );
        assert_eq!(parse_uint_base0("18446744073709551616"), None);
    }

    #[test]
    fn attribute_read_is_capped_and_trimmed() {
        let dir = std::env::temp_dir().join(format!("promlet-sysfs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("long");
        std::fs::write(&p, "x".repeat(300)).unwrap();
        assert_eq!(read_attr(&p).unwrap().len(), ATTR_MAX);
        std::fs::write(&p, " up \n").unwrap();
        assert_eq!(read_attr(&p).unwrap(), "up");
        std::fs::write(&p, b"a\xffb\n").unwrap();
        assert_eq!(read_attr(&p).unwrap(), "a\u{fffd}b");
        let e = read_attr(&dir.join("missing")).unwrap_err();
        assert!(errno_in(&e, &[libc::ENOENT]));
        assert!(!errno_in(&e, &[libc::EINVAL]));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
