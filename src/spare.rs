//! Spare byte buffers, one small stack per thread, so that a scrape's large buffers (the
//! response body, a netlink dump, push mode's batch) keep their capacity from one scrape to
//! the next instead of growing again by copies. It was measured with an allocator that hands
//! buffers of this size (tens of KiB) back to the kernel as soon as they are freed (musl's),
//! where every scrape paid an mmap, a page fault per 4 KiB page and an munmap (with a TLB
//! shootdown on every core) per buffer: about 7% of a scrape's CPU time. The static builds now
//! allocate with dlmalloc (`src/main.rs`), which keeps freed memory for reuse; the buffers
//! still save the regrowth.

use std::cell::RefCell;

/// Buffers kept per thread: a scrape takes at most two at once (a netlink dump, the body), a
/// push gather three (the body, the batch being encoded, the room to compress it).
/// Only threads that scrape keep any (only scrape bodies are given back), so the HTTP SD and
/// proxy workers' memory is not held.
const KEEP: usize = 3;
/// A buffer that grew past this is freed rather than kept (a huge proxy answer must not stay
/// resident in every worker thread).
const MAX_CAPACITY: usize = 1 << 20;

thread_local! {
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer, with the capacity of one given back earlier on this thread if any.
pub fn take() -> Vec<u8> {
    SPARE
        .try_with(|s| s.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Keeps `buf` for a later [`take`] on this thread (cleared), unless enough are kept.
pub fn give_back(mut buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > MAX_CAPACITY {
        return;
    }
    buf.clear();
    let _ = SPARE.try_with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < KEEP {
            s.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn capacity_is_kept_and_bounded() {
        let mut b = super::take();
        b.extend_from_slice(&[1u8; 40_000]);
        let cap = b.capacity();
        super::give_back(b);
        let again = super::take();
        assert!(again.is_empty());
        assert_eq!(again.capacity(), cap);
        // Too large: not kept.
        super::give_back(Vec::with_capacity(super::MAX_CAPACITY + 1));
        assert!(super::take().capacity() <= super::MAX_CAPACITY);
        // At most KEEP.
        for _ in 0..10 {
            super::give_back(Vec::with_capacity(16));
        }
        let n = std::iter::from_fn(|| Some(super::take()))
            .take_while(|b| b.capacity() > 0)
            .count();
        assert_eq!(n, super::KEEP);
    }
}
