//! Fuzzes the text-format parsers and the proxy's span decoder, which must agree (`promlet::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| promlet::fuzzing::expfmt_parse(data));
