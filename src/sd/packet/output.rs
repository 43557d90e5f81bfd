//! The file_sd output: the sorted target groups as one JSON array, written only when it
//! differs from the file on disk, through a temporary file in the same directory that is
//! synced, given mode 0644 and renamed over the output. A reader (Prometheus's file_sd, which
//! watches the directory) sees the old file or the new one, never an empty or partial one,
//! and the file is never unreadable for a moment (the original's 0600-then-chmod race,
//! NixOS/infra#329).
//! <https://prometheus.io/docs/prometheus/latest/configuration/configuration/#file_sd_config>

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Something that writes itself as one JSON target group object.
pub trait Group {
    fn write_json(&self, out: &mut dyn Write) -> io::Result<()>;
}

/// An already serialized group.
impl Group for String {
    fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(self.as_bytes())
    }
}

impl Group for super::model::Target {
    fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        super::model::Target::write_json(self, out)
    }
}

/// Writes `groups` as a JSON array, one group per line so changes diff well.
pub fn render<G: Group>(groups: &[G], out: &mut dyn Write) -> io::Result<()> {
    if groups.is_empty() {
        return out.write_all(b"[]\n");
    }
    out.write_all(b"[\n")?;
    for (i, g) in groups.iter().enumerate() {
        if i > 0 {
            out.write_all(b",\n")?;
        }
        g.write_json(out)?;
    }
    out.write_all(b"\n]\n")
}

/// The rendered array in one buffer (for the http_sd endpoint).
pub fn to_bytes<G: Group>(groups: &[G]) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = render(groups, &mut v);
    v
}

/// True if the file at `path` holds exactly what `render(groups)` would write. Compared as a
/// stream, so no second copy of a large output is made.
pub fn unchanged<G: Group>(path: &Path, groups: &[G]) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    let mut cmp = Compare {
        file: BufReader::with_capacity(64 * 1024, f),
        equal: true,
        buf: Vec::new(),
    };
    if render(groups, &mut cmp).is_err() || !cmp.equal {
        return false;
    }
    // Same prefix: equal only if the file ends here too.
    matches!(cmp.file.read(&mut [0u8; 1]), Ok(0))
}

struct Compare {
    file: BufReader<File>,
    equal: bool,
    buf: Vec<u8>,
}

impl Write for Compare {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.equal {
            self.buf.resize(data.len(), 0);
            if self.file.read_exact(&mut self.buf).is_err() || self.buf != data {
                self.equal = false;
            }
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The temporary file next to `path`: hidden and not ending in `.json`, so a file_sd glob
/// like `*.json` never picks it up.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "packet.json".into());
    path.with_file_name(format!(".{name}.tmp"))
}

/// Writes `groups` to `path` atomically with mode 0644. On error the old file is untouched
/// and the temporary file removed.
pub fn write_atomic<G: Group>(path: &Path, groups: &[G]) -> io::Result<()> {
    let tmp = temp_path(path);
    // A temporary file left by a crash (or killed run) is ours to replace.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let result = (|| {
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        // The umask may have taken bits away; readers in another group need 0644.
        f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        let mut w = BufWriter::with_capacity(64 * 1024, f);
        render(groups, &mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // Make the rename itself durable; failing here loses nothing that is not already written.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("promlet-output-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn renders_one_group_per_line() {
        assert_eq!(to_bytes::<String>(&[]), b"[]\n");
        let g = vec!["{\"a\":1}".to_string(), "{\"b\":2}".to_string()];
        assert_eq!(
            String::from_utf8(to_bytes(&g)).unwrap(),
            "[\n{\"a\":1},\n{\"b\":2}\n]\n"
        );
        let v: serde_json::Value = serde_json::from_slice(&to_bytes(&g)).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
    }

    #[test]
    fn writes_0644_and_compares() {
        let d = dir("write");
        let p = d.join("packet.json");
        let g = vec!["{\"a\":1}".to_string()];
        assert!(!unchanged(&p, &g));
        write_atomic(&p, &g).unwrap();
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(m.mode() & 0o777, 0o644);
        assert!(unchanged(&p, &g));
        assert!(!unchanged::<String>(&p, &[]));
        assert!(!unchanged(&p, &["{\"a\":1}".to_string(), "{}".to_string()]));
        // A longer file with the same prefix differs.
        std::fs::write(&p, "[\n{\"a\":1}\n]\n\n").unwrap();
        assert!(!unchanged(&p, &g));
        assert!(!temp_path(&p).exists());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn failed_write_keeps_old_file() {
        let d = dir("fail");
        let p = d.join("packet.json");
        std::fs::write(&p, "[]\n").unwrap();
        // The temporary file's name is taken by a directory that cannot be removed as a file.
        std::fs::create_dir(temp_path(&p)).unwrap();
        assert!(write_atomic(&p, &["{}".to_string()]).is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "[]\n");
        let _ = std::fs::remove_dir_all(&d);
    }
}
