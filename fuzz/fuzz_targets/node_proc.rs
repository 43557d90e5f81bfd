//! Fuzzes every node collector's /proc, /sys and textfile parser with the same bytes (`promlet::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| promlet::fuzzing::node_proc(data));
