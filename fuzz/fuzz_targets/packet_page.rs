//! Fuzzes the Packet API page decoder and the device mapping (`promlet::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| promlet::fuzzing::packet_page(data));
