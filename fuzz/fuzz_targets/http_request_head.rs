//! Fuzzes the HTTP server's request-head reader (`promlet::fuzzing::http_request_head`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| promlet::fuzzing::http_request_head(data));
