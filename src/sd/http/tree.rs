//! The target tree: turning a request path into a directory under the root without ever
//! leaving it, and walking that directory into the list of generators to run, in path order.
//!
//! Rules (prometheus-http-sd's, minus its traversal and ordering bugs; see
//! `docs/http-sd.md`, "The tree"): a name starting with `_` or `.` is ignored at any depth;
//! `*.json`, `*.yaml`, `*.yml` are static target files, `*.py` are Python generators, any other
//! executable file is run directly, and any other file is skipped (so a README can live in the
//! tree). Symlinks are followed only while their target stays inside the root; a symlink that
//! dangles or points outside is an error naming it, never silently dropped or read.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::watch::Watch;
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

/// One generator found by the walk. Names are shared with the listing cache, so a walk over
/// an unchanged tree allocates little.
#[derive(Clone, Debug)]
pub struct Generator {
    /// Path relative to the root, `/`-separated: the name used in errors and metric labels.
    pub rel: Arc<str>,
    /// The path to open or run (inside the root, possibly through a symlink).
    pub path: Arc<Path>,
    pub kind: Kind,
    pub stamp: Stamp,
    /// The file's mtime was older than [`RACY`] when it was stat'ed: a later rewrite is sure to
    /// change the stamp. A younger file may be rewritten within the same timestamp tick, so
    /// its content is not trusted from the stamp alone.
    pub settled: bool,
}

/// Timestamp granularity assumed for any filesystem (FAT has 2 s), as in git's "racy" check.
const RACY: Duration = Duration::from_secs(2);

/// One row of a walk: a generator, a file that is not one, or a broken entry.
#[derive(Debug)]
pub enum Found {
    Generator(Generator),
    /// A regular file that is no generator (wrong suffix, not executable).
    Skipped(Arc<str>),
    /// A directory (listed for the index page).
    Dir(Arc<str>),
    /// A dangling symlink, a symlink leaving the root, an unreadable directory.
    Broken(Arc<str>, Error),
}

/// Why a request path does not name a directory of the tree.
#[derive(Debug, PartialEq, Eq)]
pub enum PathError {
    /// `.`/`..` segments: never resolved, whatever they would point at (400).
    Traversal,
    /// Missing, ignored (`_`/`.`), outside the root or not a directory or generator (404).
    NotFound,
}

/// A resolved request path.
#[derive(Debug, PartialEq, Eq)]
pub struct Start {
    /// The path as named (through symlinks).
    pub path: PathBuf,
    /// Its canonical form, inside the root.
    pub real: PathBuf,
    /// Root-relative name, `""` for the root.
    pub rel: String,
}

/// The root-relative name of a decoded request path below `/targets` (`""`, `/`, `/a/b`),
/// checked without touching the filesystem.
pub fn normalize(decoded: &str) -> Result<String, PathError> {
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
    Ok(rel)
}

/// Resolves a decoded request path to the path to walk and its root-relative name. `root`
/// must be canonical.
pub fn resolve(root: &Path, decoded: &str) -> Result<Start, PathError> {
    let rel = normalize(decoded)?;
    if rel.is_empty() {
        return Ok(Start {
            path: root.to_path_buf(),
            real: root.to_path_buf(),
            rel,
        });
    }
    let path = root.join(&rel);
    // A symlink on the way may point anywhere: check where the path really is.
    let real = fs::canonicalize(&path).map_err(|_| PathError::NotFound)?;
    if !real.starts_with(root) {
        return Err(PathError::NotFound);
    }
    Ok(Start { path, real, rel })
}

/// Names the tree ignores (prometheus-http-sd's `should_ignore`, per component).
pub fn ignored(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('.')
}

/// Sorted directory listings, reused while a directory's own stamp (which changes when an
/// entry is added, removed or renamed) is unchanged. Keyed by the path as walked, so entries
/// carry their root-relative names. Bounded by the directories the tree has had.
#[derive(Default)]
pub struct Listings {
    map: Mutex<HashMap<PathBuf, Arc<Listing>>>,
    /// Watches every directory listed (see [`Watch`]); inactive in `Listings::default()`.
    pub watch: Watch,
}

struct Listing {
    stamp: Stamp,
    entries: Vec<Entry>,
}

struct Entry {
    rel: Arc<str>,
    path: Arc<Path>,
    ty: Ty,
}

enum Ty {
    Dir,
    File,
    Symlink,
    /// Not UTF-8: it cannot be a URL path or a label value.
    BadName,
}

impl Listings {
    /// Listings whose directories are watched with inotify.
    pub fn watched() -> Listings {
        Listings {
            map: Mutex::default(),
            watch: Watch::new(),
        }
    }

    fn get(&self, dir: &Path, rel: &str, meta: &fs::Metadata) -> Result<Arc<Listing>, Error> {
        let stamp = Stamp::of(meta);
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = map.get(dir).filter(|l| l.stamp == stamp) {
            return Ok(l.clone());
        }
        drop(map);
        self.watch.add(dir);
        let l = Arc::new(read_listing(dir, rel, stamp)?);
        if settled(meta) {
            map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            map.insert(dir.to_path_buf(), l.clone());
        }
        Ok(l)
    }
}

fn settled(meta: &fs::Metadata) -> bool {
    meta.modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .is_some_and(|age| age > RACY)
}

fn read_listing(dir: &Path, rel: &str, stamp: Stamp) -> Result<Listing, Error> {
    let rd = fs::read_dir(dir).map_err(|e| Error::Read(e.to_string()))?;
    let mut entries = Vec::new();
    for e in rd {
        let Ok(e) = e else { continue };
        let Ok(ft) = e.file_type() else { continue };
        let (name, ty) = match e.file_name().into_string() {
            Ok(n) if ignored(&n) => continue,
            Ok(n) if ft.is_symlink() => (n, Ty::Symlink),
            Ok(n) if ft.is_dir() => (n, Ty::Dir),
            Ok(n) if ft.is_file() => (n, Ty::File),
            // Sockets, fifos and devices are not generators.
            Ok(_) => continue,
            Err(n) => (n.to_string_lossy().into_owned(), Ty::BadName),
        };
        let full = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        entries.push(Entry {
            path: dir.join(&name).into(),
            rel: full.into(),
            ty,
        });
    }
    entries.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    Ok(Listing { stamp, entries })
}

/// Walks `start` (a directory, or a single generator file), appending what it finds in path
/// order. `root` must be canonical; `listings` caches directory contents between walks.
pub fn walk(root: &Path, start: &Start, listings: &Listings, out: &mut Vec<Found>) {
    let rel: Arc<str> = start.rel.as_str().into();
    // The directories on the way hold what the walk depends on but does not list: a
    // requested file's contents, a symlink in the requested path.
    for dir in start.path.ancestors().skip(1) {
        if !dir.starts_with(root) {
            break;
        }
        listings.watch.add(dir);
    }
    match fs::metadata(&start.path) {
        Ok(m) if m.is_dir() => {
            let mut ancestors = vec![start.real.clone()];
            walk_dir(root, &start.path, &rel, &m, listings, out, &mut ancestors)
        }
        Ok(m) => classify_file(&start.path.as_path().into(), &rel, &m, out),
        Err(e) => out.push(Found::Broken(rel, Error::Read(e.to_string()))),
    }
}

/// `ancestors` holds the canonical directories being walked (this one last), to stop symlink
/// loops.
fn walk_dir(
    root: &Path,
    dir: &Path,
    rel: &Arc<str>,
    meta: &fs::Metadata,
    listings: &Listings,
    out: &mut Vec<Found>,
    ancestors: &mut Vec<PathBuf>,
) {
    if !rel.is_empty() {
        out.push(Found::Dir(rel.clone()));
    }
    let listing = match listings.get(dir, rel, meta) {
        Ok(l) => l,
        Err(e) => {
            out.push(Found::Broken(rel.clone(), e));
            return;
        }
    };
    for e in &listing.entries {
        match e.ty {
            Ty::BadName => out.push(Found::Broken(
                e.rel.clone(),
                Error::Invalid("file name is not UTF-8".into()),
            )),
            Ty::File => {
                // Removed between readdir and stat: it is simply gone.
                if let Ok(m) = fs::metadata(&e.path) {
                    classify_file(&e.path, &e.rel, &m, out)
                }
            }
            Ty::Dir => {
                let Ok(m) = fs::metadata(&e.path) else {
                    continue;
                };
                let real = match (ancestors.last(), e.path.file_name()) {
                    (Some(a), Some(n)) => a.join(n),
                    _ => e.path.to_path_buf(),
                };
                ancestors.push(real);
                walk_dir(root, &e.path, &e.rel, &m, listings, out, ancestors);
                ancestors.pop();
            }
            Ty::Symlink => {
                let real = match fs::canonicalize(&e.path) {
                    Ok(r) => r,
                    Err(_) => {
                        out.push(Found::Broken(
                            e.rel.clone(),
                            Error::Symlink("dangling symlink"),
                        ));
                        continue;
                    }
                };
                if !real.starts_with(root) {
                    out.push(Found::Broken(
                        e.rel.clone(),
                        Error::Symlink("symlink leaves the root"),
                    ));
                    continue;
                }
                // The target may sit in a directory the walk never lists (`_data/`).
                if let Some(parent) = real.parent() {
                    listings.watch.add(parent);
                }
                match fs::metadata(&real) {
                    Ok(m) if m.is_dir() => {
                        if ancestors.contains(&real) {
                            out.push(Found::Broken(e.rel.clone(), Error::Symlink("symlink loop")));
                        } else {
                            ancestors.push(real);
                            walk_dir(root, &e.path, &e.rel, &m, listings, out, ancestors);
                            ancestors.pop();
                        }
                    }
                    Ok(m) => classify_file(&e.path, &e.rel, &m, out),
                    Err(err) => {
                        out.push(Found::Broken(e.rel.clone(), Error::Read(err.to_string())))
                    }
                }
            }
        }
    }
}

fn classify_file(path: &Arc<Path>, rel: &Arc<str>, m: &fs::Metadata, out: &mut Vec<Found>) {
    let kind = match Path::new(&**rel).extension().and_then(|e| e.to_str()) {
        Some("json") => Some(Kind::Json),
        Some("yaml" | "yml") => Some(Kind::Yaml),
        Some("py") => Some(Kind::Python),
        _ if m.is_file() && m.permissions().mode() & 0o111 != 0 => Some(Kind::Exec),
        _ => None,
    };
    match kind {
        Some(kind) if m.is_file() => out.push(Found::Generator(Generator {
            rel: rel.clone(),
            path: path.clone(),
            kind,
            stamp: Stamp::of(m),
            settled: settled(m),
        })),
        _ => out.push(Found::Skipped(rel.clone())),
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
        assert_eq!(resolve(root, "").ok().map(|s| s.rel), Some(String::new()));
        assert_eq!(resolve(root, "//").ok().map(|s| s.rel), Some(String::new()));
    }

    #[test]
    fn ignored_names() {
        assert!(ignored("_helpers.py"));
        assert!(ignored(".hidden"));
        assert!(!ignored("a_b.json"));
    }
}
