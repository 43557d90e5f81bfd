//! Fuzzes the HTTP/1.1 response decoder (heads, framing, chunks, trailers, gzip bodies) through
//! `promlet::fuzzing::http_response`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| promlet::fuzzing::http_response(data));
