//! The optional on-disk spool of one remote (`push.spool_directory`): what could not wait in
//! memory during an outage (the memory queue was full) and what was still queued when promlet
//! stopped, so that a server keeps its data across a long outage and a restart. Off by
//! default, because router flash wears; even when on, nothing is written while the remote
//! takes what is sent, only on overflow and at stop.
//!
//! Layout: one directory per remote under the spool directory, holding segment files named by
//! a 16-hex-digit sequence number (`0000000000000001.seg`), oldest first. A segment is written
//! whole to a `.tmp` file and renamed into place, so a crash leaves the old state or the new,
//! never half a segment (a `.tmp` left behind is removed at start). The directory has a size
//! cap: writing a segment first deletes the oldest ones until it fits.
//!
//! A segment file: the magic `PRLSPL01`, the URL of its remote (u16 little-endian length, the
//! bytes) and the CRC-32 of those bytes, then records, each framed as a u32 little-endian
//! payload length and the CRC-32 of the payload. A payload: when the batch was built (i64 ms),
//! its highest sample timestamp (i64 ms), its sample count (u32), the compressed
//! `WriteRequest` body (the rest). The reader ([`decode`]) parses untrusted bytes (a file
//! from a killed promlet or a bad disk): every length is checked against what is left and a
//! cap, and the records before the first bad one are kept.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::crc32::crc32;

const MAGIC: &[u8; 8] = b"PRLSPL01";
/// The largest record payload accepted: VictoriaMetrics' default request limit.
pub const MAX_RECORD: usize = 32 << 20;
const MAX_URL: usize = 4096;
/// created, max_ts, samples.
const FIXED: usize = 8 + 8 + 4;

/// One batch as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// When the batch was built (wall clock, ms since the epoch).
    pub created_ms: i64,
    pub max_ts_ms: i64,
    pub samples: u32,
    /// The snappy-compressed `WriteRequest`.
    pub body: Vec<u8>,
}

/// A decoded segment: its remote's URL, the good records, and what was wrong after them.
#[derive(Debug, PartialEq, Eq)]
pub struct Segment {
    pub url: String,
    pub records: Vec<Record>,
    /// Why reading stopped before the end (truncated or corrupt record), if it did.
    pub problem: Option<String>,
}

/// The bytes of a segment file holding `records` for `url`.
pub fn encode(url: &str, records: &[Record]) -> Vec<u8> {
    let url = &url.as_bytes()[..url.len().min(MAX_URL)];
    let mut out = Vec::with_capacity(
        16 + url.len()
            + records
                .iter()
                .map(|r| 8 + FIXED + r.body.len())
                .sum::<usize>(),
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(url.len() as u16).to_le_bytes());
    out.extend_from_slice(url);
    let c = crc32(&out);
    out.extend_from_slice(&c.to_le_bytes());
    let mut payload = Vec::new();
    for r in records {
        payload.clear();
        payload.extend_from_slice(&r.created_ms.to_le_bytes());
        payload.extend_from_slice(&r.max_ts_ms.to_le_bytes());
        payload.extend_from_slice(&r.samples.to_le_bytes());
        payload.extend_from_slice(&r.body);
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
    }
    out
}

/// The encoded size of `records` without the header, to check a cap before encoding.
pub fn records_len(records: &[Record]) -> usize {
    records.iter().map(|r| 8 + FIXED + r.body.len()).sum()
}

fn take<'a>(data: &'a [u8], at: &mut usize, n: usize) -> Option<&'a [u8]> {
    let end = at.checked_add(n)?;
    let s = data.get(*at..end)?;
    *at = end;
    Some(s)
}

fn u32_at(data: &[u8], at: &mut usize) -> Option<u32> {
    take(data, at, 4).and_then(|b| b.try_into().ok().map(u32::from_le_bytes))
}

/// Reads a segment file's bytes. An `Err` means the header is unusable (nothing can be
/// trusted); a bad record ends the reading with [`Segment::problem`] set.
pub fn decode(data: &[u8]) -> Result<Segment, String> {
    let mut at = 0;
    if take(data, &mut at, MAGIC.len()) != Some(&MAGIC[..]) {
        return Err("not a promlet spool segment (bad magic)".into());
    }
    let url_len = take(data, &mut at, 2)
        .and_then(|b| b.try_into().ok().map(u16::from_le_bytes))
        .ok_or("header truncated")? as usize;
    if url_len > MAX_URL {
        return Err(format!("header: url length {url_len} over {MAX_URL}"));
    }
    let url = take(data, &mut at, url_len).ok_or("header truncated")?;
    let header_end = at;
    let want = u32_at(data, &mut at).ok_or("header truncated")?;
    if crc32(&data[..header_end]) != want {
        return Err("header checksum mismatch".into());
    }
    let url = String::from_utf8(url.to_vec()).map_err(|_| "header: url is not UTF-8")?;
    let mut seg = Segment {
        url,
        records: Vec::new(),
        problem: None,
    };
    while at < data.len() {
        let start = at;
        let n = seg.records.len();
        let bad = |why: String| Some(format!("record {n} at byte {start}: {why}"));
        let (Some(len), Some(sum)) = (u32_at(data, &mut at), u32_at(data, &mut at)) else {
            seg.problem = bad("truncated frame".into());
            break;
        };
        let len = len as usize;
        if !(FIXED..=MAX_RECORD).contains(&len) {
            seg.problem = bad(format!("length {len} out of range"));
            break;
        }
        let Some(p) = take(data, &mut at, len) else {
            seg.problem = bad(format!(
                "truncated: {len} bytes framed, {} left",
                data.len() - start - 8
            ));
            break;
        };
        if crc32(p) != sum {
            seg.problem = bad("checksum mismatch".into());
            break;
        }
        let (fixed, body) = p.split_at(FIXED);
        let i64_of = |b: &[u8]| b.try_into().map(i64::from_le_bytes).unwrap_or_default();
        seg.records.push(Record {
            created_ms: i64_of(&fixed[0..8]),
            max_ts_ms: i64_of(&fixed[8..16]),
            samples: fixed[16..20]
                .try_into()
                .map(u32::from_le_bytes)
                .unwrap_or_default(),
            body: body.to_vec(),
        });
    }
    Ok(seg)
}

/// What [`Spool::read_oldest`] found in the oldest segment.
pub struct Read {
    pub seq: u64,
    pub records: Vec<Record>,
    /// The file was truncated or corrupt (the records before the damage are in `records`),
    /// or could not be read at all: the message says which file and where.
    pub problem: Option<String>,
}

/// The segment files of one remote.
pub struct Spool {
    dir: PathBuf,
    url: String,
    max_bytes: u64,
    /// (sequence, file size), oldest first.
    segments: VecDeque<(u64, u64)>,
    next_seq: u64,
}

fn seg_name(seq: u64) -> String {
    format!("{seq:016x}.seg")
}

impl Spool {
    /// Opens (creating) `dir` for the remote at `url`, removing unfinished `.tmp` files.
    pub fn open(dir: &Path, url: &str, max_bytes: u64) -> Result<Spool, String> {
        let ctx = |e: std::io::Error| format!("spool {}: {e}", dir.display());
        std::fs::create_dir_all(dir).map_err(ctx)?;
        let mut segments = Vec::new();
        for e in std::fs::read_dir(dir).map_err(ctx)? {
            let e = e.map_err(ctx)?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") {
                crate::warn!(
                    "spool {}: removing {name}, a segment promlet did not finish writing",
                    dir.display()
                );
                let _ = std::fs::remove_file(e.path());
                continue;
            }
            let Some(seq) = name
                .strip_suffix(".seg")
                .filter(|s| s.len() == 16)
                .and_then(|s| u64::from_str_radix(s, 16).ok())
            else {
                continue;
            };
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            segments.push((seq, len));
        }
        segments.sort_unstable();
        let next_seq = segments.last().map_or(1, |s| s.0.saturating_add(1));
        Ok(Spool {
            dir: dir.to_path_buf(),
            url: url.to_string(),
            max_bytes,
            segments: segments.into(),
            next_seq,
        })
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.1).sum()
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    pub fn set_max_bytes(&mut self, max: u64) {
        self.max_bytes = max;
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// The oldest segment's sequence number.
    pub fn oldest_seq(&self) -> Option<u64> {
        self.segments.front().map(|s| s.0)
    }

    /// The header's size for this remote: what a segment costs beyond its records.
    fn header_len(&self) -> u64 {
        (MAGIC.len() + 2 + self.url.len().min(MAX_URL) + 4) as u64
    }

    /// Whether a segment of `records` fits beside what is there without deleting anything.
    pub fn fits(&self, records: &[Record]) -> bool {
        self.bytes() + self.header_len() + records_len(records) as u64 <= self.max_bytes
    }

    /// Whether a segment of `records` could fit at all (alone).
    pub fn fits_alone(&self, records: &[Record]) -> bool {
        self.header_len() + records_len(records) as u64 <= self.max_bytes
    }

    /// Reads the oldest segment (leaving it on disk until [`Spool::remove`]).
    pub fn read_oldest(&self) -> Option<Read> {
        let &(seq, _) = self.segments.front()?;
        let path = self.dir.join(seg_name(seq));
        let at = |why: String| Some(format!("{}: {why}", path.display()));
        // At most the cap (a segment is never written larger): a file that grew on a bad disk
        // or was put here by hand is not read into memory whole.
        let mut data = Vec::new();
        let read = std::fs::File::open(&path).and_then(|f| {
            std::io::Read::read_to_end(&mut std::io::Read::take(f, self.max_bytes + 1), &mut data)
        });
        let (records, problem) = match read.map(|_| data) {
            Err(e) => (Vec::new(), at(format!("read: {e}"))),
            Ok(data) if data.len() as u64 > self.max_bytes => (
                Vec::new(),
                at(format!(
                    "larger than the spool's cap of {} bytes",
                    self.max_bytes
                )),
            ),
            Ok(data) => match decode(&data) {
                Err(e) => (Vec::new(), at(e)),
                Ok(seg) if seg.url != self.url => (
                    Vec::new(),
                    at(format!("holds data for {}, not for {}", seg.url, self.url)),
                ),
                Ok(seg) => (seg.records, seg.problem.and_then(at)),
            },
        };
        Some(Read {
            seq,
            records,
            problem,
        })
    }

    /// Deletes a segment (sent, or dropped for the cap).
    pub fn remove(&mut self, seq: u64) {
        if let Some(i) = self.segments.iter().position(|s| s.0 == seq) {
            self.segments.remove(i);
            if let Err(e) = std::fs::remove_file(self.dir.join(seg_name(seq))) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    crate::warn!(
                        "spool {}: remove {}: {e}",
                        self.dir.display(),
                        seg_name(seq)
                    );
                }
            }
        }
    }

    /// Writes `records` to `name` through a temporary file; returns the size written.
    fn write_file(&self, seq: u64, records: &[Record]) -> Result<u64, String> {
        let data = encode(&self.url, records);
        let path = self.dir.join(seg_name(seq));
        let tmp = self.dir.join(format!("{}.tmp", seg_name(seq)));
        let ctx = |e: std::io::Error| format!("spool {}: write: {e}", tmp.display());
        let mut f = std::fs::File::create(&tmp).map_err(ctx)?;
        let written = f.write_all(&data).and_then(|_| f.sync_data());
        drop(f);
        if let Err(e) = written.and_then(|_| std::fs::rename(&tmp, &path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(ctx(e));
        }
        // The rename itself reaches the disk with the directory.
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(data.len() as u64)
    }

    /// Appends a new, newest segment. The caller makes room first ([`Spool::fits`]).
    pub fn append(&mut self, records: &[Record]) -> Result<(), String> {
        let seq = self.next_seq;
        let len = self.write_file(seq, records)?;
        self.next_seq = seq.saturating_add(1);
        self.segments.push_back((seq, len));
        Ok(())
    }

    /// Replaces segment `seq` with `records` (the part of it not sent yet); none: removes it.
    pub fn replace(&mut self, seq: u64, records: &[Record]) -> Result<(), String> {
        if records.is_empty() {
            self.remove(seq);
            return Ok(());
        }
        let Some(i) = self.segments.iter().position(|s| s.0 == seq) else {
            return Ok(());
        };
        let len = self.write_file(seq, records)?;
        self.segments[i].1 = len;
        Ok(())
    }

    /// Samples in segment `seq` (what deleting it drops), as far as it reads.
    pub fn samples_in(&self, seq: u64) -> u64 {
        std::fs::read(self.dir.join(seg_name(seq)))
            .ok()
            .and_then(|d| decode(&d).ok())
            .map_or(0, |s| s.records.iter().map(|r| u64::from(r.samples)).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: u32, len: usize) -> Record {
        Record {
            created_ms: 1_700_000_000_000 + i64::from(n),
            max_ts_ms: 1_700_000_000_500 + i64::from(n),
            samples: n,
            body: vec![n as u8; len],
        }
    }

    const URL: &str = "http://127.0.0.1:8428/api/v1/write";

    #[test]
    fn round_trip() {
        let recs = vec![rec(1, 10), rec(2, 0), rec(3, 300)];
        let data = encode(URL, &recs);
        assert_eq!(
            decode(&data).unwrap(),
            Segment {
                url: URL.into(),
                records: recs.clone(),
                problem: None
            }
        );
        assert_eq!(data.len(), 8 + 2 + URL.len() + 4 + records_len(&recs));
    }

    #[test]
    fn truncated_or_corrupt_keeps_the_records_before_the_damage() {
        let recs = vec![rec(1, 10), rec(2, 20), rec(3, 30)];
        let data = encode(URL, &recs);
        // Killed mid-write: every cut keeps the whole records before it and never panics.
        for cut in 0..data.len() {
            match decode(&data[..cut]) {
                Err(e) => assert!(cut < 8 + 2 + URL.len() + 4, "{cut}: {e}"),
                Ok(seg) => {
                    let whole = recs
                        .iter()
                        .scan(8 + 2 + URL.len() + 4, |end, r| {
                            *end += 8 + FIXED + r.body.len();
                            Some(*end)
                        })
                        .filter(|end| *end <= cut)
                        .count();
                    assert_eq!(seg.records, recs[..whole], "cut at {cut}");
                    // Only a cut exactly between records reads as a shorter, clean file.
                    let boundary = cut == 8 + 2 + URL.len() + 4 + records_len(&recs[..whole]);
                    assert_eq!(seg.problem.is_none(), boundary, "cut at {cut}");
                }
            }
        }
        let cut = data.len() - 5;
        let p = decode(&data[..cut]).unwrap().problem.unwrap();
        assert!(p.contains("record 2") && p.contains("truncated"), "{p}");
        // A flipped bit in the second record: the first is kept, the rest skipped.
        let mut bad = data.clone();
        let second = 8 + 2 + URL.len() + 4 + 8 + FIXED + 10 + 8 + 3;
        bad[second] ^= 0x40;
        let seg = decode(&bad).unwrap();
        assert_eq!(seg.records, recs[..1]);
        assert!(seg.problem.unwrap().contains("checksum mismatch"));
        // A length frame from garbage.
        let mut huge = encode(URL, &[]);
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&[0; 4]);
        assert!(decode(&huge)
            .unwrap()
            .problem
            .unwrap()
            .contains("out of range"));
        // A damaged header: nothing can be trusted.
        let mut head = data.clone();
        head[9] ^= 1;
        assert!(decode(&head).is_err());
        assert!(decode(b"hello, world").is_err());
    }

    #[test]
    fn fuzz_seeds_written_by_another_encoder_read_back() {
        // fuzz/seeds/push_spool was written with Python's struct and zlib.crc32.
        let good = include_bytes!("../../fuzz/seeds/push_spool/two-records.seg");
        let seg = decode(good).unwrap();
        assert_eq!(
            (seg.url.as_str(), seg.records.len(), seg.problem),
            (URL, 2, None)
        );
        assert_eq!(seg.records[1].created_ms, 1_700_000_001_000);
        assert_eq!(seg.records[0].body.len(), 72);
        assert_eq!(encode(URL, &seg.records), good);
        let cut = decode(include_bytes!("../../fuzz/seeds/push_spool/truncated.seg")).unwrap();
        assert_eq!(cut.records.len(), 1);
        assert!(cut.problem.unwrap().contains("record 1"));
        crate::fuzzing::push_spool(good);
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("promlet-spool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn segments_persist_oldest_first_and_tmp_files_go() {
        let d = dir("persist");
        let mut s = Spool::open(&d, URL, 1 << 20).unwrap();
        s.append(&[rec(1, 10)]).unwrap();
        s.append(&[rec(2, 10), rec(3, 10)]).unwrap();
        std::fs::write(d.join("0000000000000009.seg.tmp"), b"half").unwrap();
        let mut s = Spool::open(&d, URL, 1 << 20).unwrap();
        assert!(!d.join("0000000000000009.seg.tmp").exists());
        let r = s.read_oldest().unwrap();
        assert_eq!(r.records, [rec(1, 10)]);
        assert!(r.problem.is_none());
        s.remove(r.seq);
        assert_eq!(s.read_oldest().unwrap().records, [rec(2, 10), rec(3, 10)]);
        // The unsent rest of a segment replaces it.
        let seq = s.oldest_seq().unwrap();
        s.replace(seq, &[rec(3, 10)]).unwrap();
        s.append(&[rec(4, 10)]).unwrap();
        let s = Spool::open(&d, URL, 1 << 20).unwrap();
        assert_eq!(s.read_oldest().unwrap().records, [rec(3, 10)]);
        assert_eq!(s.samples_in(seq), 3);
        assert_eq!(
            s.bytes(),
            std::fs::read_dir(&d)
                .unwrap()
                .map(|e| e.unwrap().metadata().unwrap().len())
                .sum::<u64>()
        );
    }

    #[test]
    fn a_truncated_file_is_reported_with_its_name_and_the_good_part_kept() {
        let d = dir("truncated");
        let mut s = Spool::open(&d, URL, 1 << 20).unwrap();
        s.append(&[rec(1, 10), rec(2, 10)]).unwrap();
        let f = d.join(seg_name(1));
        let data = std::fs::read(&f).unwrap();
        std::fs::write(&f, &data[..data.len() - 3]).unwrap();
        let s = Spool::open(&d, URL, 1 << 20).unwrap();
        let r = s.read_oldest().unwrap();
        assert_eq!(r.records, [rec(1, 10)]);
        let p = r.problem.unwrap();
        assert!(
            p.starts_with(&f.display().to_string()) && p.contains("truncated"),
            "{p}"
        );
        // Another remote's segment (or garbage) yields nothing, with the reason.
        let other = Spool::open(&d, "http://elsewhere/", 1 << 20).unwrap();
        assert!(other
            .read_oldest()
            .unwrap()
            .problem
            .unwrap()
            .contains("holds data for"));
        std::fs::write(&f, b"garbage").unwrap();
        let r = s.read_oldest().unwrap();
        assert!(r.records.is_empty() && r.problem.unwrap().contains("bad magic"));
    }

    #[test]
    fn fits_counts_header_and_frames() {
        let d = dir("fits");
        let mut s = Spool::open(&d, URL, 200).unwrap();
        let one = [rec(1, 100)];
        assert!(s.fits(&one));
        s.append(&one).unwrap();
        assert_eq!(s.bytes(), (8 + 2 + URL.len() + 4 + 8 + FIXED + 100) as u64);
        assert!(!s.fits(&one));
        assert!(s.fits_alone(&one));
        assert!(!s.fits_alone(&[rec(1, 200)]));
    }
}
