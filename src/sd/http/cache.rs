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

/// Parameter sets kept at most, over all generators (a slot per generator and parameter set);
/// past it the least recently used slot nobody is waiting on goes. Slots without parameters
/// (one per file of the tree) are not counted. A client sending endless distinct parameters
/// thus cannot grow memory without bound; it only gets runs (and those are capped by
/// `--http-sd.max-concurrent-runs`).
pub const MAX_PARAM_SETS: usize = 256;

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

/// The slots, each with the tick it was last asked for.
#[derive(Default)]
struct Slots {
    map: HashMap<Key, (Arc<Slot>, u64)>,
    /// Slots with parameters in `map`.
    param_sets: usize,
    tick: u64,
}

pub struct Cache {
    slots: Mutex<Slots>,
    /// Parameter sets kept at most ([`MAX_PARAM_SETS`] outside tests).
    max_param_sets: usize,
    pub ttl: Duration,
    pub error_ttl: Duration,
}

impl Cache {
    pub fn new(ttl: Duration, error_ttl: Duration) -> Cache {
        Cache {
            slots: Mutex::default(),
            max_param_sets: MAX_PARAM_SETS,
            ttl,
            error_ttl,
        }
    }

    /// The slots for `keys`, created as needed, under one lock.
    pub fn slots(&self, keys: impl IntoIterator<Item = Key>) -> Vec<Arc<Slot>> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slots = &mut *slots;
        let mut out = Vec::new();
        for key in keys {
            slots.tick += 1;
            if let Some((s, used)) = slots.map.get_mut(&key) {
                *used = slots.tick;
                out.push(s.clone());
                continue;
            }
            let slot = Arc::new(Slot::default());
            let counted = !key.params.is_empty();
            if counted && slots.param_sets >= self.max_param_sets && !evict_lru(slots) {
                // Every kept set is in use: this one runs uncached.
                out.push(slot);
                continue;
            }
            slots.param_sets += usize::from(counted);
            slots.map.insert(key, (slot.clone(), slots.tick));
            out.push(slot);
        }
        out
    }

    /// Parameter sets kept now.
    #[cfg(test)]
    fn param_sets(&self) -> usize {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let n = slots.map.keys().filter(|k| !k.params.is_empty()).count();
        assert_eq!(n, slots.param_sets);
        n
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
    /// `run` may decline (None: too many runs at once); then nothing is stored, whoever
    /// waited on this slot tries for itself, and the answer is None.
    pub fn get(
        &self,
        slot: &Slot,
        g: &Generator,
        run: impl FnOnce() -> Option<Result<Fragment, Error>>,
    ) -> Option<(Done, How)> {
        let mut st = slot.lock();
        loop {
            if let Some(d) = st.done.as_ref().filter(|d| self.is_fresh(d, g)) {
                return Some((d.clone(), How::Hit));
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
                    return Some((d.clone(), How::Joined));
                }
            }
        }
        st.running = true;
        drop(st);
        let started = Instant::now();
        let Some(result) = run() else {
            slot.lock().running = false;
            slot.finished.notify_all();
            return None;
        };
        let result = result.map(Arc::new);
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
        Some((done, How::Ran))
    }
}

/// Drops the least recently asked-for slot with parameters that nobody holds; false if every
/// one is held (a request is using it).
fn evict_lru(slots: &mut Slots) -> bool {
    let lru = slots
        .map
        .iter()
        .filter(|(k, (s, _))| !k.params.is_empty() && Arc::strong_count(s) == 1)
        .min_by_key(|(_, (_, used))| *used)
        .map(|(k, _)| k.clone());
    match lru {
        Some(k) => {
            slots.map.remove(&k);
            slots.param_sets -= 1;
            true
        }
        None => false,
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
                    let (d, _) = cache
                        .get(&slot, &gen(Kind::Exec, Stamp::default()), || {
                            runs.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(200));
                            Some(Ok(Fragment::default()))
                        })
                        .unwrap();
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
        let (_, how) = cache
            .get(&slot, &gen(Kind::Json, Stamp::default()), || {
                Some(Err(Error::Parse("x".into())))
            })
            .unwrap();
        assert_eq!(how, How::Ran);
        assert!(cache
            .fresh(&slot, &gen(Kind::Json, Stamp::default()))
            .is_none());
        cache.get(&slot, &gen(Kind::Json, Stamp::default()), || {
            Some(Ok(Fragment::default()))
        });
        assert!(cache
            .fresh(&slot, &gen(Kind::Json, Stamp::default()))
            .is_some());
        let other = Stamp::of(&std::fs::metadata(".").unwrap());
        assert!(cache.fresh(&slot, &gen(Kind::Json, other)).is_none());
    }

    /// 500 distinct parameter sets used to keep 500 slots (up to 16 Ki); now at most the cap,
    /// the least recently used going first.
    #[test]
    fn distinct_parameters_are_bounded_least_recently_used_out() {
        let mut cache = Cache::new(Duration::from_secs(60), Duration::ZERO);
        cache.max_param_sets = 8;
        let g = gen(Kind::Exec, Stamp::default());
        let ran = AtomicUsize::new(0);
        let use_key = |p: &str| {
            let slot = cache.slots([key(p)]).pop().unwrap();
            cache.get(&slot, &g, || {
                ran.fetch_add(1, Ordering::SeqCst);
                Some(Ok(Fragment::default()))
            });
        };
        for i in 0..500 {
            use_key(&i.to_string());
            // "hot" is asked for all along: it is never the least recently used.
            use_key("hot");
        }
        assert_eq!(cache.param_sets(), 8);
        let before = ran.load(Ordering::SeqCst);
        use_key("hot");
        use_key("499");
        assert_eq!(ran.load(Ordering::SeqCst), before, "recent sets are cached");
        use_key("0");
        assert_eq!(
            ran.load(Ordering::SeqCst),
            before + 1,
            "the oldest set went"
        );
        // Slots without parameters are not counted against the cap.
        cache.slots([key("")]);
        assert_eq!(cache.param_sets(), 8);
        // A held slot is not evicted: past the cap, a new set runs uncached.
        let held: Vec<_> = (0..8)
            .map(|i| cache.slots([key(&format!("h{i}"))]).pop().unwrap())
            .collect();
        let extra = cache.slots([key("extra")]).pop().unwrap();
        assert_eq!(cache.param_sets(), 8);
        drop((held, extra));
    }

    #[test]
    fn a_declined_run_stores_nothing() {
        let cache = Cache::new(Duration::from_secs(60), Duration::ZERO);
        let slot = cache.slots([key("x")]).pop().unwrap();
        let g = gen(Kind::Exec, Stamp::default());
        assert!(cache.get(&slot, &g, || None).is_none());
        assert!(cache.fresh(&slot, &g).is_none());
        let (_, how) = cache
            .get(&slot, &g, || Some(Ok(Fragment::default())))
            .unwrap();
        assert_eq!(how, How::Ran);
    }
}
