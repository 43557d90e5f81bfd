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
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Events that can change what a directory lists or what its files contain.
const DIR_MASK: u32 = libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_MODIFY
    | libc::IN_CLOSE_WRITE
    | libc::IN_ATTRIB
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF;

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
        // SAFETY: inotify_init1 takes flags only; a non-negative result is a new descriptor we own.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            crate::warn!(
                "http-sd: inotify unavailable ({}); every request stats the tree",
                std::io::Error::last_os_error()
            );
            return Watch::default();
        }
        Watch {
            // SAFETY: fd was just returned by inotify_init1 and is owned by nobody else.
            fd: Some(unsafe { OwnedFd::from_raw_fd(fd) }),
            ..Watch::default()
        }
    }

    /// Watches a directory: what it lists and its files' contents. Must be called before the
    /// directory is read, so no change falls between read and watch.
    pub fn add(&self, path: &Path) {
        let Some(fd) = &self.fd else { return };
        if self.failed.load(Ordering::Relaxed) {
            return;
        }
        let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
            self.failed.store(true, Ordering::Relaxed);
            return;
        };
        // SAFETY: valid descriptor and NUL-terminated path; the result is only checked.
        if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), DIR_MASK) } < 0 {
            let e = std::io::Error::last_os_error();
            // A path that vanished is a change the walk itself reports; anything else (the
            // watch limit) means changes could go unseen from now on.
            if e.raw_os_error() != Some(libc::ENOENT) && !self.failed.swap(true, Ordering::Relaxed)
            {
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
            // SAFETY: reading into a local buffer of the given length from our descriptor.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                // Which file changed does not matter: any change invalidates every walk.
                changed = true;
                continue;
            }
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            break;
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
