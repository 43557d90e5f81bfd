//! The outage buffer of one remote: compressed request bodies waiting to be sent, oldest
//! first, bounded in bytes. When a new batch would pass the bound the oldest batches are
//! dropped (and counted): during a long outage the newest data is what an operator wants
//! when the receiver comes back, and a receiver refuses data that is too old anyway
//! (Prometheus answers 400 "out of bounds" to samples an hour older than its head). No I/O.

use std::collections::VecDeque;
use std::time::Instant;

/// One request body ready to send.
#[derive(Debug)]
pub struct Batch {
    /// The snappy-compressed `WriteRequest`.
    pub body: Vec<u8>,
    pub samples: usize,
    /// Highest sample timestamp in the batch (ms), for the highest-sent gauge.
    pub max_ts_ms: i64,
    /// When it was built: a batch that keeps failing past the maximum age is dropped.
    pub created: Instant,
    /// Set by [`Queue::push`]: tells batches apart.
    pub id: u64,
}

/// What [`Queue::push`] had to drop to make room.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    pub batches: usize,
    pub samples: usize,
}

/// Batches in the order they were built.
#[derive(Debug)]
pub struct Queue {
    batches: VecDeque<Batch>,
    bytes: usize,
    max_bytes: usize,
    next_id: u64,
}

impl Queue {
    pub fn new(max_bytes: usize) -> Queue {
        Queue {
            batches: VecDeque::new(),
            bytes: 0,
            max_bytes,
            next_id: 0,
        }
    }

    /// Adds `b` at the end, dropping the oldest batches while the bound would be passed. A
    /// batch larger than the whole bound is dropped itself (nothing else could be kept).
    pub fn push(&mut self, mut b: Batch) -> Dropped {
        let mut d = Dropped::default();
        self.next_id += 1;
        b.id = self.next_id;
        if b.body.len() > self.max_bytes {
            d.batches = 1;
            d.samples = b.samples;
            return d;
        }
        while self.bytes + b.body.len() > self.max_bytes {
            let Some(old) = self.pop() else { break };
            d.batches += 1;
            d.samples += old.samples;
        }
        self.bytes += b.body.len();
        self.batches.push_back(b);
        d
    }

    /// The oldest batch, to send next.
    pub fn front(&self) -> Option<&Batch> {
        self.batches.front()
    }

    /// Takes the oldest batch out (sent, or dropped for good).
    pub fn pop(&mut self) -> Option<Batch> {
        let b = self.batches.pop_front()?;
        self.bytes -= b.body.len();
        Some(b)
    }

    /// Whether `len` more bytes fit without dropping anything.
    pub fn fits(&self, len: usize) -> bool {
        self.bytes + len <= self.max_bytes
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// A new bound (reload); the next [`Queue::push`] enforces it.
    pub fn set_max_bytes(&mut self, max: usize) {
        self.max_bytes = max;
    }

    /// Takes the oldest batches out until at least `bytes` are freed (or the queue is empty),
    /// for the spool to keep.
    pub fn take_oldest(&mut self, bytes: usize) -> Vec<Batch> {
        let mut out = Vec::new();
        let mut freed = 0;
        while freed < bytes {
            let Some(b) = self.pop() else { break };
            freed += b.body.len();
            out.push(b);
        }
        out
    }

    /// A fresh id, for batches that enter the sender's order from elsewhere (the spool).
    pub fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Compressed bytes waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Samples waiting.
    pub fn samples(&self) -> usize {
        self.batches.iter().map(|b| b.samples).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(bytes: usize, samples: usize) -> Batch {
        Batch {
            body: vec![0; bytes],
            samples,
            max_ts_ms: samples as i64,
            created: Instant::now(),
            id: 0,
        }
    }

    #[test]
    fn oldest_dropped_when_full_newest_kept() {
        let mut q = Queue::new(100);
        assert_eq!(q.push(batch(40, 1)), Dropped::default());
        assert_eq!(q.push(batch(40, 2)), Dropped::default());
        assert_eq!(
            q.push(batch(40, 3)),
            Dropped {
                batches: 1,
                samples: 1
            }
        );
        assert_eq!(q.bytes(), 80);
        assert_eq!(q.samples(), 5);
        assert_eq!(q.pop().unwrap().samples, 2);
        assert_eq!(q.pop().unwrap().samples, 3);
        assert!(q.front().is_none());
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn take_oldest_frees_at_least_what_is_asked() {
        let mut q = Queue::new(100);
        for n in 1..=3 {
            q.push(batch(30, n));
        }
        let taken: Vec<usize> = q.take_oldest(31).iter().map(|b| b.samples).collect();
        assert_eq!(taken, [1, 2]);
        assert_eq!(q.bytes(), 30);
        assert!(q.fits(70) && !q.fits(71));
    }

    #[test]
    fn batch_over_the_whole_bound_is_dropped_itself() {
        let mut q = Queue::new(100);
        q.push(batch(60, 1));
        assert_eq!(
            q.push(batch(101, 7)),
            Dropped {
                batches: 1,
                samples: 7
            }
        );
        assert_eq!(q.samples(), 1);
        assert_eq!(q.front().unwrap().samples, 1);
    }
}
