//! The running push: one gatherer thread and one sender thread per remote.
//!
//! Every `scrape_interval` the gatherer asks each configured path's route for its body (as a
//! scrape would, in-process), turns it into series ([`series::scrape`]), encodes them into
//! batches of at most `max_samples_per_send` samples (and about [`MAX_BATCH_BYTES`] of
//! encoded series) and appends each batch to every remote's
//! queue. Each sender sends its queue's oldest batch, applies [`policy::verdict`], and waits
//! with [`policy::Backoff`] between failed attempts, so batches leave in the order they were
//! built (samples of a series stay in time order) and an outage only fills the bounded queue.
//! On stop the gatherer writes staleness markers for everything and the senders get a short
//! time to deliver them.
//!
//! With a spool ([`spool`]), a full memory queue moves its oldest half to disk instead of
//! dropping it, and what is left at stop is written there too; a sender sends the spool's
//! segments, oldest first, before the memory queue.
//!
//! A reload ([`Push::prepare`], [`Push::installer`]) is applied by the gatherer between two
//! gathers, so it is ordered with the batches: a remote whose url stays keeps its queue,
//! spool, counters and sender (its other settings are replaced); a removed remote's sender
//! makes a last attempt and ends; a path whose labels change gets staleness markers for its
//! old series, as a changed scrape config does in Prometheus.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::atomic64::AtomicU64;
use crate::expfmt::{decode_text, Encoder, MetricType};

use super::config::{Config, Remote, SpoolConfig};
use super::policy::{verdict, Attempt, Backoff, DropReason, Verdict};
use super::queue::{Batch, Queue};
use super::series::{self, History, Target};
use super::spool::{Record, Spool};
use super::wire::{self, SeriesRef};

/// The answer to one send.
pub struct Sent {
    pub attempt: Attempt,
    /// `Retry-After`, when the receiver gave one.
    pub retry_after: Option<Duration>,
    /// What to log on failure: the transport error, or the first line of the answer's body.
    pub message: String,
}

/// Sends one request body to a remote (the real one is HTTP; tests use fakes).
pub trait Transport: Send + Sync {
    /// Sends one request body before `until`; `conn` is the sender's connection, kept from
    /// one request to the next.
    fn send(
        &self,
        remote: &Remote,
        body: &[u8],
        until: Instant,
        conn: &mut crate::httpc::Kept,
    ) -> Sent;
}

/// Where the gatherer gets a path's exposition text.
pub type Gather = Box<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// Counters of one remote, for promlet's own metrics.
#[derive(Default)]
pub struct Stats {
    pub samples_sent: AtomicU64,
    pub samples_retried: AtomicU64,
    pub samples_failed: AtomicU64,
    pub dropped_rejected: AtomicU64,
    pub dropped_too_old: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub dropped_spool_full: AtomicU64,
    /// Spool files found truncated or corrupt, or that could not be read or written.
    pub spool_errors: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub highest_sent_ms: AtomicU64,
    pub last_success_ms: AtomicU64,
}

impl Stats {
    fn dropped(&self, why: DropReason, samples: usize) {
        let c = match why {
            DropReason::Rejected => &self.dropped_rejected,
            DropReason::TooOld => &self.dropped_too_old,
            DropReason::QueueFull => &self.dropped_queue_full,
            DropReason::SpoolFull => &self.dropped_spool_full,
        };
        c.fetch_add(samples as u64, Relaxed);
    }
}

/// A remote's spool and the segment being sent from it.
struct Spooled {
    spool: Spool,
    /// The batches of the oldest segment not sent yet, and its number: the segment stays on
    /// disk until all of them are sent (a crash then sends it again rather than losing it).
    draining: VecDeque<Batch>,
    draining_seq: Option<u64>,
}

/// What waits for one remote: the oldest segment of the spool (`draining`), the spool's other
/// segments, then the memory queue, in that order.
struct Buffers {
    queue: Queue,
    spool: Option<Spooled>,
}

/// The first batch to send: (body, samples, highest timestamp, built, id).
type Front = (Vec<u8>, usize, i64, Instant, u64);

/// One remote's buffers, shared by the gatherer (which appends) and its sender.
pub struct RemoteState {
    cfg: Mutex<Arc<Remote>>,
    buf: Mutex<Buffers>,
    wake: Condvar,
    pub stats: Stats,
    /// Set when promlet stops or a reload removes the remote: the sender makes one last
    /// attempt at what is in memory, keeps the rest in the spool, and ends.
    stopping: AtomicBool,
}

fn to_record(b: Batch) -> Record {
    let age = b.created.elapsed().as_millis().min(i64::MAX as u128) as i64;
    Record {
        created_ms: now_ms().saturating_sub(age),
        max_ts_ms: b.max_ts_ms,
        samples: b.samples.min(u32::MAX as usize) as u32,
        body: b.body,
    }
}

fn from_record(r: Record, id: u64) -> Batch {
    let age = Duration::from_millis(now_ms().saturating_sub(r.created_ms).max(0) as u64);
    Batch {
        body: r.body,
        samples: r.samples as usize,
        max_ts_ms: r.max_ts_ms,
        created: Instant::now().checked_sub(age).unwrap_or_else(Instant::now),
        id,
    }
}

/// The directory name of a remote's spool: a hash of its url (and of its name when two remotes
/// share the url), so that it follows the remote across restarts and reloads.
pub fn spool_key(all: &[Remote], r: &Remote) -> String {
    if all.iter().filter(|o| o.url == r.url).count() > 1 {
        format!("{}\n{}", r.url, r.name)
    } else {
        r.url.clone()
    }
}

impl RemoteState {
    /// A remote's state; with `spool`, its spool directory is opened (made) and what a previous
    /// run left there is sent first.
    pub fn new(cfg: Remote, key: &str, spool: Option<&SpoolConfig>) -> Result<RemoteState, String> {
        let spool = match spool {
            None => None,
            Some(s) => {
                let dir = s
                    .directory
                    .join(format!("{:08x}", crate::crc32::crc32(key.as_bytes())));
                let spool = Spool::open(&dir, key, s.max_bytes)
                    .map_err(|e| format!("remote_write {}: {e}", cfg.name))?;
                if !spool.is_empty() {
                    crate::info!(
                        "remote_write {}: {} bytes in the spool {} from before, sent first",
                        cfg.name,
                        spool.bytes(),
                        dir.display()
                    );
                }
                Some(Spooled {
                    spool,
                    draining: VecDeque::new(),
                    draining_seq: None,
                })
            }
        };
        let state = RemoteState {
            buf: Mutex::new(Buffers {
                queue: Queue::new(cfg.max_buffer_bytes),
                spool,
            }),
            cfg: Mutex::new(Arc::new(cfg)),
            wake: Condvar::new(),
            stats: Stats::default(),
            stopping: AtomicBool::new(false),
        };
        state.enforce_spool_cap();
        Ok(state)
    }

    /// A spool left larger than today's cap (spool_max_bytes was lowered): the oldest goes.
    fn enforce_spool_cap(&self) {
        let mut g = self.buf();
        let Some(sp) = g.spool.as_mut() else {
            return;
        };
        let mut dropped = 0;
        while sp.spool.bytes() > sp.spool.max_bytes() {
            let Some(seq) = sp.spool.oldest_seq() else {
                break;
            };
            dropped += sp.spool.samples_in(seq) as usize;
            sp.spool.remove(seq);
        }
        drop(g);
        if dropped > 0 {
            self.stats.dropped(DropReason::SpoolFull, dropped);
            crate::warn!(
                "remote_write {}: spool over spool_max_bytes, dropped the oldest {dropped} samples",
                self.cfg().name
            );
        }
    }

    /// The remote's current settings.
    pub fn cfg(&self) -> Arc<Remote> {
        self.cfg.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn buf(&self) -> MutexGuard<'_, Buffers> {
        self.buf.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// New settings from a reload (same url).
    fn set_cfg(&self, cfg: Remote, spool_max: Option<u64>) {
        let mut b = self.buf();
        b.queue.set_max_bytes(cfg.max_buffer_bytes);
        if let (Some(sp), Some(max)) = (b.spool.as_mut(), spool_max) {
            sp.spool.set_max_bytes(max);
        }
        drop(b);
        *self.cfg.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(cfg);
    }

    fn enqueue(&self, b: Batch) {
        let mut g = self.buf();
        let Buffers { queue, spool } = &mut *g;
        if let Some(sp) = spool.as_mut() {
            if !queue.fits(b.body.len()) {
                // The oldest half goes to disk in one segment: few, large writes.
                let out = queue.take_oldest((queue.max_bytes() / 2).max(b.body.len()));
                self.spill(sp, out);
            }
        }
        let d = queue.push(b);
        drop(g);
        if d.samples > 0 {
            self.stats.dropped(DropReason::QueueFull, d.samples);
            crate::warn!(
                "remote_write {}: queue full, dropped the oldest {} samples",
                self.cfg().name,
                d.samples
            );
        }
        self.wake.notify_all();
    }

    /// Writes `batches` (the newest data of the spool) as a new segment, deleting the oldest
    /// segments (and the one being sent) while the cap would be passed.
    fn spill(&self, sp: &mut Spooled, batches: Vec<Batch>) {
        let mut records: Vec<Record> = batches.into_iter().map(to_record).collect();
        let mut dropped = 0usize;
        while !sp.spool.fits(&records) {
            let Some(seq) = sp.spool.oldest_seq() else {
                break;
            };
            if sp.draining_seq == Some(seq) {
                dropped += sp.draining.drain(..).map(|b| b.samples).sum::<usize>();
                sp.draining_seq = None;
            } else {
                dropped += sp.spool.samples_in(seq) as usize;
            }
            sp.spool.remove(seq);
        }
        while !records.is_empty() && !sp.spool.fits_alone(&records) {
            dropped += records.remove(0).samples as usize;
        }
        let name = self.cfg().name.clone();
        if dropped > 0 {
            self.stats.dropped(DropReason::SpoolFull, dropped);
            crate::warn!("remote_write {name}: spool full, dropped the oldest {dropped} samples");
        }
        if records.is_empty() {
            return;
        }
        let samples: usize = records.iter().map(|r| r.samples as usize).sum();
        match sp.spool.append(&records) {
            Ok(()) => crate::info!(
                "remote_write {name}: {samples} samples written to the spool ({} bytes there)",
                sp.spool.bytes()
            ),
            Err(e) => {
                self.stats.spool_errors.fetch_add(1, Relaxed);
                self.stats.dropped(DropReason::QueueFull, samples);
                crate::error!("remote_write {name}: {e}; dropped {samples} samples");
            }
        }
    }

    /// The batch to send next, reading the spool's oldest segment when its turn comes.
    fn front(&self, g: &mut Buffers) -> Option<Front> {
        let clone = |b: &Batch| (b.body.clone(), b.samples, b.max_ts_ms, b.created, b.id);
        let Buffers { queue, spool } = g;
        if let Some(sp) = spool.as_mut() {
            loop {
                if let Some(b) = sp.draining.front() {
                    return Some(clone(b));
                }
                if let Some(seq) = sp.draining_seq.take() {
                    sp.spool.remove(seq);
                }
                // Stopping: what is on disk stays there for the next start.
                if self.stopping.load(Relaxed) {
                    break;
                }
                let Some(read) = sp.spool.read_oldest() else {
                    break;
                };
                if let Some(p) = &read.problem {
                    self.stats.spool_errors.fetch_add(1, Relaxed);
                    crate::error!(
                        "remote_write {}: spool: {p}; sending the {} whole records before it and skipping the rest",
                        self.cfg().name,
                        read.records.len()
                    );
                }
                sp.draining = read
                    .records
                    .into_iter()
                    .map(|r| from_record(r, queue.new_id()))
                    .collect();
                sp.draining_seq = Some(read.seq);
            }
        }
        queue.front().map(clone)
    }

    /// Removes the batch just handled, unless it was dropped meanwhile (queue or spool full).
    fn pop_sent(&self, id: u64) {
        let mut g = self.buf();
        if let Some(sp) = g.spool.as_mut() {
            if sp.draining.front().is_some_and(|b| b.id == id) {
                sp.draining.pop_front();
                if sp.draining.is_empty() {
                    if let Some(seq) = sp.draining_seq.take() {
                        sp.spool.remove(seq);
                    }
                }
                return;
            }
        }
        if g.queue.front().is_some_and(|b| b.id == id) {
            g.queue.pop();
        }
    }

    /// Stopping: what was not sent goes to the spool (if there is one). Safe to call twice.
    fn persist(&self) {
        let mut g = self.buf();
        let Buffers { queue, spool } = &mut *g;
        let Some(sp) = spool.as_mut() else {
            return;
        };
        let name = self.cfg().name.clone();
        if let Some(seq) = sp.draining_seq.take() {
            let rest: Vec<Record> = sp.draining.drain(..).map(to_record).collect();
            if let Err(e) = sp.spool.replace(seq, &rest) {
                self.stats.spool_errors.fetch_add(1, Relaxed);
                crate::error!("remote_write {name}: {e}");
            }
        }
        let all = queue.take_oldest(usize::MAX);
        if !all.is_empty() {
            self.spill(sp, all);
        }
    }

    /// (bytes, samples) waiting in memory.
    pub fn pending(&self) -> (usize, usize) {
        let g = self.buf();
        let (mut bytes, mut samples) = (g.queue.bytes(), g.queue.samples());
        if let Some(sp) = &g.spool {
            bytes += sp.draining.iter().map(|b| b.body.len()).sum::<usize>();
            samples += sp.draining.iter().map(|b| b.samples).sum::<usize>();
        }
        (bytes, samples)
    }

    /// Bytes in the spool, None without one.
    pub fn spool_bytes(&self) -> Option<u64> {
        self.buf().spool.as_ref().map(|s| s.spool.bytes())
    }
}

/// A checked new configuration, waiting for [`Push::installer`].
pub struct Reload {
    cfg: Config,
    /// Each remote of the new configuration: its state (kept when the url stays) and settings.
    remotes: Vec<(Arc<RemoteState>, Remote)>,
}

/// What the gatherer and [`Push`] share.
struct Shared {
    remotes: Mutex<Vec<Arc<RemoteState>>>,
    /// The spool settings the remotes were opened with.
    spool: Mutex<Option<SpoolConfig>>,
    reload: Mutex<Option<Reload>>,
    /// Tells the gatherer to write the final staleness markers and end.
    stop_gather: AtomicBool,
    /// Wakes the gatherer for a reload or the stop (with `reload`'s lock), so that between
    /// gathers it sleeps for the whole interval rather than waking to look.
    wake_gather: Condvar,
    transport: Arc<dyn Transport>,
    senders: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Shared {
    /// Sleeps until `until`, a reload or the stop; true for the stop.
    fn sleep_gather(&self, until: Instant) -> bool {
        let mut g = self.reload.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.stop_gather.load(Relaxed) {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if g.is_some() || left.is_zero() {
                return false;
            }
            g = self
                .wake_gather
                .wait_timeout(g, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    fn remotes(&self) -> Vec<Arc<RemoteState>> {
        self.remotes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn spawn_sender(&self, r: &Arc<RemoteState>) {
        let (r, t) = (r.clone(), self.transport.clone());
        let spawned = std::thread::Builder::new()
            .name("remote-write".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                send_loop(&r, &*t);
                r.persist();
            });
        match spawned {
            Ok(h) => self
                .senders
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(h),
            Err(e) => crate::error!("remote_write: start sender: {e}"),
        }
    }
}

/// The running push.
pub struct Push {
    shared: Arc<Shared>,
    gatherer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A batch is also cut once its encoded series reach this many bytes, whatever
/// `max_samples_per_send` allows: what a gather holds at once (the batch, and the room to
/// compress it) stays small on a router, while a request still carries a few hundred series.
pub const MAX_BATCH_BYTES: usize = 32 * 1024;

/// Accumulates encoded series into batches for one remote.
struct Batcher<'a> {
    remote: &'a RemoteState,
    max_samples: usize,
    buf: Vec<u8>,
    samples: usize,
    max_ts: i64,
}

impl Batcher<'_> {
    fn new(remote: &RemoteState) -> Batcher<'_> {
        Batcher {
            remote,
            max_samples: remote.cfg().max_samples_per_send,
            buf: crate::spare::take(),
            samples: 0,
            max_ts: i64::MIN,
        }
    }

    fn add(&mut self, s: &SeriesRef<'_>) {
        wire::put_series(&mut self.buf, s);
        self.samples += s.samples.len();
        if let Some(t) = s.samples.iter().map(|(t, _)| *t).max() {
            self.max_ts = self.max_ts.max(t);
        }
        if self.samples >= self.max_samples || self.buf.len() >= MAX_BATCH_BYTES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.samples == 0 {
            return;
        }
        match wire::compress(&self.buf) {
            Ok(body) => self.remote.enqueue(Batch {
                body,
                samples: self.samples,
                max_ts_ms: self.max_ts,
                created: Instant::now(),
                id: 0,
            }),
            Err(e) => crate::error!("remote_write {}: {e}", self.remote.cfg().name),
        }
        self.buf.clear();
        self.samples = 0;
        self.max_ts = i64::MIN;
    }
}

impl Drop for Batcher<'_> {
    fn drop(&mut self) {
        crate::spare::give_back(std::mem::take(&mut self.buf));
    }
}

/// Remote states for `cfg`, reusing those of `old` whose url stays (the same name first,
/// when two remotes share a url).
fn match_remotes(
    cfg: &Config,
    old: &[Arc<RemoteState>],
) -> Result<Vec<(Arc<RemoteState>, Remote)>, String> {
    let mut free: Vec<(Arc<RemoteState>, Arc<Remote>)> =
        old.iter().map(|r| (r.clone(), r.cfg())).collect();
    let mut out = Vec::new();
    for r in &cfg.remotes {
        let i = free
            .iter()
            .position(|(_, o)| o.url == r.url && o.name == r.name)
            .or_else(|| free.iter().position(|(_, o)| o.url == r.url));
        let state = match i {
            Some(i) => free.remove(i).0,
            None => Arc::new(RemoteState::new(
                r.clone(),
                &spool_key(&cfg.remotes, r),
                cfg.spool.as_ref(),
            )?),
        };
        out.push((state, r.clone()));
    }
    Ok(out)
}

impl Push {
    /// Opens the spools and starts the gatherer and the senders.
    pub fn start(
        cfg: Config,
        gather: Gather,
        transport: Arc<dyn Transport>,
    ) -> Result<Push, String> {
        let remotes: Vec<Arc<RemoteState>> = match_remotes(&cfg, &[])?
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        let shared = Arc::new(Shared {
            remotes: Mutex::new(remotes.clone()),
            spool: Mutex::new(cfg.spool.clone()),
            reload: Mutex::new(None),
            stop_gather: AtomicBool::new(false),
            wake_gather: Condvar::new(),
            transport,
            senders: Mutex::new(Vec::new()),
        });
        for r in &remotes {
            shared.spawn_sender(r);
        }
        let sh = shared.clone();
        let gatherer = std::thread::Builder::new()
            .name("push-gather".into())
            .stack_size(256 * 1024)
            .spawn(move || gather_loop(cfg, &gather, &sh))
            .map_err(|e| crate::error!("remote_write: start gatherer: {e}"))
            .ok();
        Ok(Push {
            shared,
            gatherer: Mutex::new(gatherer),
        })
    }

    /// The remotes being pushed to.
    pub fn remotes(&self) -> Vec<Arc<RemoteState>> {
        self.shared.remotes()
    }

    /// Checks a new configuration (opening the spools of new remotes) without changing
    /// anything yet.
    pub fn prepare(&self, cfg: Config) -> Result<Reload, String> {
        let remotes = match_remotes(&cfg, &self.shared.remotes())?;
        Ok(Reload { cfg, remotes })
    }

    /// What hands a prepared configuration to the gatherer, which applies it at once
    /// (between two gathers).
    pub fn installer(&self, r: Reload) -> impl FnOnce() + Send + 'static {
        let shared = self.shared.clone();
        move || {
            *shared.reload.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            shared.wake_gather.notify_all();
        }
    }

    /// Writes stale markers, gives the senders until `deadline` to deliver what is queued,
    /// keeps what is left in the spool, and stops every thread.
    pub fn stop(&self, deadline: Instant) {
        {
            // Under the lock the gatherer sleeps with, so the wake-up cannot be missed.
            let _g = self.shared.reload.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.stop_gather.store(true, Relaxed);
            self.shared.wake_gather.notify_all();
        }
        let wait = |h: std::thread::JoinHandle<()>| {
            // A thread stuck in a send returns when that send's own deadline passes.
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        };
        if let Some(h) = self
            .gatherer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            wait(h);
        }
        // Only now: the markers are queued.
        let remotes = self.shared.remotes();
        for r in &remotes {
            r.stopping.store(true, Relaxed);
            r.wake.notify_all();
        }
        let senders = std::mem::take(
            &mut *self
                .shared
                .senders
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for h in senders {
            wait(h);
        }
        // A sender still stuck in a send past the deadline: its data is kept all the same.
        for r in &remotes {
            r.persist();
        }
    }

    /// promlet's own metrics about pushing, one series per remote.
    pub fn write_metrics(&self, enc: &mut Encoder) {
        type Get = fn(&RemoteState) -> f64;
        fn c(a: &AtomicU64) -> f64 {
            a.load(Relaxed) as f64
        }
        let remotes = self.shared.remotes();
        let names: Vec<Arc<Remote>> = remotes.iter().map(|r| r.cfg()).collect();
        let families: [(&str, &str, MetricType, Get); 8] = [
            (
                "promlet_remote_write_samples_sent_total",
                "Samples the remote accepted.",
                MetricType::Counter,
                |r| c(&r.stats.samples_sent),
            ),
            (
                "promlet_remote_write_samples_retried_total",
                "Samples sent again after a 5xx, a 429 or no answer.",
                MetricType::Counter,
                |r| c(&r.stats.samples_retried),
            ),
            (
                "promlet_remote_write_samples_failed_total",
                "Samples of attempts that failed (each failed attempt counts its samples).",
                MetricType::Counter,
                |r| c(&r.stats.samples_failed),
            ),
            (
                "promlet_remote_write_bytes_sent_total",
                "Compressed request bytes the remote accepted.",
                MetricType::Counter,
                |r| c(&r.stats.bytes_sent),
            ),
            (
                "promlet_remote_write_queue_bytes",
                "Compressed bytes waiting in memory to be sent.",
                MetricType::Gauge,
                |r| r.pending().0 as f64,
            ),
            (
                "promlet_remote_write_queue_samples",
                "Samples waiting in memory to be sent.",
                MetricType::Gauge,
                |r| r.pending().1 as f64,
            ),
            (
                "promlet_remote_write_highest_sent_timestamp_seconds",
                "Highest sample timestamp the remote accepted.",
                MetricType::Gauge,
                |r| c(&r.stats.highest_sent_ms) / 1000.0,
            ),
            (
                "promlet_remote_write_last_success_timestamp_seconds",
                "When the remote last accepted a request.",
                MetricType::Gauge,
                |r| c(&r.stats.last_success_ms) / 1000.0,
            ),
        ];
        for (name, help, typ, get) in families {
            let mut f = enc.family(name, help, typ);
            for (r, cfg) in remotes.iter().zip(&names) {
                f.sample(&[("remote", &cfg.name)], get(r));
            }
        }
        let mut f = enc.family(
            "promlet_remote_write_samples_dropped_total",
            "Samples given up, by reason: rejected (4xx other than 429), too_old (still failing after max_sample_age), queue_full (pushed out by newer data), spool_full (deleted from the spool by its cap).",
            MetricType::Counter,
        );
        for (r, cfg) in remotes.iter().zip(&names) {
            for (why, v) in [
                ("rejected", &r.stats.dropped_rejected),
                ("too_old", &r.stats.dropped_too_old),
                ("queue_full", &r.stats.dropped_queue_full),
                ("spool_full", &r.stats.dropped_spool_full),
            ] {
                f.sample(&[("reason", why), ("remote", &cfg.name)], c(v));
            }
        }
        let spooled: Vec<(&Arc<Remote>, u64, f64)> = remotes
            .iter()
            .zip(&names)
            .filter_map(|(r, cfg)| Some((cfg, r.spool_bytes()?, c(&r.stats.spool_errors))))
            .collect();
        if !spooled.is_empty() {
            let mut f = enc.family(
                "promlet_remote_write_spool_bytes",
                "Bytes in the on-disk spool, waiting to be sent.",
                MetricType::Gauge,
            );
            for (cfg, bytes, _) in &spooled {
                f.sample(&[("remote", &cfg.name)], *bytes as f64);
            }
            let mut f = enc.family(
                "promlet_remote_write_spool_errors_total",
                "Spool files found truncated or corrupt (their damaged part skipped), or that could not be written.",
                MetricType::Counter,
            );
            for (cfg, _, errors) in &spooled {
                f.sample(&[("remote", &cfg.name)], *errors);
            }
        }
    }
}

/// Sleeps until `until` or until `stop` says so; true if stopped.
fn sleep_until(stop: impl Fn() -> bool, until: Instant) -> bool {
    while !stop() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
    true
}

fn targets_of(cfg: &Config) -> Vec<Target> {
    cfg.paths
        .iter()
        .map(|p| Target {
            job: p.job.clone(),
            instance: cfg.instance.clone(),
            external: cfg.external_labels.clone(),
        })
        .collect()
}

fn same_target(a: &Target, b: &Target) -> bool {
    a.job == b.job && a.instance == b.instance && a.external == b.external
}

/// The gatherer's state across gathers.
struct Gathering {
    cfg: Config,
    targets: Vec<Target>,
    histories: Vec<History>,
    /// Whether the last scrape of a path failed, to log changes rather than every failure.
    failing: Vec<bool>,
}

impl Gathering {
    fn new(cfg: Config) -> Gathering {
        Gathering {
            targets: targets_of(&cfg),
            histories: cfg.paths.iter().map(|_| History::default()).collect(),
            failing: vec![false; cfg.paths.len()],
            cfg,
        }
    }

    /// Applies a reload: stale markers for the series whose labels change, the remotes
    /// swapped (senders started for new ones, removed ones told to finish).
    fn apply(&mut self, rl: Reload, shared: &Shared) {
        let old = shared.remotes();
        let targets = targets_of(&rl.cfg);
        let ts = now_ms();
        let mut batchers: Vec<Batcher<'_>> = old.iter().map(|r| Batcher::new(r)).collect();
        let mut histories = Vec::with_capacity(rl.cfg.paths.len());
        let mut failing = Vec::with_capacity(rl.cfg.paths.len());
        let mut carried = vec![false; self.cfg.paths.len()];
        for (j, p) in rl.cfg.paths.iter().enumerate() {
            let i = self
                .cfg
                .paths
                .iter()
                .position(|o| o.path == p.path)
                .filter(|i| same_target(&self.targets[*i], &targets[j]));
            if let Some(i) = i {
                carried[i] = true;
            }
            histories
                .push(i.map_or_else(History::default, |i| std::mem::take(&mut self.histories[i])));
            failing.push(i.is_some_and(|i| self.failing[i]));
        }
        // The series of the paths not carried over end now.
        for (i, h) in self.histories.iter_mut().enumerate() {
            if carried[i] {
                continue;
            }
            let mut emit = |s: &SeriesRef<'_>| {
                for b in batchers.iter_mut() {
                    b.add(s);
                }
            };
            series::stop(&self.targets[i], h, ts, &mut emit);
        }
        for b in batchers.iter_mut() {
            b.flush();
        }
        drop(batchers);
        let spool_max = rl.cfg.spool.as_ref().map(|s| s.max_bytes);
        let was = shared
            .spool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut new = Vec::with_capacity(rl.remotes.len());
        for (state, cfg) in rl.remotes {
            if old.iter().any(|o| Arc::ptr_eq(o, &state)) {
                if was.as_ref().map(|s| &s.directory) != rl.cfg.spool.as_ref().map(|s| &s.directory)
                {
                    crate::warn!(
                        "remote_write {}: a new spool_directory applies to this remote at the next start",
                        cfg.name
                    );
                }
                state.set_cfg(cfg, spool_max);
            } else {
                shared.spawn_sender(&state);
            }
            new.push(state);
        }
        for o in &old {
            if !new.iter().any(|n| Arc::ptr_eq(n, o)) {
                crate::info!("remote_write {}: removed by the reload", o.cfg().name);
                o.stopping.store(true, Relaxed);
                o.wake.notify_all();
            }
        }
        *shared.remotes.lock().unwrap_or_else(|e| e.into_inner()) = new;
        *shared.spool.lock().unwrap_or_else(|e| e.into_inner()) = rl.cfg.spool.clone();
        for r in shared.remotes() {
            let c = r.cfg();
            crate::info!(
                "push: every {:?} to {} ({})",
                rl.cfg.interval,
                c.name,
                c.url
            );
        }
        self.cfg = rl.cfg;
        self.targets = targets;
        self.histories = histories;
        self.failing = failing;
    }

    /// One gather of every path, appended to every remote's queue.
    fn gather(&mut self, gather: &Gather, remotes: &[Arc<RemoteState>]) {
        let mut batchers: Vec<Batcher<'_>> = remotes.iter().map(|r| Batcher::new(r)).collect();
        let ts = now_ms();
        for (i, p) in self.cfg.paths.iter().enumerate() {
            let t0 = Instant::now();
            let got = gather(&p.path).and_then(|t| decode_text(t).map_err(|e| e.to_string()));
            let took = t0.elapsed().as_secs_f64();
            match &got {
                Err(e) if !self.failing[i] => {
                    crate::warn!("push: gathering {} failed: {e}", p.path);
                    self.failing[i] = true;
                }
                Ok(_) if self.failing[i] => {
                    crate::info!("push: gathering {} works again", p.path);
                    self.failing[i] = false;
                }
                _ => {}
            }
            let mut emit = |s: &SeriesRef<'_>| {
                for b in batchers.iter_mut() {
                    b.add(s);
                }
            };
            let got = got.ok();
            series::scrape(
                &self.targets[i],
                &mut self.histories[i],
                got.as_ref(),
                ts,
                took,
                &mut emit,
            );
            // The body's buffer serves the next gather.
            if let Some(d) = got {
                crate::spare::give_back(d.into_text().into_bytes());
            }
        }
        for b in batchers.iter_mut() {
            b.flush();
        }
    }
}

fn gather_loop(cfg: Config, gather: &Gather, shared: &Shared) {
    let mut g = Gathering::new(cfg);
    let mut last = Instant::now();
    let mut next = last;
    loop {
        let rl = shared
            .reload
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(rl) = rl {
            g.apply(rl, shared);
            // The new interval counts from the last gather.
            next = (last + g.cfg.interval).max(Instant::now());
        }
        if Instant::now() >= next {
            last = Instant::now();
            let remotes = shared.remotes();
            if !remotes.is_empty() {
                g.gather(gather, &remotes);
            }
            next += g.cfg.interval;
            // After a long stall, start from now rather than catching up with a burst.
            if next < Instant::now() {
                next = Instant::now() + g.cfg.interval;
            }
        }
        if shared.sleep_gather(next) {
            break;
        }
    }
    // Stopping: every series ends now.
    let remotes = shared.remotes();
    let mut batchers: Vec<Batcher<'_>> = remotes.iter().map(|r| Batcher::new(r)).collect();
    let ts = now_ms();
    for (i, h) in g.histories.iter_mut().enumerate() {
        let mut emit = |s: &SeriesRef<'_>| {
            for b in batchers.iter_mut() {
                b.add(s);
            }
        };
        series::stop(&g.targets[i], h, ts, &mut emit);
    }
    for b in batchers.iter_mut() {
        b.flush();
    }
}

fn send_loop(r: &RemoteState, t: &dyn Transport) {
    let mut seen = r.cfg();
    let mut backoff = Backoff::new(seen.min_backoff, seen.max_backoff);
    let mut conn = crate::httpc::Kept::default();
    // Whether the remote was failing, to log changes rather than every failure.
    let mut failing = false;
    loop {
        let (body, samples, max_ts, created, id) = {
            let mut g = r.buf();
            loop {
                if let Some(f) = r.front(&mut g) {
                    break f;
                }
                // Stopped and nothing left to deliver.
                if r.stopping.load(Relaxed) {
                    return;
                }
                g = r
                    .wake
                    .wait_timeout(g, Duration::from_millis(500))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
        };
        let cfg = r.cfg();
        // A reload's new min_backoff and max_backoff, and a new connection for its url,
        // credentials or TLS settings.
        if !Arc::ptr_eq(&cfg, &seen) {
            backoff = Backoff::new(cfg.min_backoff, cfg.max_backoff);
            conn = crate::httpc::Kept::default();
            seen = cfg.clone();
        }
        let sent = t.send(&cfg, &body, Instant::now() + cfg.timeout, &mut conn);
        let v = verdict(sent.attempt, created.elapsed(), cfg.max_sample_age);
        match v {
            Verdict::Sent => {
                if failing {
                    crate::info!("remote_write {}: sending again", cfg.name);
                    failing = false;
                }
                r.stats.samples_sent.fetch_add(samples as u64, Relaxed);
                r.stats.bytes_sent.fetch_add(body.len() as u64, Relaxed);
                if max_ts > 0 {
                    r.stats.highest_sent_ms.fetch_max(max_ts as u64, Relaxed);
                }
                r.stats
                    .last_success_ms
                    .store(now_ms().max(0) as u64, Relaxed);
                backoff.reset();
                r.pop_sent(id);
            }
            Verdict::Drop(why) => {
                crate::warn!(
                    "remote_write {}: dropped {samples} samples ({}): {}",
                    cfg.name,
                    why.as_str(),
                    sent.message
                );
                r.stats.samples_failed.fetch_add(samples as u64, Relaxed);
                r.stats.dropped(why, samples);
                r.pop_sent(id);
            }
            Verdict::Retry => {
                if !failing {
                    crate::warn!("remote_write {}: {} (retrying)", cfg.name, sent.message);
                    failing = true;
                }
                r.stats.samples_failed.fetch_add(samples as u64, Relaxed);
                r.stats.samples_retried.fetch_add(samples as u64, Relaxed);
                // When stopping, a remote that does not take the last batches is given up on
                // (they stay in the spool, if there is one).
                if r.stopping.load(Relaxed) {
                    return;
                }
                let wait = backoff.wait(sent.retry_after);
                if sleep_until(|| r.stopping.load(Relaxed), Instant::now() + wait) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::config::PushPath;

    /// A remote-write body back into (labels, samples) per series: a test-only reading of the
    /// few fields `wire` writes.
    /// One decoded series: its labels and samples.
    type Decoded = (Vec<(String, String)>, Vec<(i64, f64)>);

    fn decode(body: &[u8]) -> Vec<Decoded> {
        fn varint(b: &[u8], i: &mut usize) -> u64 {
            let (mut v, mut shift) = (0u64, 0);
            loop {
                let c = b[*i];
                *i += 1;
                v |= u64::from(c & 0x7f) << shift;
                if c < 0x80 {
                    return v;
                }
                shift += 7;
            }
        }
        fn fields(b: &[u8]) -> Vec<(u8, &[u8], u64)> {
            let (mut i, mut out) = (0, Vec::new());
            while i < b.len() {
                let tag = b[i];
                i += 1;
                match tag & 7 {
                    0 => out.push((tag >> 3, &b[0..0], varint(b, &mut i))),
                    1 => {
                        let v = u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
                        i += 8;
                        out.push((tag >> 3, &b[0..0], v));
                    }
                    2 => {
                        let n = varint(b, &mut i) as usize;
                        out.push((tag >> 3, &b[i..i + n], 0));
                        i += n;
                    }
                    t => panic!("wire type {t}"),
                }
            }
            out
        }
        let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
        let mut out = Vec::new();
        for (_, ts, _) in fields(&raw) {
            let (mut labels, mut samples) = (Vec::new(), Vec::new());
            for (f, b, _) in fields(ts) {
                if f == 1 {
                    let l = fields(b);
                    let s = |n| {
                        String::from_utf8(
                            l.iter().find(|x| x.0 == n).map_or(vec![], |x| x.1.to_vec()),
                        )
                        .unwrap()
                    };
                    labels.push((s(1), s(2)));
                } else {
                    let mut t = 0i64;
                    let mut v = 0f64;
                    for (f, _, x) in fields(b) {
                        if f == 1 {
                            v = f64::from_bits(x);
                        } else {
                            t = x as i64;
                        }
                    }
                    samples.push((t, v));
                }
            }
            out.push((labels, samples));
        }
        out
    }

    /// Answers from a script (then 204 for ever) and keeps every body it was sent.
    struct Fake {
        script: Mutex<Vec<Attempt>>,
        bodies: Mutex<Vec<(Attempt, Vec<u8>)>>,
    }

    impl Transport for Fake {
        fn send(&self, _: &Remote, body: &[u8], _: Instant, _: &mut crate::httpc::Kept) -> Sent {
            let mut s = self.script.lock().unwrap();
            let a = if s.is_empty() {
                Attempt::Status(204)
            } else {
                s.remove(0)
            };
            self.bodies.lock().unwrap().push((a, body.to_vec()));
            Sent {
                attempt: a,
                retry_after: None,
                message: format!("{a:?}"),
            }
        }
    }

    fn config(max_samples: usize) -> Config {
        Config {
            interval: Duration::from_millis(50),
            external_labels: vec![("site".into(), "lab".into())],
            instance: "box".into(),
            paths: vec![PushPath {
                path: "/metrics".into(),
                job: "node".into(),
            }],
            remotes: vec![Remote {
                url: "http://127.0.0.1:1/api/v1/write".into(),
                name: "r".into(),
                timeout: Duration::from_secs(1),
                headers: vec![],
                auth: None,
                #[cfg(feature = "tls")]
                tls: None,
                max_samples_per_send: max_samples,
                min_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(5),
                max_buffer_bytes: 1 << 20,
                max_sample_age: Duration::from_secs(3600),
            }],
            spool: None,
        }
    }

    fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn start(script: Vec<Attempt>, max_samples: usize) -> (Push, Arc<Fake>) {
        let fake = Arc::new(Fake {
            script: Mutex::new(script),
            bodies: Mutex::new(Vec::new()),
        });
        let gather: Gather = Box::new(|path| {
            assert_eq!(path, "/metrics");
            Ok("a 1\nb{x=\"1\"} 2\n".to_string())
        });
        (
            Push::start(config(max_samples), gather, fake.clone()).unwrap(),
            fake,
        )
    }

    #[test]
    fn outage_is_bridged_in_order_and_nothing_lost() {
        let (push, fake) = start(vec![Attempt::Transport; 6], 1000);
        let r = push.remotes()[0].clone();
        wait_until("20 delivered", || {
            r.stats.samples_sent.load(Relaxed) >= 20 * 7
        });
        push.stop(Instant::now() + Duration::from_secs(5));
        let bodies = fake.bodies.lock().unwrap();
        let delivered: Vec<_> = bodies
            .iter()
            .filter(|(a, _)| *a == Attempt::Status(204))
            .map(|(_, b)| decode(b))
            .collect();
        // Every gather: 2 samples + 5 synthetic series, one batch; timestamps only grow.
        let mut last = 0;
        for series in &delivered[..delivered.len() - 1] {
            assert_eq!(series.len(), 7);
            let t = series[0].1[0].0;
            assert!(t > last, "out of order");
            last = t;
        }
        assert_eq!(r.stats.samples_retried.load(Relaxed), 6 * 7);
        assert_eq!(r.stats.dropped_queue_full.load(Relaxed), 0);
        let first = &delivered[0];
        assert_eq!(
            first[0].0,
            [
                ("__name__".to_string(), "a".to_string()),
                ("instance".into(), "box".into()),
                ("job".into(), "node".into()),
                ("site".into(), "lab".into())
            ]
        );
        assert_eq!(first[2].0[0].1, "up");
        assert_eq!(first[2].1[0].1, 1.0);
        // The last batch: staleness markers for every series.
        let stale = delivered.last().unwrap();
        assert_eq!(stale.len(), 7);
        assert!(stale
            .iter()
            .all(|(_, s)| s[0].1.to_bits() == crate::push::wire::STALE_NAN));
    }

    #[test]
    fn rejected_batches_are_dropped_not_retried() {
        let (push, fake) = start(vec![Attempt::Status(400); 3], 1000);
        let r = push.remotes()[0].clone();
        wait_until("some delivered", || r.stats.samples_sent.load(Relaxed) >= 7);
        push.stop(Instant::now() + Duration::from_secs(5));
        assert_eq!(r.stats.dropped_rejected.load(Relaxed), 3 * 7);
        assert_eq!(r.stats.samples_retried.load(Relaxed), 0);
        let bodies = fake.bodies.lock().unwrap();
        // Three different batches got the 400s: none was sent twice.
        let rejected: Vec<&Vec<u8>> = bodies
            .iter()
            .filter(|(a, _)| *a == Attempt::Status(400))
            .map(|(_, b)| b)
            .collect();
        assert_eq!(rejected.len(), 3);
        assert_ne!(decode(rejected[0])[0].1, decode(rejected[1])[0].1);
    }

    #[test]
    fn batches_are_cut_at_max_batch_bytes_too() {
        let fake = Arc::new(Fake {
            script: Mutex::new(vec![]),
            bodies: Mutex::new(Vec::new()),
        });
        // 2,000 series of about 90 bytes each: several batches' worth of bytes, one of samples.
        let text: String = (0..2000)
            .map(|i| format!("m{{long=\"{i:0>40}\"}} {i}\n"))
            .collect();
        let gather: Gather = Box::new(move |_| Ok(text.clone()));
        let push = Push::start(config(100_000), gather, fake.clone()).unwrap();
        let r = push.remotes()[0].clone();
        wait_until("a gather delivered", || {
            r.stats.samples_sent.load(Relaxed) >= 2005
        });
        push.stop(Instant::now() + Duration::from_secs(5));
        let bodies = fake.bodies.lock().unwrap();
        assert!(bodies.len() > 2, "{} requests", bodies.len());
        for (_, b) in bodies.iter() {
            let raw = snap::raw::decompress_len(b).unwrap();
            assert!(raw < MAX_BATCH_BYTES + 200, "a request of {raw} bytes");
        }
        let first: usize = decode(&bodies[0].1).len();
        assert!(first > 100, "{first} series in the first request");
    }

    #[test]
    fn batches_hold_at_most_max_samples_per_send() {
        let (push, fake) = start(vec![], 3);
        let r = push.remotes()[0].clone();
        wait_until("delivered", || r.stats.samples_sent.load(Relaxed) >= 14);
        push.stop(Instant::now() + Duration::from_secs(5));
        for (_, b) in fake.bodies.lock().unwrap().iter() {
            let n: usize = decode(b).iter().map(|(_, s)| s.len()).sum();
            assert!((1..=3).contains(&n), "{n} samples in one request");
        }
    }

    #[test]
    fn own_metrics_per_remote() {
        let (push, _) = start(vec![], 1000);
        let r = push.remotes()[0].clone();
        wait_until("delivered", || r.stats.samples_sent.load(Relaxed) >= 7);
        let mut enc = Encoder::new();
        push.write_metrics(&mut enc);
        push.stop(Instant::now() + Duration::from_secs(5));
        let text = String::from_utf8(enc.into_bytes()).unwrap();
        assert!(
            text.contains("promlet_remote_write_samples_sent_total{remote=\"r\"} "),
            "{text}"
        );
        assert!(
            text.contains(
                "promlet_remote_write_samples_dropped_total{reason=\"too_old\",remote=\"r\"} 0\n"
            ),
            "{text}"
        );
        crate::expfmt::parse_text(&text).unwrap();
    }

    fn spool_dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("promlet-run-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// Samples with a timestamp before `t`, over every body delivered with 204.
    fn delivered_before(fake: &Fake, t: i64) -> usize {
        fake.bodies
            .lock()
            .unwrap()
            .iter()
            .filter(|(a, _)| *a == Attempt::Status(204))
            .flat_map(|(_, b)| decode(b))
            .flat_map(|(_, s)| s)
            .filter(|(ts, _)| *ts < t)
            .count()
    }

    #[test]
    fn spool_keeps_what_was_not_sent_across_a_restart_oldest_first() {
        let dir = spool_dir("restart");
        let mut cfg = config(1000);
        cfg.spool = Some(SpoolConfig {
            directory: dir.clone(),
            max_bytes: 1 << 20,
        });
        let gathers = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let gather = |n: Arc<std::sync::atomic::AtomicUsize>| -> Gather {
            Box::new(move |_| {
                n.fetch_add(1, Relaxed);
                Ok("a 1\nb{x=\"1\"} 2\n".to_string())
            })
        };
        // The remote is down for the whole first run.
        let down = Arc::new(Fake {
            script: Mutex::new(vec![Attempt::Transport; 100_000]),
            bodies: Mutex::new(Vec::new()),
        });
        let push = Push::start(cfg.clone(), gather(gathers.clone()), down.clone()).unwrap();
        wait_until("5 gathers", || gathers.load(Relaxed) >= 5);
        push.stop(Instant::now() + Duration::from_secs(5));
        let spooled = push.remotes()[0].spool_bytes().unwrap();
        assert!(spooled > 0);
        assert_eq!(push.remotes()[0].pending(), (0, 0));
        // Every gather (7 samples) and the staleness markers at stop (7).
        let want = gathers.load(Relaxed) * 7 + 7;
        let restart = now_ms();
        let up = Arc::new(Fake {
            script: Mutex::new(vec![]),
            bodies: Mutex::new(Vec::new()),
        });
        let push = Push::start(cfg, gather(Arc::new(Default::default())), up.clone()).unwrap();
        let r = push.remotes()[0].clone();
        wait_until("the spool sent", || {
            r.spool_bytes() == Some(0) && delivered_before(&up, restart) >= want
        });
        push.stop(Instant::now() + Duration::from_secs(5));
        assert_eq!(delivered_before(&up, restart), want);
        // Oldest first: the first run's batches, in order, then the new ones.
        let firsts: Vec<i64> = up
            .bodies
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| decode(b)[0].1[0].0)
            .collect();
        assert!(firsts.windows(2).all(|w| w[0] <= w[1]), "{firsts:?}");
        assert_eq!(r.stats.dropped_spool_full.load(Relaxed), 0);
        assert_eq!(r.stats.spool_errors.load(Relaxed), 0);
        assert!(std::fs::read_dir(
            dir.join(format!("{:08x}", crate::crc32::crc32(cfg_url().as_bytes())))
        )
        .unwrap()
        .next()
        .is_none());
    }

    fn cfg_url() -> String {
        config(1).remotes[0].url.clone()
    }

    fn batch(id: u64, bytes: usize) -> Batch {
        Batch {
            body: vec![id as u8; bytes],
            samples: id as usize,
            max_ts_ms: id as i64,
            created: Instant::now(),
            id: 0,
        }
    }

    /// Sends everything queued (as a sender would, without threads); the samples counts.
    fn drain(r: &RemoteState) -> Vec<usize> {
        let mut out = Vec::new();
        loop {
            let f = r.front(&mut r.buf());
            let Some((_, samples, _, _, id)) = f else {
                return out;
            };
            out.push(samples);
            r.pop_sent(id);
        }
    }

    #[test]
    fn spool_cap_drops_the_oldest_and_keeps_the_newest_in_order() {
        let dir = spool_dir("cap");
        let mut remote = config(1).remotes.remove(0);
        // Memory for 4 batches of 250 bytes; the spool holds about 3 segments of 2 batches.
        remote.max_buffer_bytes = 1000;
        let spool = SpoolConfig {
            directory: dir.clone(),
            max_bytes: 1700,
        };
        let r = RemoteState::new(remote, "k", Some(&spool)).unwrap();
        for id in 1..=40 {
            r.enqueue(batch(id, 250));
            assert!(r.spool_bytes().unwrap() <= 1700);
        }
        let dropped = r.stats.dropped_spool_full.load(Relaxed) as usize;
        assert!(dropped > 0);
        let left = drain(&r);
        // Nothing lost but the dropped, which were the oldest; the rest in order, newest last.
        assert_eq!(
            left.iter().sum::<usize>() + dropped,
            (1..=40).sum::<usize>()
        );
        assert!(left.windows(2).all(|w| w[0] + 1 == w[1]), "{left:?}");
        assert_eq!(left.last(), Some(&40));
        assert_eq!(r.stats.dropped_queue_full.load(Relaxed), 0);
        assert_eq!(r.spool_bytes(), Some(0));
    }

    #[test]
    fn a_spool_over_a_lowered_cap_loses_its_oldest_at_start() {
        let dir = spool_dir("lowered");
        let remote = config(1).remotes.remove(0);
        let big = SpoolConfig {
            directory: dir.clone(),
            max_bytes: 1 << 20,
        };
        let r = RemoteState::new(remote.clone(), "k", Some(&big)).unwrap();
        for id in 1..=3 {
            r.spill(r.buf().spool.as_mut().unwrap(), vec![batch(id, 400)]);
        }
        drop(r);
        let small = SpoolConfig {
            directory: dir,
            max_bytes: 1000,
        };
        let r = RemoteState::new(remote, "k", Some(&small)).unwrap();
        // Three segments of 443 bytes: the oldest goes.
        assert_eq!(r.stats.dropped_spool_full.load(Relaxed), 1);
        assert_eq!(drain(&r), [2, 3]);
    }

    #[test]
    fn corrupt_spool_segment_is_logged_counted_and_skipped() {
        let dir = spool_dir("corrupt");
        let remote = config(1).remotes.remove(0);
        let spool = SpoolConfig {
            directory: dir.clone(),
            max_bytes: 1 << 20,
        };
        // A previous run left three segments: one cut short (killed mid-write on a disk that
        // does not keep the rename's order), one garbage, one fine.
        let seg_dir = dir.join(format!("{:08x}", crate::crc32::crc32(b"k")));
        std::fs::create_dir_all(&seg_dir).unwrap();
        let rec = |n: u32| Record {
            created_ms: now_ms(),
            max_ts_ms: 1,
            samples: n,
            body: vec![1; 100],
        };
        let cut = super::super::spool::encode("k", &[rec(1), rec(2)]);
        std::fs::write(seg_dir.join("0000000000000001.seg"), &cut[..cut.len() - 10]).unwrap();
        std::fs::write(seg_dir.join("0000000000000002.seg"), b"\xff\x00garbage").unwrap();
        std::fs::write(
            seg_dir.join("0000000000000003.seg"),
            super::super::spool::encode("k", &[rec(3)]),
        )
        .unwrap();
        let r = RemoteState::new(remote, "k", Some(&spool)).unwrap();
        r.enqueue(batch(4, 10));
        assert_eq!(drain(&r), [1, 3, 4]);
        assert_eq!(r.stats.spool_errors.load(Relaxed), 2);
        assert_eq!(std::fs::read_dir(&seg_dir).unwrap().count(), 0);
    }

    #[test]
    fn reload_keeps_the_queue_of_a_remote_that_stays_and_relabels() {
        let (push, fake) = start(vec![Attempt::Transport; 3], 1000);
        let r = push.remotes()[0].clone();
        wait_until("retrying", || r.stats.samples_retried.load(Relaxed) >= 7);
        let mut cfg = config(1000);
        cfg.external_labels = vec![("site".into(), "moved".into())];
        cfg.remotes[0].name = "renamed".into();
        let install = push.installer(push.prepare(cfg).unwrap());
        install();
        wait_until("relabelled data sent", || {
            fake.bodies.lock().unwrap().iter().any(|(a, b)| {
                *a == Attempt::Status(204) && decode(b)[0].0.iter().any(|l| l.1 == "moved")
            })
        });
        // A reload that changes no label (only the interval) ends no series.
        let mut cfg = config(1000);
        cfg.external_labels = vec![("site".into(), "moved".into())];
        cfg.remotes[0].name = "renamed".into();
        cfg.interval = Duration::from_millis(40);
        let seen = fake.bodies.lock().unwrap().len();
        push.installer(push.prepare(cfg).unwrap())();
        wait_until("more sent", || {
            fake.bodies.lock().unwrap().len() >= seen + 5
        });
        push.stop(Instant::now() + Duration::from_secs(5));
        // The same state (its queue went through), under the new name.
        assert!(Arc::ptr_eq(&r, &push.remotes()[0]));
        assert_eq!(r.cfg().name, "renamed");
        assert_eq!(r.stats.dropped_queue_full.load(Relaxed), 0);
        let bodies = fake.bodies.lock().unwrap();
        let sent: Vec<Vec<Decoded>> = bodies
            .iter()
            .filter(|(a, _)| *a == Attempt::Status(204))
            .map(|(_, b)| decode(b))
            .collect();
        // The first batch, retried three times, was delivered; the old series got their
        // staleness markers before the relabelled ones started.
        assert_eq!(sent[0], decode(&bodies[0].1));
        let stale_old = sent.iter().position(|s| {
            s.iter().all(|(l, v)| {
                l.iter().any(|x| x.1 == "lab") && v[0].1.to_bits() == crate::push::wire::STALE_NAN
            })
        });
        let first_new = sent
            .iter()
            .position(|s| s[0].0.iter().any(|l| l.1 == "moved"));
        assert!(stale_old.unwrap() < first_new.unwrap());
        let stale = |s: &Vec<Decoded>| {
            s.iter()
                .any(|(_, v)| v[0].1.to_bits() == crate::push::wire::STALE_NAN)
        };
        // Between the relabelling and the stop, no staleness marker.
        let last = sent.len() - 1;
        assert!(!sent[first_new.unwrap()..last].iter().any(stale));
        assert!(stale(&sent[last]));
    }
}
