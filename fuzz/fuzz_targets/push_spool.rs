//! Fuzzes push mode's spool segment reader (`promlet::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| promlet::fuzzing::push_spool(data));
