//! gzip (RFC 1952) around miniz_oxide's raw deflate, for responses and gzip upstreams;
//! flate2 would bring the same backend plus a streaming layer promlet does not need.

use crate::crc32::crc32;

/// Compresses `data` into a gzip member (fast level: scrapes are latency-bound).
pub fn compress(data: &[u8]) -> Vec<u8> {
    let deflated = miniz_oxide::deflate::compress_to_vec(data, 1);
    let mut out = Vec::with_capacity(deflated.len() + 18);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    out.extend_from_slice(&deflated);
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// Decompresses one gzip member, refusing output larger than `limit` bytes (the proxy's gzip
/// upstreams).
#[cfg(any(feature = "proxy", test))]
pub fn decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    if data.len() < 18 || data[0] != 0x1f || data[1] != 0x8b || data[2] != 8 {
        return Err("not gzip data".into());
    }
    let flags = data[3];
    let mut pos = 10;
    if flags & 0x04 != 0 {
        let xlen = u16::from_le_bytes([
            *data.get(pos).ok_or("truncated gzip header")?,
            *data.get(pos + 1).ok_or("truncated gzip header")?,
        ]) as usize;
        pos += 2 + xlen;
    }
    for bit in [0x08, 0x10] {
        if flags & bit != 0 {
            let end = data
                .get(pos..)
                .and_then(|d| d.iter().position(|&b| b == 0))
                .ok_or("truncated gzip header")?;
            pos += end + 1;
        }
    }
    if flags & 0x02 != 0 {
        pos += 2;
    }
    if pos + 8 > data.len() {
        return Err("truncated gzip data".into());
    }
    let body = &data[pos..data.len() - 8];
    let out = miniz_oxide::inflate::decompress_to_vec_with_limit(body, limit)
        .map_err(|e| format!("gzip: {:?}", e.status))?;
    let trailer = &data[data.len() - 8..];
    let want_crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    if crc32(&out) != want_crc {
        return Err("gzip: checksum mismatch".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let data = b"node_load1 0.5\n".repeat(100);
        let z = super::compress(&data);
        assert!(z.len() < data.len());
        assert_eq!(super::decompress(&z, 1 << 20).unwrap(), data);
        assert!(super::decompress(&z, 10).is_err());
        assert!(super::decompress(&z[..z.len() - 3], 1 << 20).is_err());
    }
}
