//! The running push: one gatherer thread and one sender thread per remote.
//!
//! Every `scrape_interval` the gatherer asks each configured path's route for its body (as a
//! scrape would, in-process), turns it into series ([`series::scrape`]), encodes them into
//! batches of at most `max_samples_per_send` samples and appends each batch to every remote's
//! queue. Each sender sends its queue's oldest batch, applies [`policy::verdict`], and waits
//! with [`policy::Backoff`] between failed attempts, so batches leave in the order they were
//! built (samples of a series stay in time order) and an outage only fills the bounded queue.
//! On stop the gatherer writes staleness markers for everything and the senders get a short
//! time to deliver them.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::atomic64::AtomicU64;
use crate::expfmt::{decode_text, Encoder, MetricType};

use super::config::{Config, Remote};
use super::policy::{verdict, Attempt, Backoff, DropReason, Verdict};
use super::queue::{Batch, Queue};
use super::series::{self, History, Target};
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
    fn send(&self, remote: &Remote, body: &[u8], until: Instant) -> Sent;
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
        };
        c.fetch_add(samples as u64, Relaxed);
    }
}

/// One remote's queue, shared by the gatherer (which appends) and its sender.
pub struct RemoteState {
    pub cfg: Remote,
    queue: Mutex<Queue>,
    wake: Condvar,
    pub stats: Stats,
}

impl RemoteState {
    fn enqueue(&self, b: Batch) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let d = q.push(b);
        if d.samples > 0 {
            self.stats.dropped(DropReason::QueueFull, d.samples);
            crate::warn!(
                "remote_write {}: queue full, dropped the oldest {} samples",
                self.cfg.name,
                d.samples
            );
        }
        self.wake.notify_all();
    }

    /// (bytes, samples) waiting.
    pub fn pending(&self) -> (usize, usize) {
        let q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        (q.bytes(), q.samples())
    }
}

/// The running push.
pub struct Push {
    pub remotes: Vec<Arc<RemoteState>>,
    /// Tells the gatherer to write the final staleness markers and end.
    stop_gather: Arc<AtomicBool>,
    /// Tells the senders to make one last attempt at what is queued and end.
    stop_send: Arc<AtomicBool>,
    gatherer: Mutex<Option<std::thread::JoinHandle<()>>>,
    senders: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Accumulates encoded series into batches for one remote.
struct Batcher<'a> {
    remote: &'a RemoteState,
    buf: Vec<u8>,
    samples: usize,
    max_ts: i64,
}

impl Batcher<'_> {
    fn add(&mut self, s: &SeriesRef<'_>) {
        wire::put_series(&mut self.buf, s);
        self.samples += s.samples.len();
        if let Some(t) = s.samples.iter().map(|(t, _)| *t).max() {
            self.max_ts = self.max_ts.max(t);
        }
        if self.samples >= self.remote.cfg.max_samples_per_send {
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
            Err(e) => crate::error!("remote_write {}: {e}", self.remote.cfg.name),
        }
        self.buf.clear();
        self.samples = 0;
        self.max_ts = i64::MIN;
    }
}

impl Push {
    /// Starts the gatherer and the senders.
    pub fn start(cfg: Config, gather: Gather, transport: Arc<dyn Transport>) -> Push {
        let remotes: Vec<Arc<RemoteState>> = cfg
            .remotes
            .iter()
            .map(|r| {
                Arc::new(RemoteState {
                    queue: Mutex::new(Queue::new(r.max_buffer_bytes)),
                    cfg: r.clone(),
                    wake: Condvar::new(),
                    stats: Stats::default(),
                })
            })
            .collect();
        let stop_gather = Arc::new(AtomicBool::new(false));
        let stop_send = Arc::new(AtomicBool::new(false));
        let mut senders = Vec::new();
        for r in &remotes {
            let (r, t, stop) = (r.clone(), transport.clone(), stop_send.clone());
            let spawned = std::thread::Builder::new()
                .name("remote-write".into())
                .stack_size(256 * 1024)
                .spawn(move || send_loop(&r, &*t, &stop));
            match spawned {
                Ok(h) => senders.push(h),
                Err(e) => crate::error!("remote_write: start sender: {e}"),
            }
        }
        let (rs, stop) = (remotes.clone(), stop_gather.clone());
        let gatherer = std::thread::Builder::new()
            .name("push-gather".into())
            .stack_size(256 * 1024)
            .spawn(move || gather_loop(&cfg, &gather, &rs, &stop))
            .map_err(|e| crate::error!("remote_write: start gatherer: {e}"))
            .ok();
        Push {
            remotes,
            stop_gather,
            stop_send,
            gatherer: Mutex::new(gatherer),
            senders: Mutex::new(senders),
        }
    }

    /// Writes stale markers, gives the senders until `deadline` to deliver what is queued,
    /// and stops every thread.
    pub fn stop(&self, deadline: Instant) {
        self.stop_gather.store(true, Relaxed);
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
        self.stop_send.store(true, Relaxed);
        for r in &self.remotes {
            r.wake.notify_all();
        }
        let senders = std::mem::take(&mut *self.senders.lock().unwrap_or_else(|e| e.into_inner()));
        for h in senders {
            wait(h);
        }
    }

    /// promlet's own metrics about pushing, one series per remote.
    pub fn write_metrics(&self, enc: &mut Encoder) {
        type Get = fn(&RemoteState) -> f64;
        fn c(a: &AtomicU64) -> f64 {
            a.load(Relaxed) as f64
        }
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
                "Compressed bytes waiting to be sent.",
                MetricType::Gauge,
                |r| r.pending().0 as f64,
            ),
            (
                "promlet_remote_write_queue_samples",
                "Samples waiting to be sent.",
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
            for r in &self.remotes {
                f.sample(&[("remote", &r.cfg.name)], get(r));
            }
        }
        let mut f = enc.family(
            "promlet_remote_write_samples_dropped_total",
            "Samples given up, by reason: rejected (4xx other than 429), too_old (still failing after max_sample_age), queue_full (pushed out by newer data).",
            MetricType::Counter,
        );
        for r in &self.remotes {
            for (why, v) in [
                ("rejected", &r.stats.dropped_rejected),
                ("too_old", &r.stats.dropped_too_old),
                ("queue_full", &r.stats.dropped_queue_full),
            ] {
                f.sample(&[("reason", why), ("remote", &r.cfg.name)], c(v));
            }
        }
    }
}

/// Sleeps until `until` or until stop is set; true if stopped.
fn sleep_until(stop: &AtomicBool, until: Instant) -> bool {
    while !stop.load(Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
    true
}

fn gather_loop(cfg: &Config, gather: &Gather, remotes: &[Arc<RemoteState>], stop: &AtomicBool) {
    let targets: Vec<Target> = cfg
        .paths
        .iter()
        .map(|p| Target {
            job: p.job.clone(),
            instance: cfg.instance.clone(),
            external: cfg.external_labels.clone(),
        })
        .collect();
    let mut histories: Vec<History> = cfg.paths.iter().map(|_| History::default()).collect();
    let mut batchers: Vec<Batcher<'_>> = remotes
        .iter()
        .map(|r| Batcher {
            remote: r,
            buf: Vec::new(),
            samples: 0,
            max_ts: i64::MIN,
        })
        .collect();
    let mut next = Instant::now();
    // Whether the last scrape of a path failed, to log changes rather than every failure.
    let mut failing = vec![false; cfg.paths.len()];
    loop {
        let ts = now_ms();
        for (i, p) in cfg.paths.iter().enumerate() {
            let t0 = Instant::now();
            let got = gather(&p.path).and_then(|t| decode_text(t).map_err(|e| e.to_string()));
            let took = t0.elapsed().as_secs_f64();
            match &got {
                Err(e) if !failing[i] => {
                    crate::warn!("push: gathering {} failed: {e}", p.path);
                    failing[i] = true;
                }
                Ok(_) if failing[i] => {
                    crate::info!("push: gathering {} works again", p.path);
                    failing[i] = false;
                }
                _ => {}
            }
            let mut emit = |s: &SeriesRef<'_>| {
                for b in batchers.iter_mut() {
                    b.add(s);
                }
            };
            series::scrape(
                &targets[i],
                &mut histories[i],
                got.ok(),
                ts,
                took,
                &mut emit,
            );
        }
        for b in batchers.iter_mut() {
            b.flush();
        }
        next += cfg.interval;
        // After a long stall, start from now rather than catching up with a burst.
        if next < Instant::now() {
            next = Instant::now() + cfg.interval;
        }
        if sleep_until(stop, next) {
            break;
        }
    }
    // Stopping: every series ends now.
    let ts = now_ms();
    for (i, _) in cfg.paths.iter().enumerate() {
        let mut emit = |s: &SeriesRef<'_>| {
            for b in batchers.iter_mut() {
                b.add(s);
            }
        };
        series::stop(&targets[i], &mut histories[i], ts, &mut emit);
    }
    for b in batchers.iter_mut() {
        b.flush();
    }
}

fn send_loop(r: &RemoteState, t: &dyn Transport, stop: &AtomicBool) {
    let mut backoff = Backoff::new(r.cfg.min_backoff, r.cfg.max_backoff);
    // Whether the remote was failing, to log changes rather than every failure.
    let mut failing = false;
    loop {
        let (body, samples, max_ts, created, id) = {
            let mut q = r.queue.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(b) = q.front() {
                    break (b.body.clone(), b.samples, b.max_ts_ms, b.created, b.id);
                }
                // Stopped and nothing left to deliver.
                if stop.load(Relaxed) {
                    return;
                }
                q = r
                    .wake
                    .wait_timeout(q, Duration::from_millis(500))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
        };
        let sent = t.send(&r.cfg, &body, Instant::now() + r.cfg.timeout);
        let v = verdict(sent.attempt, created.elapsed(), r.cfg.max_sample_age);
        match v {
            Verdict::Sent => {
                if failing {
                    crate::info!("remote_write {}: sending again", r.cfg.name);
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
                pop_sent(r, id);
            }
            Verdict::Drop(why) => {
                crate::warn!(
                    "remote_write {}: dropped {samples} samples ({}): {}",
                    r.cfg.name,
                    why.as_str(),
                    sent.message
                );
                r.stats.samples_failed.fetch_add(samples as u64, Relaxed);
                r.stats.dropped(why, samples);
                pop_sent(r, id);
            }
            Verdict::Retry => {
                if !failing {
                    crate::warn!("remote_write {}: {} (retrying)", r.cfg.name, sent.message);
                    failing = true;
                }
                r.stats.samples_failed.fetch_add(samples as u64, Relaxed);
                r.stats.samples_retried.fetch_add(samples as u64, Relaxed);
                // When stopping, a remote that does not take the last batches is given up on.
                if stop.load(Relaxed) {
                    return;
                }
                let wait = backoff.wait(sent.retry_after);
                if sleep_until(stop, Instant::now() + wait) {
                    return;
                }
            }
        }
    }
}

/// Removes the batch just handled, unless the queue dropped it meanwhile (full).
fn pop_sent(r: &RemoteState, id: u64) {
    let mut q = r.queue.lock().unwrap_or_else(|e| e.into_inner());
    if q.front().is_some_and(|b| b.id == id) {
        q.pop();
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
        fn send(&self, _: &Remote, body: &[u8], _: Instant) -> Sent {
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
        (Push::start(config(max_samples), gather, fake.clone()), fake)
    }

    #[test]
    fn outage_is_bridged_in_order_and_nothing_lost() {
        let (push, fake) = start(vec![Attempt::Transport; 6], 1000);
        let r = push.remotes[0].clone();
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
        let r = push.remotes[0].clone();
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
    fn batches_hold_at_most_max_samples_per_send() {
        let (push, fake) = start(vec![], 3);
        let r = push.remotes[0].clone();
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
        let r = push.remotes[0].clone();
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
}
