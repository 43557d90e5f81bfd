//! Fuzzes the `--web.config.file` reader (`promlet::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| promlet::fuzzing::web_config(data));
