//! The remote-write 1.0 wire format: a protobuf-3 `WriteRequest` (prompb/remote.proto,
//! prompb/types.proto), compressed as one snappy *block* (not the framed format). Spec:
//! <https://prometheus.io/docs/specs/prw/remote_write_spec/>. No I/O here.
//!
//! The encoder is written by hand rather than derived with prost: the message is four nested
//! types with two field kinds, and writing straight from borrowed series into one buffer
//! avoids building owned `String` label structs for every sample of every push (the CPU per
//! pushed sample is what a router pays). Field layout (tag byte = field << 3 | wire type):
//!
//! | message | field | tag |
//! |---|---|---|
//! | WriteRequest | 1 timeseries (repeated, LEN) | 0x0a |
//! | TimeSeries | 1 labels (repeated, LEN), 2 samples (repeated, LEN) | 0x0a, 0x12 |
//! | Label | 1 name, 2 value (string, LEN) | 0x0a, 0x12 |
//! | Sample | 1 value (double, I64 little-endian), 2 timestamp (int64, VARINT) | 0x09, 0x10 |
//!
//! As Go's generated code does, fields equal to their proto3 default (0, empty) are left out;
//! repeated fields are not packed; a negative timestamp is a 10-byte two's complement varint.

/// The staleness marker: the NaN with exactly these bits (Prometheus `value.StaleNaN`).
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// One series to encode: its label set as [`put_labels`] encoded it (complete, `__name__`
/// included, sorted by name bytes, no empty names or values), and its samples (timestamp ms,
/// value) in time order. The labels come encoded so that a label set is encoded once per
/// gather, whatever the number of remotes, and kept in that form for the staleness markers.
pub struct SeriesRef<'a> {
    pub labels: &'a [u8],
    pub samples: &'a [(i64, f64)],
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes of a string field (tag, length, text), nothing when empty.
fn string_field_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        1 + varint_len(s.len() as u64) + s.len()
    }
}

fn put_string_field(out: &mut Vec<u8>, tag: u8, s: &str) {
    if !s.is_empty() {
        out.push(tag);
        put_varint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
}

fn label_len(name: &str, value: &str) -> usize {
    string_field_len(name) + string_field_len(value)
}

fn sample_len(ts: i64, v: f64) -> usize {
    // -0.0 == 0.0 is left out too, as Go does; a NaN never equals 0.
    let value = if v == 0.0 { 0 } else { 9 };
    let time = if ts == 0 {
        0
    } else {
        1 + varint_len(ts as u64)
    };
    value + time
}

fn series_len(s: &SeriesRef<'_>) -> usize {
    let samples: usize = s
        .samples
        .iter()
        .map(|(t, v)| {
            let n = sample_len(*t, *v);
            1 + varint_len(n as u64) + n
        })
        .sum();
    s.labels.len() + samples
}

/// Appends the `TimeSeries.labels` entries of `labels` to `out`, as [`SeriesRef::labels`]
/// takes them.
pub fn put_labels(out: &mut Vec<u8>, labels: &[(&str, &str)]) {
    for (k, v) in labels {
        out.push(0x0a);
        put_varint(out, label_len(k, v) as u64);
        put_string_field(out, 0x0a, k);
        put_string_field(out, 0x12, v);
    }
}

/// Appends one `WriteRequest.timeseries` entry for `s` to `out`. A request is the
/// concatenation of its entries, so batches are built by appending.
pub fn put_series(out: &mut Vec<u8>, s: &SeriesRef<'_>) {
    out.push(0x0a);
    put_varint(out, series_len(s) as u64);
    out.extend_from_slice(s.labels);
    for &(t, v) in s.samples {
        out.push(0x12);
        put_varint(out, sample_len(t, v) as u64);
        if v != 0.0 {
            out.push(0x09);
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        if t != 0 {
            out.push(0x10);
            put_varint(out, t as u64);
        }
    }
}

thread_local! {
    /// The gatherer's compressor: its hash table (32 KiB) is made once, not per request.
    static SNAPPY: std::cell::RefCell<snap::raw::Encoder> =
        std::cell::RefCell::new(snap::raw::Encoder::new());
}

/// A whole request body: the encoded `WriteRequest` as one snappy block, exactly as long as
/// it is (it waits in the queue). Compressed in a spare buffer ([`crate::spare`]), as a
/// block needs room for its worst case.
pub fn compress(request: &[u8]) -> Result<Vec<u8>, String> {
    let mut room = crate::spare::take();
    room.resize(snap::raw::max_compress_len(request.len()), 0);
    let body = SNAPPY
        .with(|e| e.borrow_mut().compress(request, &mut room))
        .map(|n| room[..n].to_vec())
        .map_err(|e| format!("snappy: {e}"));
    crate::spare::give_back(room);
    body
}

/// Labels as [`put_labels`] encoded them, back as pairs: for tests, which check what was
/// written.
#[cfg(test)]
pub fn decode_labels(mut b: &[u8]) -> Vec<(String, String)> {
    fn varint(b: &mut &[u8]) -> usize {
        let (mut v, mut shift) = (0usize, 0);
        loop {
            let c = b[0];
            *b = &b[1..];
            v |= usize::from(c & 0x7f) << shift;
            if c < 0x80 {
                return v;
            }
            shift += 7;
        }
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        assert_eq!(b[0], 0x0a);
        b = &b[1..];
        let n = varint(&mut b);
        let (mut label, rest) = b.split_at(n);
        b = rest;
        let (mut k, mut v) = (String::new(), String::new());
        while !label.is_empty() {
            let tag = label[0];
            label = &label[1..];
            let n = varint(&mut label);
            let text = String::from_utf8(label[..n].to_vec()).unwrap();
            label = &label[n..];
            if tag == 0x0a {
                k = text;
            } else {
                v = text;
            }
        }
        out.push((k, v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(out: &mut Vec<u8>, labels: &[(&str, &str)], samples: &[(i64, f64)]) {
        let mut l = Vec::new();
        put_labels(&mut l, labels);
        put_series(
            out,
            &SeriesRef {
                labels: &l,
                samples,
            },
        );
    }

    /// The worked example of the remote-write notes, encoded by hand from the field table:
    /// `{__name__="up", instance="router", job="node"}` 1.0 at 1700000000000.
    #[test]
    fn one_series_exact_bytes() {
        let mut out = Vec::new();
        put(
            &mut out,
            &[("__name__", "up"), ("instance", "router"), ("job", "node")],
            &[(1_700_000_000_000, 1.0)],
        );
        let mut want = vec![0x0a, 0x43];
        want.extend_from_slice(&[0x0a, 0x0e, 0x0a, 0x08]);
        want.extend_from_slice(b"__name__");
        want.extend_from_slice(&[0x12, 0x02]);
        want.extend_from_slice(b"up");
        want.extend_from_slice(&[0x0a, 0x12, 0x0a, 0x08]);
        want.extend_from_slice(b"instance");
        want.extend_from_slice(&[0x12, 0x06]);
        want.extend_from_slice(b"router");
        want.extend_from_slice(&[0x0a, 0x0b, 0x0a, 0x03]);
        want.extend_from_slice(b"job");
        want.extend_from_slice(&[0x12, 0x04]);
        want.extend_from_slice(b"node");
        want.extend_from_slice(&[0x12, 0x10, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
        want.extend_from_slice(&[0x10, 0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31]);
        assert_eq!(out, want);
        assert_eq!(out.len(), 69);
    }

    #[test]
    fn stale_marker_and_defaults_left_out() {
        let mut out = Vec::new();
        put(
            &mut out,
            &[("__name__", "x")],
            &[(1_700_000_015_000, f64::from_bits(STALE_NAN)), (0, 0.0)],
        );
        let sample = [
            0x12, 0x10, 0x09, 0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f, 0x10, 0x98, 0xc5, 0x96, 0xff, 0xbc,
            0x31,
        ];
        assert!(out.windows(sample.len()).any(|w| w == sample), "{out:02x?}");
        // The zero sample is an empty message: tag and length 0.
        assert_eq!(&out[out.len() - 2..], &[0x12, 0x00]);
    }

    #[test]
    fn negative_timestamp_is_ten_bytes() {
        assert_eq!(sample_len(-1, 1.0), 9 + 1 + 10);
        let mut out = Vec::new();
        put_varint(&mut out, -1i64 as u64);
        assert_eq!(
            out,
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn snappy_block_round_trips() {
        let mut req = Vec::new();
        for i in 0..100 {
            let v = i.to_string();
            put(
                &mut req,
                &[("__name__", "m"), ("i", &v)],
                &[(1_700_000_000_000 + i, i as f64)],
            );
        }
        let body = compress(&req).unwrap();
        // A block starts with the uncompressed length as a varint, never the framed
        // format's stream identifier (0xff 0x06 "sNaPpY").
        assert_ne!(body[0], 0xff);
        let mut len = Vec::new();
        put_varint(&mut len, req.len() as u64);
        assert!(body.starts_with(&len));
        assert!(body.len() < req.len());
        assert_eq!(
            snap::raw::Decoder::new().decompress_vec(&body).unwrap(),
            req
        );
    }
}
