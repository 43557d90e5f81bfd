//! Merging proxy (skeleton, being built).
use crate::part::Entry;
pub const PART: Entry = Entry {
    name: "proxy",
    flags: Vec::new,
    init: |_| Ok(None),
};
