//! Packet SD (skeleton, being built).
use crate::part::Entry;
pub const PART: Entry = Entry {
    name: "packet-sd",
    flags: Vec::new,
    init: |_| Ok(None),
};
pub fn cli_main(_args: &[String]) -> i32 {
    eprintln!("promlet packet-sd: not built yet");
    2
}
