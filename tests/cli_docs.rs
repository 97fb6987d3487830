//! The man page and shell completions in the repository are what
//! `cargo run --example gen_docs` makes from the current clap definitions:
//! a CLI change without regenerating them fails here.

#[allow(dead_code)]
#[path = "../examples/gen_docs.rs"]
mod gen_docs;

#[test]
fn generated_docs_are_current() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stale = Vec::new();
    for (path, want) in gen_docs::render() {
        let have = std::fs::read(root.join(path)).unwrap_or_default();
        if have != want {
            stale.push(path);
        }
    }
    assert!(
        stale.is_empty(),
        "out of date: {stale:?}; run `cargo run --example gen_docs` and commit the result"
    );
}

#[test]
fn man_page_covers_every_subcommand_and_mount_option() {
    let man = String::from_utf8(gen_docs::render()[0].1.clone()).unwrap();
    for sub in scfs::cli::command().get_subcommands() {
        let name = sub.get_name();
        if name != "help" {
            assert!(
                man.contains(&format!(".SH \"SCFS {}\"", name.to_uppercase())),
                "{name}"
            );
        }
    }
    for (opt, _) in scfs::cli::mount::help::OPTIONS {
        assert!(man.contains(&opt.replace('-', "\\-")), "{opt}");
    }
    assert!(man.contains("inode_fds=N"));
}
