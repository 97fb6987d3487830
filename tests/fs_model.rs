//! Randomized reference model through an in-process mount: random
//! sequences of write / read / truncate / fallocate / punch / rename /
//! fsync / remount on a few files (`common::model`'s tree operations and
//! model), compared byte for byte. 4 KiB blocks and a small cache so that
//! block boundaries, evictions and compaction are all exercised.

mod common;

use std::fs::{self, File};

use common::inproc::Mounted;
use common::model::{tree_op, Op, Tree, TreeOp};
use proptest::prelude::*;
use scfs::fs::FsOptions;

const NAMES: [&str; 3] = ["a", "b", "sub/c"];
const MAXLEN: u64 = 200_000;

fn opts(writeback_cache: bool) -> FsOptions {
    FsOptions {
        block_size: 4096,
        cache_size: 64 << 10,
        writeback_cache,
        ..Default::default()
    }
}

fn run(ops: &[TreeOp], wb: bool) {
    let Some(mut m) = Mounted::with(opts(wb), |b| fs::create_dir(b.join("sub")).unwrap()) else {
        return;
    };
    let mut tree = Tree::new(&NAMES, true);
    let mnt = m.mnt.clone();
    for op in ops {
        tree.apply(&mnt, op, &mut || m.remount(opts(wb)));
    }
    // Everything, through the mount and after an unmount in BACKING.
    tree.check(&mnt, "end of case");
    m.unmount();
    for (f, v) in &tree.files {
        let file = File::open(m.b(NAMES[*f])).unwrap();
        if file.metadata().unwrap().len() == 0 {
            // Never had content: an empty file (FORMAT.md 3.6).
            assert!(v.is_empty(), "{} lost its content", NAMES[*f]);
            continue;
        }
        let c = scfs::container::Container::open(file, false).unwrap();
        assert_eq!(c.logical_size(), v.len());
    }
}

/// The case the regressions file kept from before the shared Op
/// vocabulary (`Allocate { f: 0, off: 0, len: 6, keep: true }`).
#[test]
fn model_regressions() {
    let op = Op::Allocate {
        off: 0,
        len: 6,
        keep: true,
    };
    run(&[TreeOp::File(0, op.clone())], false);
    run(&[TreeOp::File(0, op)], true);
}

fn ops() -> impl Strategy<Value = Vec<TreeOp>> {
    proptest::collection::vec(tree_op(NAMES.len(), MAXLEN, 20_000, 30_000), 1..40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
    #[test]
    fn random_operations_match_the_model(ops in ops()) {
        run(&ops, false);
    }

    #[test]
    fn random_operations_match_the_model_writeback(ops in ops()) {
        run(&ops, true);
    }
}
