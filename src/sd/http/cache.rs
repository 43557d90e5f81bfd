//! Per-generator result cache with single flight: one slot per (generator, parameter set).
//! Concurrent requests for a slot share one run; a result is served while it is fresh (its
//! file unchanged and, for programs, younger than the TTL; errors younger than the error TTL).
//! Results live in memory only and are swapped in whole under the slot's lock, so a reader
//! never sees half a result (prometheus-http-sd 3.x's cache-file race, docs/http-sd.md).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::groups::Fragment;
use super::tree::{Generator, Stamp};
use super::Error;

/// Parameterised slots kept before expired ones are dropped.
const PURGE_ABOVE: usize = 1024;
/// Slots kept at most; past that, runs still happen but are not cached, so a client sending
/// endless distinct parameters cannot grow memory without bound.
const MAX_SLOTS: usize = 16 * 1024;

/// Which cached result a generator run belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub rel: Arc<str>,
    /// Sorted, first value per name; empty for static files (they take none).
    pub params: Vec<(String, String)>,
}

/// A finished run.
#[derive(Clone, Debug)]
pub struct Done {
    pub result: Result<Arc<Fragment>, Error>,
    pub at: Instant,
    pub stamp: Stamp,
    /// The file was settled when read (see [`Generator::settled`]).
    pub settled: bool,
    pub took: Duration,
}

/// How a result was obtained, for the cache-hit metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// A fresh cached result.
    Hit,
    /// This caller ran the generator.
    Ran,
    /// Another caller's run, waited for.
    Joined,
}

#[derive(Default)]
pub struct Slot {
    state: Mutex<State>,
    finished: Condvar,
}

#[derive(Default)]
struct State {
    running: bool,
    /// Bumped when a run finishes, so waiters know theirs is over.
    generation: u64,
    done: Option<Done>,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct Cache {
    slots: Mutex<HashMap<Key, Arc<Slot>>>,
    pub ttl: Duration,
    pub error_ttl: Duration,
}

impl Cache {
    pub fn new(ttl: Duration, error_ttl: Duration) -> Cache {
        Cache {
            slots: Mutex::new(HashMap::new()),
            ttl,
            error_ttl,
        }
    }

    /// The slots for `keys`, created as needed, under one lock.
    pub fn slots(&self, keys: impl IntoIterator<Item = Key>) -> Vec<Arc<Slot>> {
        let mut map = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for key in keys {
            if let Some(s) = map.get(&key) {
                out.push(s.clone());
                continue;
            }
            if map.len() >= PURGE_ABOVE {
                self.purge(&mut map);
            }
            let slot = Arc::new(Slot::default());
            if map.len() < MAX_SLOTS {
                map.insert(key, slot.clone());
            }
            out.push(slot);
        }
        out
    }

    /// Drops parameterised slots nobody uses whose result has expired.
    fn purge(&self, map: &mut HashMap<Key, Arc<Slot>>) {
        let keep_for = self.ttl.max(self.error_ttl);
        map.retain(|k, s| {
            if k.params.is_empty() || Arc::strong_count(s) > 1 {
                return true;
            }
            match s.state.try_lock() {
                Ok(st) => st.running || st.done.as_ref().is_some_and(|d| d.at.elapsed() < keep_for),
                Err(_) => true,
            }
        });
    }

    fn is_fresh(&self, d: &Done, g: &Generator) -> bool {
        if d.stamp != g.stamp {
            return false;
        }
        match (&d.result, g.kind.is_static()) {
            (Ok(_), true) => d.settled,
            (Ok(_), false) => d.at.elapsed() < self.ttl,
            (Err(_), _) => d.at.elapsed() < self.error_ttl,
        }
    }

    /// A fresh result without waiting or running, if there is one.
    pub fn fresh(&self, slot: &Slot, g: &Generator) -> Option<Done> {
        let st = slot.lock();
        st.done.as_ref().filter(|d| self.is_fresh(d, g)).cloned()
    }

    /// A fresh result, another caller's run in progress, or a run of `run` by this caller.
    pub fn get(
        &self,
        slot: &Slot,
        g: &Generator,
        run: impl FnOnce() -> Result<Fragment, Error>,
    ) -> (Done, How) {
        let mut st = slot.lock();
        loop {
            if let Some(d) = st.done.as_ref().filter(|d| self.is_fresh(d, g)) {
                return (d.clone(), How::Hit);
            }
            if !st.running {
                break;
            }
            let gen = st.generation;
            while st.running && st.generation == gen {
                st = slot.finished.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            // The run we waited for is ours too, even if its result is already stale (an
            // error with error TTL 0): that is what single flight means.
            if st.generation != gen {
                if let Some(d) = &st.done {
                    return (d.clone(), How::Joined);
                }
            }
        }
        st.running = true;
        drop(st);
        let started = Instant::now();
        let result = run().map(Arc::new);
        let done = Done {
            result,
            at: Instant::now(),
            stamp: g.stamp,
            settled: g.settled,
            took: started.elapsed(),
        };
        let mut st = slot.lock();
        st.running = false;
        st.generation += 1;
        st.done = Some(done.clone());
        drop(st);
        slot.finished.notify_all();
        (done, How::Ran)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sd::http::tree::Kind;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn gen(kind: Kind, stamp: Stamp) -> Generator {
        Generator {
            rel: "g".into(),
            path: std::path::Path::new("g").into(),
            kind,
            stamp,
            settled: true,
        }
    }

    fn key(p: &str) -> Key {
        Key {
            rel: "g".into(),
            params: if p.is_empty() {
                vec![]
            } else {
                vec![("p".into(), p.into())]
            },
        }
    }

    #[test]
    fn concurrent_callers_share_one_run() {
        let cache = Cache::new(Duration::from_secs(60), Duration::ZERO);
        let runs = AtomicUsize::new(0);
        let slot = cache.slots([key("")]).pop().unwrap();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let (d, _) = cache.get(&slot, &gen(Kind::Exec, Stamp::default()), || {
                        runs.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(200));
                        Ok(Fragment::default())
                    });
                    assert!(d.result.is_ok());
                });
            }
        });
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn errors_are_not_cached_by_default_and_stamps_invalidate() {
        let cache = Cache::new(Duration::from_secs(60), Duration::ZERO);
        let slot = cache.slots([key("")]).pop().unwrap();
        let (_, how) = cache.get(&slot, &gen(Kind::Json, Stamp::default()), || {
            Err(Error::Parse("x".into()))
        });
        assert_eq!(how, How::Ran);
        assert!(cache
            .fresh(&slot, &gen(Kind::Json, Stamp::default()))
            .is_none());
        cache.get(&slot, &gen(Kind::Json, Stamp::default()), || {
            Ok(Fragment::default())
        });
        assert!(cache
            .fresh(&slot, &gen(Kind::Json, Stamp::default()))
            .is_some());
        let other = Stamp::of(&std::fs::metadata(".").unwrap());
        assert!(cache.fresh(&slot, &gen(Kind::Json, other)).is_none());
    }

    #[test]
    fn distinct_parameters_are_bounded() {
        let cache = Cache::new(Duration::ZERO, Duration::ZERO);
        for i in 0..(PURGE_ABOVE * 3) {
            let slot = cache.slots([key(&i.to_string())]).pop().unwrap();
            cache.get(&slot, &gen(Kind::Exec, Stamp::default()), || {
                Ok(Fragment::default())
            });
        }
        assert!(cache.slots.lock().unwrap().len() <= PURGE_ABOVE + 1);
    }
}
