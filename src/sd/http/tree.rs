//! The target tree: turning a request path into a directory under the root without ever
//! leaving it, and walking that directory into the list of generators to run, in path order.
//!
//! Rules (prometheus-http-sd's, minus its traversal and ordering bugs; see
//! `reference/http-sd.md` §6): a name starting with `_` or `.` is ignored at any depth;
//! `*.json`, `*.yaml`, `*.yml` are static target files, `*.py` are Python generators, any other
//! executable file is run directly, and any other file is skipped (so a README can live in the
//! tree). Symlinks are followed only while their target stays inside the root; a symlink that
//! dangles or points outside is an error naming it, never silently dropped or read.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::Error;

/// What kind of generator a file is, decided by its name and mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Json,
    Yaml,
    Python,
    Exec,
}

impl Kind {
    /// Static files ignore query parameters and are re-read only when they change.
    pub fn is_static(self) -> bool {
        matches!(self, Kind::Json | Kind::Yaml)
    }
}

/// Identity of a file's content as far as `stat` can tell: a change of any field means the
/// file was rewritten or replaced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stamp {
    mtime_ns: i128,
    ctime_ns: i128,
    size: u64,
    ino: u64,
}

impl Stamp {
    pub fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            ctime_ns: m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
            size: m.size(),
            ino: m.ino(),
        }
    }
}

/// One generator found by the walk.
#[derive(Clone, Debug)]
pub struct Generator {
    /// Path relative to the root, `/`-separated: the name used in errors and metric labels.
    pub rel: String,
    /// The path to open or run (inside the root, possibly through a symlink).
    pub path: PathBuf,
    pub kind: Kind,
    pub stamp: Stamp,
}

/// One row of a walk: a generator, a file that is not one, or a broken entry.
#[derive(Debug)]
pub enum Found {
    Generator(Generator),
    /// A regular file that is no generator (wrong suffix, not executable).
    Skipped(String),
    /// A directory (listed for the index page).
    Dir(String),
    /// A dangling symlink, a symlink leaving the root, an unreadable directory.
    Broken(String, Error),
}

/// Why a request path does not name a directory of the tree.
#[derive(Debug, PartialEq, Eq)]
pub enum PathError {
    /// `.`/`..` segments: never resolved, whatever they would point at (400).
    Traversal,
    /// Missing, ignored (`_`/`.`), outside the root or not a directory or generator (404).
    NotFound,
}

/// Resolves the decoded request path below `/targets` (`""`, `/`, `/a/b`) to the path to walk
/// and its root-relative name. `root` must be canonical.
pub fn resolve(root: &Path, decoded: &str) -> Result<(PathBuf, String), PathError> {
    let mut rel = String::new();
    for seg in decoded.split('/').filter(|s| !s.is_empty()) {
        if seg == "." || seg == ".." {
            return Err(PathError::Traversal);
        }
        if ignored(seg) {
            return Err(PathError::NotFound);
        }
        if !rel.is_empty() {
            rel.push('/');
        }
        rel.push_str(seg);
    }
    if rel.is_empty() {
        return Ok((root.to_path_buf(), rel));
    }
    let path = root.join(&rel);
    // A symlink on the way may point anywhere: check where the path really is.
    let real = fs::canonicalize(&path).map_err(|_| PathError::NotFound)?;
    if !real.starts_with(root) {
        return Err(PathError::NotFound);
    }
    Ok((path, rel))
}

/// Names the tree ignores (prometheus-http-sd's `should_ignore`, per component).
pub fn ignored(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('.')
}

/// Walks `path` (a directory, or a single generator file) named `rel`, appending what it finds
/// in path order. `root` must be canonical.
pub fn walk(root: &Path, path: &Path, rel: &str, out: &mut Vec<Found>) {
    let mut stack = Vec::new();
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            match fs::canonicalize(path) {
                Ok(real) => stack.push(real),
                Err(e) => {
                    out.push(Found::Broken(rel.to_string(), Error::Read(e.to_string())));
                    return;
                }
            }
            walk_dir(root, path, rel, out, &mut stack)
        }
        Ok(m) => classify_file(path, rel, &m, out),
        Err(e) => out.push(Found::Broken(rel.to_string(), Error::Read(e.to_string()))),
    }
}

/// `ancestors` holds the canonical directories being walked, to stop symlink loops.
fn walk_dir(
    root: &Path,
    dir: &Path,
    rel: &str,
    out: &mut Vec<Found>,
    ancestors: &mut Vec<PathBuf>,
) {
    let name_of = |n: &str| {
        if rel.is_empty() {
            n.to_string()
        } else {
            format!("{rel}/{n}")
        }
    };
    if !rel.is_empty() {
        out.push(Found::Dir(rel.to_string()));
    }
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            out.push(Found::Broken(rel.to_string(), Error::Read(e.to_string())));
            return;
        }
    };
    let mut entries: Vec<(String, fs::FileType)> = Vec::new();
    for e in rd {
        let Ok(e) = e else { continue };
        let Ok(ft) = e.file_type() else { continue };
        match e.file_name().into_string() {
            Ok(n) if !ignored(&n) => entries.push((n, ft)),
            Ok(_) => {}
            // A name that is not UTF-8 cannot be a URL path or a label value.
            Err(n) => out.push(Found::Broken(
                name_of(&n.to_string_lossy()),
                Error::Invalid("file name is not UTF-8".into()),
            )),
        }
    }
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (n, ft) in entries {
        let path = dir.join(&n);
        let rel = name_of(&n);
        if ft.is_symlink() {
            let real = match fs::canonicalize(&path) {
                Ok(r) => r,
                Err(_) => {
                    out.push(Found::Broken(rel, Error::Symlink("dangling symlink")));
                    continue;
                }
            };
            if !real.starts_with(root) {
                out.push(Found::Broken(
                    rel,
                    Error::Symlink("symlink leaves the root"),
                ));
                continue;
            }
            match fs::metadata(&real) {
                Ok(m) if m.is_dir() => {
                    if ancestors.contains(&real) {
                        out.push(Found::Broken(rel, Error::Symlink("symlink loop")));
                    } else {
                        ancestors.push(real);
                        walk_dir(root, &path, &rel, out, ancestors);
                        ancestors.pop();
                    }
                }
                Ok(m) => classify_file(&path, &rel, &m, out),
                Err(e) => out.push(Found::Broken(rel, Error::Read(e.to_string()))),
            }
        } else if ft.is_dir() {
            // The last ancestor is this directory's canonical path.
            let real = match ancestors.last() {
                Some(a) => a.join(&n),
                None => path.clone(),
            };
            ancestors.push(real);
            walk_dir(root, &path, &rel, out, ancestors);
            ancestors.pop();
        } else if ft.is_file() {
            // Removed between readdir and stat: it is simply gone.
            if let Ok(m) = fs::metadata(&path) {
                classify_file(&path, &rel, &m, out)
            }
        }
        // Sockets, fifos and devices are not generators.
    }
}

fn classify_file(path: &Path, rel: &str, m: &fs::Metadata, out: &mut Vec<Found>) {
    let kind = match Path::new(rel).extension().and_then(|e| e.to_str()) {
        Some("json") => Some(Kind::Json),
        Some("yaml" | "yml") => Some(Kind::Yaml),
        Some("py") => Some(Kind::Python),
        _ if m.is_file() && m.permissions().mode() & 0o111 != 0 => Some(Kind::Exec),
        _ => None,
    };
    match kind {
        Some(kind) if m.is_file() => out.push(Found::Generator(Generator {
            rel: rel.to_string(),
            path: path.to_path_buf(),
            kind,
            stamp: Stamp::of(m),
        })),
        _ => out.push(Found::Skipped(rel.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_rejects_traversal_and_ignored_names() {
        let root = Path::new("/nonexistent-root");
        assert_eq!(resolve(root, "/.."), Err(PathError::Traversal));
        assert_eq!(resolve(root, "/a/../../etc"), Err(PathError::Traversal));
        assert_eq!(resolve(root, "/a/./b"), Err(PathError::Traversal));
        assert_eq!(resolve(root, "/_private"), Err(PathError::NotFound));
        assert_eq!(resolve(root, "/a/.git"), Err(PathError::NotFound));
        assert_eq!(resolve(root, "/missing"), Err(PathError::NotFound));
        assert_eq!(resolve(root, "").unwrap().1, "");
        assert_eq!(resolve(root, "//").unwrap().1, "");
    }

    #[test]
    fn ignored_names() {
        assert!(ignored("_helpers.py"));
        assert!(ignored(".hidden"));
        assert!(!ignored("a_b.json"));
    }
}
