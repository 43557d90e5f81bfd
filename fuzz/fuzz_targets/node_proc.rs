//! Fuzzes the node collectors' text parsers (`promlet::fuzzing::node_proc`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| promlet::fuzzing::node_proc(data));
