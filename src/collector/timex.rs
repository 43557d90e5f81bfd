//! `timex`: the kernel clock discipline's state from adjtimex(2), called read-only
//! (`modes = 0`), as node_exporter 1.5's `node_timex_*`. Offsets and jitter are in µs, or ns
//! when STA_NANO is set; frequencies are in 2^-16 ppm. adjtimex refused with EPERM (a seccomp
//! filter) means no data: nothing is emitted.

use super::{Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

pub fn new(_: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Timex))
}

struct Timex;

/// The fields of `struct timex` that are exported, widened to i64.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Clock {
    /// adjtimex's return value: the clock state (TIME_OK .. TIME_ERROR).
    pub state: i32,
    pub offset: i64,
    pub freq: i64,
    pub maxerror: i64,
    pub esterror: i64,
    pub status: i64,
    pub constant: i64,
    pub tick: i64,
    pub ppsfreq: i64,
    pub jitter: i64,
    pub shift: i64,
    pub stabil: i64,
    pub jitcnt: i64,
    pub calcnt: i64,
    pub errcnt: i64,
    pub stbcnt: i64,
    pub tai: i64,
}

const TIME_ERROR: i32 = 5;
const STA_NANO: i64 = 0x2000;
/// 2^-16 ppm, the unit of freq, ppsfreq and stabil (adjtimex(2) NOTES).
const PPM16FRAC: f64 = 1_000_000.0 * 65536.0;

/// Every family: name, HELP, type, value.
pub fn families(c: &Clock) -> [(&'static str, &'static str, MetricType, f64); 17] {
    let div = if c.status & STA_NANO != 0 { 1e9 } else { 1e6 };
    let g = MetricType::Gauge;
    let k = MetricType::Counter;
    [
        (
            "node_timex_sync_status",
            "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
            g,
            if c.state == TIME_ERROR { 0.0 } else { 1.0 },
        ),
        (
            "node_timex_offset_seconds",
            "Time offset in between local system and reference clock.",
            g,
            c.offset as f64 / div,
        ),
        (
            "node_timex_frequency_adjustment_ratio",
            "Local clock frequency adjustment.",
            g,
            1.0 + c.freq as f64 / PPM16FRAC,
        ),
        (
            "node_timex_maxerror_seconds",
            "Maximum error in seconds.",
            g,
            c.maxerror as f64 / 1e6,
        ),
        (
            "node_timex_estimated_error_seconds",
            "Estimated error in seconds.",
            g,
            c.esterror as f64 / 1e6,
        ),
        (
            "node_timex_status",
            "Value of the status array bits.",
            g,
            c.status as f64,
        ),
        (
            "node_timex_loop_time_constant",
            "Phase-locked loop time constant.",
            g,
            c.constant as f64,
        ),
        (
            "node_timex_tick_seconds",
            "Seconds between clock ticks.",
            g,
            c.tick as f64 / 1e6,
        ),
        (
            "node_timex_pps_frequency_hertz",
            "Pulse per second frequency.",
            g,
            c.ppsfreq as f64 / PPM16FRAC,
        ),
        (
            "node_timex_pps_jitter_seconds",
            "Pulse per second jitter.",
            g,
            c.jitter as f64 / div,
        ),
        (
            "node_timex_pps_shift_seconds",
            "Pulse per second interval duration.",
            g,
            c.shift as f64,
        ),
        (
            "node_timex_pps_stability_hertz",
            "Pulse per second stability, average of recent frequency changes.",
            g,
            c.stabil as f64 / PPM16FRAC,
        ),
        (
            "node_timex_pps_jitter_total",
            "Pulse per second count of jitter limit exceeded events.",
            k,
            c.jitcnt as f64,
        ),
        (
            "node_timex_pps_calibration_total",
            "Pulse per second count of calibration intervals.",
            k,
            c.calcnt as f64,
        ),
        (
            "node_timex_pps_error_total",
            "Pulse per second count of calibration errors.",
            k,
            c.errcnt as f64,
        ),
        (
            "node_timex_pps_stability_exceeded_total",
            "Pulse per second count of stability limit exceeded events.",
            k,
            c.stbcnt as f64,
        ),
        (
            "node_timex_tai_offset_seconds",
            "International Atomic Time (TAI) offset.",
            g,
            c.tai as f64,
        ),
    ]
}

/// adjtimex(2) with modes 0: reads, changes nothing. None on EPERM.
fn adjtimex() -> Result<Option<Clock>, Error> {
    // SAFETY: timex is plain old data; all-zero is a valid value and means modes = 0.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: tx is a valid, exclusively borrowed timex for the duration of the call.
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EPERM) {
            return Ok(None);
        }
        return Err(Error::Other(format!("adjtimex: {err}")));
    }
    Ok(Some(Clock {
        state,
        offset: tx.offset as i64,
        freq: tx.freq as i64,
        maxerror: tx.maxerror as i64,
        esterror: tx.esterror as i64,
        status: tx.status as i64,
        constant: tx.constant as i64,
        tick: tx.tick as i64,
        ppsfreq: tx.ppsfreq as i64,
        jitter: tx.jitter as i64,
        shift: tx.shift as i64,
        stabil: tx.stabil as i64,
        jitcnt: tx.jitcnt as i64,
        calcnt: tx.calcnt as i64,
        errcnt: tx.errcnt as i64,
        stbcnt: tx.stbcnt as i64,
        tai: tx.tai as i64,
    }))
}

impl Collector for Timex {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let Some(clock) = adjtimex()? else {
            return Ok(());
        };
        for (name, help, typ, v) in families(&clock) {
            enc.single(name, help, typ, v);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(c: &Clock, name: &str) -> f64 {
        families(c).iter().find(|f| f.0 == name).unwrap().3
    }

    #[test]
    fn timex_chrony_synced_microseconds() {
        // The values `adjtimex --print` showed on a chrony-synced Debian 12 server (status
        // 0x2001 = STA_PLL | STA_NANO would be ns; this one is 0x0001, µs).
        let c = Clock {
            state: 0,
            offset: -125,
            freq: -1_520_372,
            maxerror: 16_000,
            esterror: 250,
            status: 0x0001,
            constant: 7,
            tick: 10_000,
            tai: 37,
            ..Clock::default()
        };
        assert_eq!(get(&c, "node_timex_sync_status"), 1.0);
        assert_eq!(get(&c, "node_timex_offset_seconds"), -0.000125);
        assert_eq!(
            get(&c, "node_timex_frequency_adjustment_ratio"),
            1.0 + -1_520_372.0 / 65_536e6
        );
        assert_eq!(get(&c, "node_timex_maxerror_seconds"), 0.016);
        assert_eq!(get(&c, "node_timex_tick_seconds"), 0.01);
        assert_eq!(get(&c, "node_timex_tai_offset_seconds"), 37.0);
    }

    #[test]
    fn timex_nano_and_unsynced() {
        let c = Clock {
            state: TIME_ERROR,
            offset: 1_500,
            jitter: 2_000,
            status: 0x2000 | 0x0040,
            ..Clock::default()
        };
        assert_eq!(get(&c, "node_timex_sync_status"), 0.0);
        assert_eq!(get(&c, "node_timex_offset_seconds"), 1.5e-6);
        assert_eq!(get(&c, "node_timex_pps_jitter_seconds"), 2e-6);
    }

    #[test]
    fn timex_reads_this_machine() {
        // modes = 0 needs no privilege; a seccomp sandbox may refuse it (then None).
        if let Some(c) = adjtimex().unwrap() {
            assert!(c.tick > 0, "{c:?}");
        }
    }
}
