//! Lenient parsers for the text HDHomeRun devices return for getset items: `/tunerN/debug`,
//! `/tunerN/status`, `/tunerN/streaminfo`, `/sys/model` and `/sys/version` (formats from
//! SiliconDust's TECH manual and libhdhomerun `hdhomerun_device.c` / `hdhomerun_channelscan.c`).
//!
//! Devices vary by model and firmware, so nothing here fails: unknown prefixes, unknown keys,
//! malformed pairs and non-numeric values are skipped, and a number with a trailing
//! annotation (`ss=83(-10dBmV)` on TECH models) keeps its leading digits. mdlayher's parser
//! rejects the whole reply for any of these; one odd field should not hide a tuner.

/// `/tunerN/debug`: one line per prefix (`tun:`, `dev:`, `cc:`, `ts:`, `flt:`, `net:`), each
/// followed by `key=value` pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Debug {
    pub tuner: Option<Tuner>,
    /// `dev:` (newer firmware): the demodulator's output.
    pub dev: Option<Stream>,
    /// `cc:` (CableCARD models).
    pub cablecard: Option<Stream>,
    pub transport: Option<Transport>,
    /// `flt:` bits per second after the PID filter (older firmware).
    pub filter_bps: Option<u64>,
    pub network: Option<Network>,
}

/// The `tun:` line (also the fields of `/tunerN/status`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tuner {
    /// Requested channel, `none` when idle (`auto:21`, `qam:381000000`).
    pub channel: String,
    /// Lock, `none` when unlocked (`8vsb:515000000`, `qam256`).
    pub lock: String,
    /// Signal strength, percent.
    pub ss: Option<u64>,
    /// Signal-to-noise quality, percent.
    pub snq: Option<u64>,
    /// Symbol error quality, percent.
    pub seq: Option<u64>,
    /// `/tunerN/status` only.
    pub bps: Option<u64>,
    /// `/tunerN/status` only.
    pub pps: Option<u64>,
}

impl Tuner {
    /// Locked onto a signal: libhdhomerun treats `none` as unlocked and `(…)` as unsupported.
    pub fn locked(&self) -> bool {
        !(self.lock.is_empty() || self.lock == "none" || self.lock.starts_with('('))
    }
}

/// `dev:` and `cc:` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stream {
    pub bps: Option<u64>,
    pub resync: Option<u64>,
    pub overflow: Option<u64>,
}

/// The `ts:` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transport {
    pub bps: Option<u64>,
    /// Utilisation, percent.
    pub ut: Option<u64>,
    /// Transport errors.
    pub te: Option<u64>,
    /// Sequence misses.
    pub miss: Option<u64>,
    pub crc: Option<u64>,
}

/// The `net:` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    pub bps: Option<u64>,
    pub pps: Option<u64>,
    /// Packets dropped.
    pub err: Option<u64>,
    /// Why streaming stopped: 0 not stopped, 1 intentional, 2 ICMP reject, 3 connection loss,
    /// 4 HTTP connection closed.
    pub stop: Option<u64>,
}

/// The leading decimal digits of `v` (`83(-10dBmV)` is 83); `None` if there are none.
fn num(v: &str) -> Option<u64> {
    let end = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    v[..end].parse().ok()
}

/// `key=value` pairs of a line; words without `=` are skipped.
fn pairs(s: &str) -> impl Iterator<Item = (&str, &str)> {
    s.split_whitespace().filter_map(|w| w.split_once('='))
}

/// Parses `/tunerN/debug`.
pub fn parse_debug(text: &str) -> Debug {
    let mut d = Debug::default();
    for line in text.split(['\n', '\r']) {
        let line = line.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        let Some((prefix, rest)) = line.split_once(':') else {
            continue;
        };
        match prefix.trim() {
            "tun" => d.tuner = Some(parse_tuner_fields(rest)),
            "dev" => d.dev = Some(parse_stream(rest)),
            "cc" => d.cablecard = Some(parse_stream(rest)),
            "ts" => {
                let mut t = Transport::default();
                for (k, v) in pairs(rest) {
                    match k {
                        "bps" => t.bps = num(v),
                        "ut" => t.ut = num(v),
                        "te" => t.te = num(v),
                        "miss" => t.miss = num(v),
                        "crc" => t.crc = num(v),
                        _ => {}
                    }
                }
                d.transport = Some(t);
            }
            "flt" => {
                d.filter_bps = pairs(rest)
                    .find(|(k, _)| *k == "bps")
                    .and_then(|(_, v)| num(v))
            }
            "net" => {
                let mut n = Network::default();
                for (k, v) in pairs(rest) {
                    match k {
                        "bps" => n.bps = num(v),
                        "pps" => n.pps = num(v),
                        "err" => n.err = num(v),
                        "stop" => n.stop = num(v),
                        _ => {}
                    }
                }
                d.network = Some(n);
            }
            _ => {}
        }
    }
    d
}

fn parse_stream(rest: &str) -> Stream {
    let mut s = Stream::default();
    for (k, v) in pairs(rest) {
        match k {
            "bps" => s.bps = num(v),
            "resync" => s.resync = num(v),
            "overflow" => s.overflow = num(v),
            _ => {}
        }
    }
    s
}

fn parse_tuner_fields(rest: &str) -> Tuner {
    let mut t = Tuner::default();
    for (k, v) in pairs(rest) {
        match k {
            "ch" => t.channel = v.to_string(),
            "lock" => t.lock = v.to_string(),
            "ss" => t.ss = num(v),
            "snq" => t.snq = num(v),
            "seq" => t.seq = num(v),
            "bps" => t.bps = num(v),
            "pps" => t.pps = num(v),
            _ => {}
        }
    }
    t
}

/// Parses `/tunerN/status` (`ch=qam:33 lock=qam256 ss=83 snq=90 seq=100 bps=38807712 pps=0`).
pub fn parse_status(text: &str) -> Tuner {
    parse_tuner_fields(text.trim_matches('\0'))
}

/// One program of `/tunerN/streaminfo` (`3: 49.1 WEDW-1`, `5: 6.3 ANTENNA (no data)`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Program {
    pub number: u32,
    /// Virtual channel (`49.1`), empty when the device gives none.
    pub channel: String,
    pub name: String,
    pub control: bool,
    pub encrypted: bool,
    pub no_data: bool,
}

/// `/tunerN/streaminfo`: the programs on the tuned channel and the stream ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamInfo {
    pub programs: Vec<Program>,
    pub tsid: Option<u32>,
    pub onid: Option<u32>,
}

/// Parses `/tunerN/streaminfo`; lines that are neither a program nor an id are skipped.
pub fn parse_streaminfo(text: &str) -> StreamInfo {
    let mut si = StreamInfo::default();
    for line in text.split(['\n', '\r']) {
        let line = line.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        if let Some(v) = line.strip_prefix("tsid=") {
            si.tsid = hex(v);
            continue;
        }
        if let Some(v) = line.strip_prefix("onid=") {
            si.onid = hex(v);
            continue;
        }
        let Some((n, rest)) = line.split_once(':') else {
            continue;
        };
        let Ok(number) = n.trim().parse::<u32>() else {
            continue;
        };
        let mut p = Program {
            number,
            ..Program::default()
        };
        let mut rest = rest.trim();
        // Flags are trailing parenthesised words.
        while let Some(open) = rest.strip_suffix(')').and_then(|r| r.rfind('(')) {
            match &rest[open + 1..rest.len() - 1] {
                "control" => p.control = true,
                "encrypted" => p.encrypted = true,
                "no data" => p.no_data = true,
                _ => {}
            }
            rest = rest[..open].trim_end();
        }
        let (first, name) = rest.split_once(' ').unwrap_or((rest, ""));
        if !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            p.channel = first.to_string();
            p.name = name.trim().to_string();
        } else {
            p.name = rest.to_string();
        }
        si.programs.push(p);
    }
    si
}

fn hex(v: &str) -> Option<u32> {
    let v = v.trim();
    let v = v
        .strip_prefix("0x")
        .or_else(|| v.strip_prefix("0X"))
        .unwrap_or(v);
    u32::from_str_radix(v, 16).ok()
}

/// `/sys/model` (`hdhomerun4_atsc`): the value without NULs and surrounding space.
pub fn parse_model(text: &str) -> String {
    text.trim_matches(|c: char| c == '\0' || c.is_whitespace())
        .to_string()
}

/// `/sys/version`: `20150604`, or `20120704beta1` with a suffix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Version {
    pub raw: String,
    /// The leading date-like number (`20120704`), if any.
    pub number: Option<u64>,
}

pub fn parse_version(text: &str) -> Version {
    let raw = parse_model(text);
    Version {
        number: num(&raw),
        raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // TECH manual / SiliconDust tech doc, a streaming HDHR (the example debug answer SiliconDust documents for a locked tuner).
    const DEBUG_STREAMING: &str =
        "tun: ch=auto:21 lock=8vsb:515000000 ss=80 snq=76 seq=100 dbg=-514/13110\n\
        dev: bps=19394080 resync=0 overflow=0\n\
        ts:  bps=19394080 te=0 crc=0\n\
        net: pps=0 err=0 stop=0\n";

    #[test]
    fn debug_streaming_tech_manual() {
        let d = parse_debug(DEBUG_STREAMING);
        let t = d.tuner.clone().unwrap();
        assert_eq!(t.channel, "auto:21");
        assert_eq!(t.lock, "8vsb:515000000");
        assert_eq!((t.ss, t.snq, t.seq), (Some(80), Some(76), Some(100)));
        assert!(t.locked());
        assert_eq!(d.dev.unwrap().bps, Some(19394080));
        assert_eq!(d.transport.unwrap().te, Some(0));
        let n = d.network.unwrap();
        assert_eq!((n.pps, n.err, n.stop), (Some(0), Some(0), Some(0)));
        assert!(d.cablecard.is_none());
    }

    #[test]
    fn debug_idle_and_cablecard_hdhr3_cc() {
        // Idle tuner (TECH manual) with a CableCARD line as HDHR3-CC firmware prints it.
        let d = parse_debug(
            "tun: ch=none lock=none ss=0 snq=0 seq=0 dbg=0\n\
             cc:  bps=38807712 resync=1 overflow=2\n\
             ts:  bps=0 ut=0 te=0 miss=0 crc=0\n\
             flt: bps=0\n\
             net: pps=0 err=0 stop=0\0",
        );
        let t = d.tuner.unwrap();
        assert!(!t.locked());
        let cc = d.cablecard.unwrap();
        assert_eq!(
            (cc.bps, cc.resync, cc.overflow),
            (Some(38807712), Some(1), Some(2))
        );
        assert_eq!(d.filter_bps, Some(0));
        assert_eq!(d.transport.unwrap().miss, Some(0));
    }

    #[test]
    fn debug_is_lenient() {
        // TECH models annotate values; unknown prefixes, lone words and junk are skipped.
        let d = parse_debug(
            "tun: ch=qam:33 lock=qam256:381000000 ss=83(-10dBmV) snq=90(29dB) seq=x new=1 lonely\n\
             bogus line\n\
             zzz: a=1\n\
             net: pps=12 err=oops stop=3 extra=7.5\n\n",
        );
        let t = d.tuner.unwrap();
        assert_eq!((t.ss, t.snq, t.seq), (Some(83), Some(90), None));
        let n = d.network.unwrap();
        assert_eq!((n.pps, n.err, n.stop), (Some(12), None, Some(3)));
        assert_eq!(parse_debug(""), Debug::default());
        assert_eq!(parse_debug("\u{fffd}\0:::=="), Debug::default());
    }

    #[test]
    fn status_tech_manual() {
        let t = parse_status("ch=qam:33 lock=qam256 ss=83 snq=90 seq=100 bps=38807712 pps=0");
        assert_eq!(t.channel, "qam:33");
        assert_eq!(t.lock, "qam256");
        assert_eq!(t.bps, Some(38807712));
        assert_eq!(t.pps, Some(0));
        let idle = parse_status("ch=none lock=none ss=0 snq=0 seq=0 bps=0 pps=0");
        assert!(!idle.locked());
        assert!(!parse_status("lock=(ntsc)").locked());
    }

    #[test]
    fn streaminfo_third_party_sample() {
        let si = parse_streaminfo(
            "3: 49.1 WEDW-1\n4: 43.1 STORY\n5: 6.3 ANTENNA (no data)\n6: 0 (control)\n\
             7: 9.1 PAY (encrypted) (no data)\nnot a program\ntsid=0x01F7\n",
        );
        assert_eq!(si.programs.len(), 5);
        assert_eq!(si.programs[0].channel, "49.1");
        assert_eq!(si.programs[0].name, "WEDW-1");
        assert!(si.programs[2].no_data);
        assert_eq!(si.programs[2].name, "ANTENNA");
        assert!(si.programs[3].control);
        assert!(si.programs[4].encrypted && si.programs[4].no_data);
        assert_eq!(si.tsid, Some(0x01F7));
        assert_eq!(si.onid, None);
        assert_eq!(parse_streaminfo("none\n"), StreamInfo::default());
    }

    #[test]
    fn model_and_version() {
        assert_eq!(parse_model("hdhomerun4_atsc\0"), "hdhomerun4_atsc");
        assert_eq!(parse_version("20150826").number, Some(20150826));
        let v = parse_version("20120704beta1\n");
        assert_eq!(v.raw, "20120704beta1");
        assert_eq!(v.number, Some(20120704));
        assert_eq!(parse_version("beta").number, None);
    }
}
