//! What to do with a batch after one send attempt, and how long to wait before the next: the
//! remote-write 1.0 rules (retry 5xx with backoff, never retry other 4xx) with two changes a
//! small agent needs. 429 is retried, honouring `Retry-After`, because a router that drops its
//! data when a shared receiver is busy loses it for good. A batch that keeps failing with 5xx
//! (or cannot be delivered at all) past a maximum age is dropped, so one poisoned batch never
//! blocks the queue behind it: Prometheus 2.42 answers 500 to samples that are too old, and a
//! naive sender retries them forever. No I/O.

use std::time::Duration;

/// The result of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver answered with this status.
    Status(u16),
    /// No answer: connect failed, timed out, or the connection broke.
    Transport,
}

/// Why a batch was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A 4xx other than 429 (or a 1xx/3xx: redirects are not followed): the receiver will never
    /// take it.
    Rejected,
    /// Still failing when older than the maximum age.
    TooOld,
    /// Pushed out of a full queue by newer data.
    QueueFull,
    /// Deleted from the on-disk spool to keep it under its cap.
    SpoolFull,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Rejected => "rejected",
            DropReason::TooOld => "too_old",
            DropReason::QueueFull => "queue_full",
            DropReason::SpoolFull => "spool_full",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Sent,
    Retry,
    Drop(DropReason),
}

/// The verdict for an attempt on a batch that is `age` old.
pub fn verdict(a: Attempt, age: Duration, max_age: Duration) -> Verdict {
    match a {
        Attempt::Status(200..=299) => Verdict::Sent,
        Attempt::Status(429) => Verdict::Retry,
        Attempt::Status(500..=599) | Attempt::Transport if age > max_age => {
            Verdict::Drop(DropReason::TooOld)
        }
        Attempt::Status(500..=599) | Attempt::Transport => Verdict::Retry,
        Attempt::Status(_) => Verdict::Drop(DropReason::Rejected),
    }
}

/// Exponential backoff between `min` and `max` (Prometheus's `min_backoff`, `max_backoff`).
#[derive(Debug)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            next: min,
        }
    }

    /// The wait before the next attempt; `retry_after` (from the answer) replaces the
    /// computed wait when it is positive, capped at `max`. Each call doubles the next wait.
    pub fn wait(&mut self, retry_after: Option<Duration>) -> Duration {
        let w = match retry_after {
            Some(r) if !r.is_zero() => r.min(self.max),
            _ => self.next,
        };
        self.next = (w * 2).min(self.max).max(self.min);
        w
    }

    /// After a success the next failure starts from `min` again.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn statuses() {
        let young = Duration::from_secs(1);
        for (a, want) in [
            (Attempt::Status(204), Verdict::Sent),
            (Attempt::Status(200), Verdict::Sent),
            (Attempt::Status(429), Verdict::Retry),
            (Attempt::Status(500), Verdict::Retry),
            (Attempt::Status(503), Verdict::Retry),
            (Attempt::Transport, Verdict::Retry),
            (Attempt::Status(400), Verdict::Drop(DropReason::Rejected)),
            (Attempt::Status(404), Verdict::Drop(DropReason::Rejected)),
            (Attempt::Status(413), Verdict::Drop(DropReason::Rejected)),
            (Attempt::Status(302), Verdict::Drop(DropReason::Rejected)),
        ] {
            assert_eq!(verdict(a, young, HOUR), want, "{a:?}");
        }
        let old = HOUR + Duration::from_secs(1);
        assert_eq!(
            verdict(Attempt::Status(500), old, HOUR),
            Verdict::Drop(DropReason::TooOld)
        );
        assert_eq!(
            verdict(Attempt::Transport, old, HOUR),
            Verdict::Drop(DropReason::TooOld)
        );
        // 429 is the receiver asking to slow down, not a fault of the batch.
        assert_eq!(verdict(Attempt::Status(429), old, HOUR), Verdict::Retry);
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_honours_retry_after() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(30), ms(200));
        assert_eq!(b.wait(None), ms(30));
        assert_eq!(b.wait(None), ms(60));
        assert_eq!(b.wait(None), ms(120));
        assert_eq!(b.wait(None), ms(200));
        assert_eq!(b.wait(None), ms(200));
        b.reset();
        assert_eq!(b.wait(Some(ms(100))), ms(100));
        assert_eq!(b.wait(None), ms(200));
        assert_eq!(b.wait(Some(Duration::from_secs(60))), ms(200));
        assert_eq!(b.wait(Some(Duration::ZERO)), ms(200));
    }
}
