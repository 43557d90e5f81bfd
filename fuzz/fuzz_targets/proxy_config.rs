//! Fuzzes the proxy's `--config.file` reader (`promlet::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| promlet::fuzzing::proxy_config(data));
