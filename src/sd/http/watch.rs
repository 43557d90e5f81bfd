//! Change detection for the target tree with inotify(7), so a request over an unchanged tree
//! needs no `stat` of every file: every directory walked (and every symlinked file's target) is
//! watched, and any event bumps a generation number; a walk is reused only while the
//! generation it was made at is current.
//!
//! inotify queues an event before the modifying system call returns, and requests drain the
//! queue under a lock before reading the generation, so a change made before a request starts
//! is always seen by it. Where inotify cannot be used (no inotify, watch limit reached), the
//! generation is `None` and every request walks and stats the tree.

use crate::atomic64::AtomicU64;
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Events that can change what a directory lists or what its files contain.
const DIR_MASK: WatchFlags = WatchFlags::CREATE
    .union(WatchFlags::DELETE)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::MODIFY)
    .union(WatchFlags::CLOSE_WRITE)
    .union(WatchFlags::ATTRIB)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF);

#[derive(Default)]
pub struct Watch {
    fd: Option<OwnedFd>,
    generation: AtomicU64,
    /// Set for good when a watch could not be added: changes may then go unseen.
    failed: AtomicBool,
    drain: Mutex<()>,
}

impl Watch {
    /// An inotify instance, or a watch that never vouches for anything if there is none.
    pub fn new() -> Watch {
        match inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC) {
            Ok(fd) => Watch {
                fd: Some(fd),
                ..Watch::default()
            },
            Err(e) => {
                crate::warn!("http-sd: inotify unavailable ({e}); every request stats the tree");
                Watch::default()
            }
        }
    }

    /// Watches a directory: what it lists and its files' contents. Must be called before the
    /// directory is read, so no change falls between read and watch.
    pub fn add(&self, path: &Path) {
        let Some(fd) = &self.fd else { return };
        if self.failed.load(Ordering::Relaxed) {
            return;
        }
        // A path with a NUL in it cannot be watched: EINVAL, below.
        if let Err(e) = inotify::add_watch(fd, path, DIR_MASK) {
            // A path that vanished is a change the walk itself reports; anything else (the
            // watch limit) means changes could go unseen from now on.
            if e != rustix::io::Errno::NOENT && !self.failed.swap(true, Ordering::Relaxed) {
                crate::warn!(
                    "http-sd: cannot watch {}: {e}; every request stats the tree from now on",
                    path.display()
                );
            }
        }
    }

    /// The current generation after taking in pending events, or `None` when changes are not
    /// tracked and the caller must look at the files.
    pub fn generation(&self) -> Option<u64> {
        let fd = self.fd.as_ref()?;
        if self.failed.load(Ordering::Relaxed) {
            return None;
        }
        let _held = self.drain.lock().unwrap_or_else(|e| e.into_inner());
        let mut buf = [0u8; 4096];
        let mut changed = false;
        loop {
            match rustix::io::read(fd, &mut buf) {
                // Which file changed does not matter: any change invalidates every walk.
                Ok(n) if n > 0 => changed = true,
                Err(rustix::io::Errno::INTR) => {}
                // Nothing pending (EAGAIN), or the descriptor failed: done.
                _ => break,
            }
        }
        if changed {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        Some(self.generation.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_bump_the_generation() {
        let dir = std::env::temp_dir().join(format!("promlet-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let w = Watch::new();
        w.add(&dir);
        let g0 = w.generation().expect("inotify");
        assert_eq!(w.generation(), Some(g0));
        std::fs::write(dir.join("a.json"), "[]").unwrap();
        let g1 = w.generation().unwrap();
        assert!(g1 > g0);
        assert_eq!(w.generation(), Some(g1));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(w.generation().unwrap() > g1);
    }
}
