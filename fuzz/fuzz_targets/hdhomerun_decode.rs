//! Fuzzes the HDHomeRun frame decoder and the status parsers (`promlet::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| promlet::fuzzing::hdhomerun_decode(data));
