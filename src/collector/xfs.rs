//! `xfs`: the per-filesystem XFS counters of `/sys/fs/xfs/<device>/stats/stats` (the same
//! text as the global `/proc/fs/xfs/stat`, one file per mounted filesystem; the format is the
//! kernel's fs/xfs/xfs_stats.c, documented at https://xfs.org/index.php/Runtime_Stats), as
//! node_exporter 1.5's 39 `node_xfs_*_total{device}` counters. The global file is not read:
//! 1.5 does not either. No `/sys/fs/xfs`: no series, success.

use std::path::PathBuf;

use super::{read, sysfs, write_family, Collector, Error, Paths};
use crate::expfmt::{Encoder, MetricType};
use crate::flags::Flags;

/// Values each known line must have (procfs checks them; vnodes gained a column in 2.6).
const SHAPES: &[(&str, &[usize])] = &[
    ("extent_alloc", &[4]),
    ("abt", &[4]),
    ("blk_map", &[7]),
    ("bmbt", &[4]),
    ("dir", &[4]),
    ("trans", &[3]),
    ("ig", &[7]),
    ("log", &[5]),
    ("rw", &[2]),
    ("attr", &[4]),
    ("icluster", &[3]),
    ("vnodes", &[7, 8]),
    ("buf", &[9]),
];

/// (line, column, family, HELP), in node_exporter's order. The kernel prints `rw` as
/// xs_write_calls then xs_read_calls.
#[rustfmt::skip]
const FAMILIES: &[(&str, usize, &str, &str)] = &[
    ("extent_alloc", 0, "node_xfs_extent_allocation_extents_allocated_total", "Number of extents allocated for a filesystem."),
    ("extent_alloc", 1, "node_xfs_extent_allocation_blocks_allocated_total", "Number of blocks allocated for a filesystem."),
    ("extent_alloc", 2, "node_xfs_extent_allocation_extents_freed_total", "Number of extents freed for a filesystem."),
    ("extent_alloc", 3, "node_xfs_extent_allocation_blocks_freed_total", "Number of blocks freed for a filesystem."),
    ("abt", 0, "node_xfs_allocation_btree_lookups_total", "Number of allocation B-tree lookups for a filesystem."),
    ("abt", 1, "node_xfs_allocation_btree_compares_total", "Number of allocation B-tree compares for a filesystem."),
    ("abt", 2, "node_xfs_allocation_btree_records_inserted_total", "Number of allocation B-tree records inserted for a filesystem."),
    ("abt", 3, "node_xfs_allocation_btree_records_deleted_total", "Number of allocation B-tree records deleted for a filesystem."),
    ("blk_map", 0, "node_xfs_block_mapping_reads_total", "Number of block map for read operations for a filesystem."),
    ("blk_map", 1, "node_xfs_block_mapping_writes_total", "Number of block map for write operations for a filesystem."),
    ("blk_map", 2, "node_xfs_block_mapping_unmaps_total", "Number of block unmaps (deletes) for a filesystem."),
    ("blk_map", 3, "node_xfs_block_mapping_extent_list_insertions_total", "Number of extent list insertions for a filesystem."),
    ("blk_map", 4, "node_xfs_block_mapping_extent_list_deletions_total", "Number of extent list deletions for a filesystem."),
    ("blk_map", 5, "node_xfs_block_mapping_extent_list_lookups_total", "Number of extent list lookups for a filesystem."),
    ("blk_map", 6, "node_xfs_block_mapping_extent_list_compares_total", "Number of extent list compares for a filesystem."),
    ("bmbt", 0, "node_xfs_block_map_btree_lookups_total", "Number of block map B-tree lookups for a filesystem."),
    ("bmbt", 1, "node_xfs_block_map_btree_compares_total", "Number of block map B-tree compares for a filesystem."),
    ("bmbt", 2, "node_xfs_block_map_btree_records_inserted_total", "Number of block map B-tree records inserted for a filesystem."),
    ("bmbt", 3, "node_xfs_block_map_btree_records_deleted_total", "Number of block map B-tree records deleted for a filesystem."),
    ("dir", 0, "node_xfs_directory_operation_lookup_total", "Number of file name directory lookups which miss the operating systems directory name lookup cache."),
    ("dir", 1, "node_xfs_directory_operation_create_total", "Number of times a new directory entry was created for a filesystem."),
    ("dir", 2, "node_xfs_directory_operation_remove_total", "Number of times an existing directory entry was created for a filesystem."),
    ("dir", 3, "node_xfs_directory_operation_getdents_total", "Number of times the directory getdents operation was performed for a filesystem."),
    ("ig", 0, "node_xfs_inode_operation_attempts_total", "Number of times the OS looked for an XFS inode in the inode cache."),
    ("ig", 1, "node_xfs_inode_operation_found_total", "Number of times the OS looked for and found an XFS inode in the inode cache."),
    ("ig", 2, "node_xfs_inode_operation_recycled_total", "Number of times the OS found an XFS inode in the cache, but could not use it as it was being recycled."),
    ("ig", 3, "node_xfs_inode_operation_missed_total", "Number of times the OS looked for an XFS inode in the cache, but did not find it."),
    ("ig", 4, "node_xfs_inode_operation_duplicates_total", "Number of times the OS tried to add a missing XFS inode to the inode cache, but found it had already been added by another process."),
    ("ig", 5, "node_xfs_inode_operation_reclaims_total", "Number of times the OS reclaimed an XFS inode from the inode cache to free memory for another purpose."),
    ("ig", 6, "node_xfs_inode_operation_attribute_changes_total", "Number of times the OS explicitly changed the attributes of an XFS inode."),
    ("rw", 1, "node_xfs_read_calls_total", "Number of read(2) system calls made to files in a filesystem."),
    ("rw", 0, "node_xfs_write_calls_total", "Number of write(2) system calls made to files in a filesystem."),
    ("vnodes", 0, "node_xfs_vnode_active_total", "Number of vnodes not on free lists for a filesystem."),
    ("vnodes", 1, "node_xfs_vnode_allocate_total", "Number of times vn_alloc called for a filesystem."),
    ("vnodes", 2, "node_xfs_vnode_get_total", "Number of times vn_get called for a filesystem."),
    ("vnodes", 3, "node_xfs_vnode_hold_total", "Number of times vn_hold called for a filesystem."),
    ("vnodes", 4, "node_xfs_vnode_release_total", "Number of times vn_rele called for a filesystem."),
    ("vnodes", 5, "node_xfs_vnode_reclaim_total", "Number of times vn_reclaim called for a filesystem."),
    ("vnodes", 6, "node_xfs_vnode_remove_total", "Number of times vn_remove called for a filesystem."),
];

pub fn new(paths: &Paths, _: &Flags) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Xfs {
        dir: paths.sys("fs/xfs"),
    }))
}

struct Xfs {
    dir: PathBuf,
}

/// The counters of one stats file: each line's label and its values.
#[derive(Debug, Default)]
pub struct Stats<'a> {
    lines: Vec<(&'a str, Vec<u32>)>,
}

impl Stats<'_> {
    /// Column `i` of line `label`; 0 when the kernel does not print the line.
    pub fn get(&self, label: &str, i: usize) -> u32 {
        self.lines
            .iter()
            .find(|(l, _)| *l == label)
            .and_then(|(_, v)| v.get(i).copied())
            .unwrap_or(0)
    }
}

/// Parses the text of an XFS stats file. Every line but `xpc` holds 32-bit counters (the
/// kernel's are u32 and wrap); a value that is not one, or a known line with the wrong number
/// of values, is an error, as in procfs.
pub fn parse(text: &str) -> Result<Stats<'_>, String> {
    let mut out = Stats::default();
    for (n, line) in text.lines().enumerate() {
        let mut f = line.split_ascii_whitespace();
        let (Some(label), rest) = (f.next(), f) else {
            continue;
        };
        let rest: Vec<&str> = rest.collect();
        if rest.is_empty() {
            continue;
        }
        if label == "xpc" {
            // Extended-precision byte counters: u64, three of them; not exported by 1.5.
            for v in &rest {
                v.parse::<u64>()
                    .map_err(|_| format!("line {}: xpc: not a u64: {v:?}", n + 1))?;
            }
            if rest.len() != 3 {
                return Err(format!(
                    "line {}: xpc has {} values, want 3",
                    n + 1,
                    rest.len()
                ));
            }
            continue;
        }
        let mut vals = Vec::with_capacity(rest.len());
        for v in &rest {
            vals.push(
                v.parse::<u32>()
                    .map_err(|_| format!("line {}: {label}: not a u32: {v:?}", n + 1))?,
            );
        }
        if let Some((_, want)) = SHAPES.iter().find(|(l, _)| *l == label) {
            if !want.contains(&vals.len()) {
                return Err(format!(
                    "line {}: {label} has {} values, want {want:?}",
                    n + 1,
                    vals.len()
                ));
            }
            out.lines.push((label, vals));
        }
    }
    Ok(out)
}

impl Collector for Xfs {
    fn update(&self, enc: &mut Encoder) -> Result<(), Error> {
        let Some(names) = sysfs::names(&self.dir)? else {
            return Ok(());
        };
        let mut texts = Vec::new();
        for name in names {
            let path = self.dir.join(&name).join("stats/stats");
            // 1.5 globs <dir>/*/stats/stats: entries without the file are not filesystems
            // (the global "stats" directory sits beside them).
            if !path.is_file() {
                continue;
            }
            texts.push((name, read(&path)?, path));
        }
        let mut devs = Vec::with_capacity(texts.len());
        for (name, text, path) in &texts {
            let s = parse(text).map_err(|msg| Error::Parse {
                path: path.clone(),
                msg,
            })?;
            devs.push((name.as_str(), s));
        }
        for (line, col, name, help) in FAMILIES {
            write_family(enc, name, help, MetricType::Counter, |add| {
                for (dev, s) in &devs {
                    add(&[("device", dev)], f64::from(s.get(line, *col)));
                }
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    /// The fixture in the kernel 6.18 layout (the lines of this build machine's
    /// /proc/fs/xfs/stat), values made up.
    const KERNEL_6_18: &str =
        include_str!("../../tests/fixtures/server/sys/fs/xfs/sda1/stats/stats");

    #[test]
    fn xfs_kernel_6_18_layout() {
        let s = parse(KERNEL_6_18).unwrap();
        assert_eq!(s.get("extent_alloc", 0), 142466);
        assert_eq!(s.get("ig", 6), 388809);
        assert_eq!(s.get("rw", 1), 2871522);
        assert_eq!(s.get("vnodes", 0), 62);
    }

    #[test]
    fn xfs_vnodes_seven_or_eight_and_missing_lines_read_zero() {
        let s = parse("vnodes 1 2 3 4 5 6 7\n").unwrap();
        assert_eq!(s.get("vnodes", 6), 7);
        assert_eq!(s.get("rw", 0), 0);
        assert!(parse("vnodes 1 2 3 4 5 6\n").is_err());
        assert!(parse("vnodes 1 2 3 4 5 6 7 8 9\n").is_err());
    }

    #[test]
    fn xfs_malformed() {
        assert!(parse("rw 1\n").is_err(), "short known line");
        assert!(parse("rw 1 4294967296\n").is_err(), "above u32");
        assert!(
            parse("push_ail x 1\n").is_err(),
            "unknown lines are still numbers"
        );
        assert!(parse("xpc 1 2\n").is_err());
        assert!(parse("xpc 1 2 18446744073709551615\n").is_ok());
        assert!(
            parse("debug\n\nrw 1 2\n").is_ok(),
            "one-field lines are skipped"
        );
    }
}
