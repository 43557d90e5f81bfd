//! Fuzzes the HDHomeRun frame decoder and the text parsers with arbitrary bytes: none may
//! panic, and every frame that decodes must encode back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/crc32.rs"]
mod crc32;

#[allow(dead_code)]
#[path = "../../src/hdhomerun/packet.rs"]
mod packet;
#[allow(dead_code)]
#[path = "../../src/hdhomerun/status.rs"]
mod status;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = packet::Packet::decode(data) {
        // Decoding is canonical unless a length used the two-byte form for a value below 128
        // (legal on the wire, never produced by the encoder).
        if let Ok(again) = p.encode() {
            assert_eq!(packet::Packet::decode(&again).as_ref(), Ok(&p));
        }
        for t in &p.tags {
            let _ = packet::c_string(&t.value);
        }
    }
    if data.len() >= 4 {
        let _ = packet::frame_len(&[data[0], data[1], data[2], data[3]]);
    }
    let text = String::from_utf8_lossy(data);
    let _ = status::parse_debug(&text);
    let _ = status::parse_status(&text);
    let _ = status::parse_streaminfo(&text);
    let _ = status::parse_version(&text);
});
