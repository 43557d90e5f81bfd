//! Fuzzes the netlink framing, the rtnetlink and nl80211 reply parsers and the dump loop
//! (`promlet::fuzzing::netlink`): their bytes come from the kernel and its drivers.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| promlet::fuzzing::netlink(data));
