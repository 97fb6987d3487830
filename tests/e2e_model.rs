//! Randomized reference-model test through a real daemon-mode mount:
//! random sequences of write / read / truncate / fallocate / punch /
//! rename / fsync / remount on a few files (`common::model`'s tree
//! operations and model), compared after every read, after every remount
//! and at the end of each case.

mod common;

use std::cell::RefCell;

use proptest::test_runner::{Config, TestRunner};

use common::model::{tree_op, Tree};
use common::Mount;

const NAMES: [&str; 3] = ["f0", "f1", "f2"];
const MAX_OFF: u64 = 400_000;

#[test]
fn random_operations_match_the_model() {
    let Some(m) = Mount::new() else { return };
    let m = RefCell::new(m);
    let cases = std::env::var("SCFS_MODEL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let mut runner = TestRunner::new(Config {
        cases,
        max_shrink_iters: 40,
        failure_persistence: None,
        ..Config::default()
    });
    let ops = tree_op(NAMES.len(), MAX_OFF, 140_000, 200_000);
    let result = runner.run(&proptest::collection::vec(ops, 1..24), |ops| {
        let mut m = m.borrow_mut();
        for n in NAMES {
            let _ = std::fs::remove_file(m.p(n));
        }
        let mnt = m.mnt.clone();
        let mut tree = Tree::new(&NAMES, false);
        for op in &ops {
            tree.apply(&mnt, op, &mut || m.remount());
        }
        tree.check(&mnt, "end of case");
        m.remount();
        tree.check(&mnt, "final remount");
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
