//! HTTP SD server (skeleton, being built).
use crate::part::Entry;
pub const PART: Entry = Entry {
    name: "http-sd",
    flags: Vec::new,
    init: |_| Ok(None),
};
pub fn check_main(_args: &[String]) -> i32 {
    eprintln!("promlet check: not built yet");
    2
}
