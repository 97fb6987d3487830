//! Real programs through a daemon-mode `scfs mount`, with the results
//! checked after an unmount/remount (a new daemon) and, without any mount,
//! with `scfs decompress` on the backing containers.

mod common;

use common::{have, sh, Mount};

#[test]
fn cp_cat_dd_append_persist() {
    let Some(mut m) = Mount::new() else { return };
    let s = m.scratch().to_path_buf();
    std::fs::write(s.join("src.txt"), common::data(1_500_000, 7, true)).unwrap();
    std::fs::write(s.join("src.bin"), common::data(300_000, 8, false)).unwrap();
    sh(
        &s,
        "cp src.txt mnt/a.txt && cp src.bin mnt/b.bin
         cmp src.txt mnt/a.txt && cmp src.bin mnt/b.bin
         cat mnt/a.txt mnt/b.bin > cat.out && cat src.txt src.bin | cmp - cat.out
         # dd patches in the middle (notrunc) and past EOF, same on a reference copy
         head -c 12288 src.bin > patch
         cp src.txt ref.txt
         for f in mnt/a.txt ref.txt; do
           dd if=patch of=$f bs=4096 seek=37 conv=notrunc status=none
           dd if=patch of=$f bs=1000 seek=2000 conv=notrunc status=none
         done
         cmp ref.txt mnt/a.txt
         # sh redirections: >> appends, > truncates
         : > ref.log
         for i in $(seq 1 300); do echo \"line $i\" >> mnt/app.log; echo \"line $i\" >> ref.log; done
         cmp ref.log mnt/app.log
         echo replaced > mnt/b.bin && test \"$(cat mnt/b.bin)\" = replaced",
    );
    m.remount();
    sh(
        &s,
        "cmp ref.txt mnt/a.txt && cmp ref.log mnt/app.log && test \"$(cat mnt/b.bin)\" = replaced",
    );
    m.umount();
    assert!(m.decompress("a.txt") == std::fs::read(s.join("ref.txt")).unwrap());
    assert!(m.decompress("app.log") == std::fs::read(s.join("ref.log")).unwrap());
    assert_eq!(m.decompress("b.bin"), b"replaced\n");
}

#[test]
fn tar_extract_and_compare() {
    if !have("tar") {
        return;
    }
    let Some(mut m) = Mount::new() else { return };
    let s = m.scratch().to_path_buf();
    // A tree of many small files, a few larger ones, a symlink and a hard link.
    let tree = s.join("tree");
    for d in 0..8 {
        let dir = tree.join(format!("dir{d}/sub"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..25 {
            let len = (d * 25 + f) * 37 % 3000;
            std::fs::write(
                dir.join(format!("f{f}.txt")),
                common::data(len, (d * 100 + f) as u64, true),
            )
            .unwrap();
        }
    }
    std::fs::write(tree.join("big.bin"), common::data(2_000_000, 99, false)).unwrap();
    std::fs::write(tree.join("big.txt"), common::data(3_000_000, 98, true)).unwrap();
    std::os::unix::fs::symlink("big.txt", tree.join("link")).unwrap();
    std::fs::hard_link(tree.join("big.txt"), tree.join("hard.txt")).unwrap();
    sh(
        &s,
        "tar -cf t.tar tree && mkdir mnt/x && tar -xf t.tar -C mnt/x && diff -r tree mnt/x/tree
         test \"$(readlink mnt/x/tree/link)\" = big.txt
         test \"$(stat -c %h mnt/x/tree/hard.txt)\" = 2",
    );
    m.remount();
    sh(
        &s,
        "diff -r tree mnt/x/tree && tar -cf back.tar -C mnt/x tree && mkdir y && tar -xf back.tar -C y && diff -r tree y/tree",
    );
    // du sees the compressed size, du --apparent-size the logical size.
    let du = sh(&s, "du -sk mnt/x/tree/big.txt | cut -f1");
    let apparent = sh(&s, "du -sk --apparent-size mnt/x/tree/big.txt | cut -f1");
    let (du, apparent): (u64, u64) = (du.trim().parse().unwrap(), apparent.trim().parse().unwrap());
    assert!(
        du > 0 && du < apparent,
        "du {du} KiB vs apparent {apparent} KiB"
    );
}

#[test]
fn sqlite_many_inserts_then_integrity_after_remount() {
    if !have("sqlite3") {
        return;
    }
    let Some(mut m) = Mount::new() else { return };
    let s = m.scratch().to_path_buf();
    sh(
        &s,
        "sqlite3 mnt/db.sqlite \"
           create table t(id integer primary key, name text, n integer);
           create index t_n on t(n);
           begin;
           with recursive c(x) as (select 1 union all select x + 1 from c where x < 20000)
             insert into t(name, n) select 'row ' || x || ' ' || hex(randomblob(20)), x % 977 from c;
           commit;\"
         for i in 1 2 3 4 5 6 7 8; do
           sqlite3 mnt/db.sqlite \"update t set n = n + $i where id % 7 = $i % 7; delete from t where id % 101 = $i;\"
         done",
    );
    let before = sh(&s, "sqlite3 mnt/db.sqlite 'select count(*), sum(n) from t'");
    m.remount();
    let check = sh(&s, "sqlite3 mnt/db.sqlite 'pragma integrity_check'");
    assert_eq!(check.trim(), "ok");
    let after = sh(&s, "sqlite3 mnt/db.sqlite 'select count(*), sum(n) from t'");
    assert_eq!(before, after);
    assert!(before.starts_with("18414|"), "{before}");
}
