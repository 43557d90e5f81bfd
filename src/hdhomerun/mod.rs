//! HDHomeRun: control protocol client, CLI and multi-target exporter (skeleton, being built).
use crate::part::Entry;
pub const PART: Entry = Entry {
    name: "hdhomerun",
    flags: Vec::new,
    init: |_| Ok(None),
};
pub mod cli {
    pub fn main(_args: &[String]) -> i32 {
        eprintln!("promlet hdhomerun: not built yet");
        2
    }
}
