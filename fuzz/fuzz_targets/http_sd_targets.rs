//! Fuzzes the http_sd target-file readers, JSON and YAML (`promlet::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| promlet::fuzzing::http_sd_targets(data));
