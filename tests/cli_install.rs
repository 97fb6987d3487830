//! Installing scfs as a user would: `scripts/install.sh` into a staging
//! root (every file where it belongs, `--uninstall` removes them), and the
//! Debian package from `scripts/build-deb.sh` installed with `dpkg -i`
//! (then `scfs --version`, `man scfs` showing the mount options, the
//! completions, `mount -t fuse.scfs` through the packaged binary) and
//! removed with `dpkg -r`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{have, is_mounted, run};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

const BIN: &str = env!("CARGO_BIN_EXE_scfs");

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const INSTALLED: [&str; 5] = [
    "bin/scfs",
    "share/man/man1/scfs.1",
    "share/bash-completion/completions/scfs",
    "share/zsh/site-functions/_scfs",
    "share/fish/vendor_completions.d/scfs.fish",
];

#[test]
fn install_script_puts_binary_man_page_and_completions_under_prefix() {
    let dest = tempfile::tempdir().unwrap();
    let script = repo().join("scripts/install.sh");
    ok(Command::new(&script)
        .env("DESTDIR", dest.path())
        .env("PREFIX", "/usr/local")
        .env("SCFS_BIN", BIN));
    let root = dest.path().join("usr/local");
    for f in INSTALLED {
        assert!(root.join(f).is_file(), "{f} not installed");
    }
    let v = ok(Command::new(root.join("bin/scfs")).arg("--version"));
    assert!(v.starts_with("scfs "), "{v}");
    let man = std::fs::read_to_string(root.join("share/man/man1/scfs.1")).unwrap();
    assert!(man.contains("inode_fds=N"));
    if have("bash") {
        // The bash completion loads and completes the subcommands.
        let comp = root.join("share/bash-completion/completions/scfs");
        let words = ok(Command::new("bash").arg("-c").arg(format!(
            ". '{}'; COMP_WORDS=(scfs mo); COMP_CWORD=1; COMP_LINE='scfs mo'; \
                 COMP_POINT=7; _scfs scfs mo scfs; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            comp.display()
        )));
        assert!(words.lines().any(|w| w == "mount"), "{words}");
    }
    ok(Command::new(&script)
        .arg("--uninstall")
        .env("DESTDIR", dest.path())
        .env("PREFIX", "/usr/local"));
    for f in INSTALLED {
        assert!(!root.join(f).exists(), "{f} left after --uninstall");
    }
}

/// Removes the package again however the test ends.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = run(Command::new("dpkg").args(["-r", "scfs"]));
    }
}

fn package_installed() -> bool {
    run(Command::new("dpkg-query").args(["-W", "-f=${Status}", "scfs"]))
        .stdout
        .starts_with(b"install ok installed")
}

#[test]
fn debian_package_installs_man_page_completions_and_mounts() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping: dpkg -i needs root");
        return;
    }
    if !have("dpkg-deb") || !have("man") {
        return;
    }
    if package_installed() {
        eprintln!("skipping: a package scfs is already installed (not touching it)");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let deb = ok(Command::new(repo().join("scripts/build-deb.sh"))
        .arg(out.path())
        .env("SCFS_BIN", BIN));
    let deb = PathBuf::from(deb.trim());
    assert!(deb.is_file(), "{}", deb.display());
    let contents = ok(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for f in [
        "./usr/bin/scfs",
        "./usr/share/man/man1/scfs.1.gz",
        "./usr/share/bash-completion/completions/scfs",
        "./usr/share/zsh/vendor-completions/_scfs",
        "./usr/share/fish/vendor_completions.d/scfs.fish",
    ] {
        assert!(contents.contains(f), "{f} missing:\n{contents}");
    }

    let guard = Installed;
    ok(Command::new("dpkg").arg("-i").arg(&deb));
    assert!(package_installed());
    let v = ok(Command::new("/usr/bin/scfs").arg("--version"));
    assert!(v.starts_with("scfs "), "{v}");
    assert_eq!(
        ok(Command::new("man").args(["-w", "scfs"])).trim(),
        "/usr/share/man/man1/scfs.1.gz"
    );
    let page = ok(Command::new("man")
        .arg("scfs")
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100"));
    for s in [
        "scfs mount",
        "inode_fds=N",
        "cache_size=SIZE",
        "SCFS UMOUNT",
    ] {
        assert!(page.contains(s), "man scfs lacks {s}");
    }

    // mount(8) -> mount.fuse3 -> the packaged /usr/bin/scfs (when nothing
    // earlier on the system PATH shadows it).
    let which = run(Command::new("sh").args(["-c", "command -v scfs"]));
    if String::from_utf8_lossy(&which.stdout).trim() == "/usr/bin/scfs"
        && Path::new("/dev/fuse").exists()
        && have("mount.fuse3")
    {
        let dir = tempfile::tempdir().unwrap();
        let (b, m) = (dir.path().join("b"), dir.path().join("m"));
        std::fs::create_dir(&b).unwrap();
        std::fs::create_dir(&m).unwrap();
        ok(Command::new("mount")
            .args(["-t", "fuse.scfs"])
            .arg(&b)
            .arg(&m)
            .env("SCFS_SYSLOG_SOCKET", dir.path().join("nolog")));
        let mounted = is_mounted(&m);
        if mounted {
            std::fs::write(m.join("f"), b"packaged").unwrap();
        }
        ok(Command::new("/usr/bin/scfs").arg("umount").arg(&m));
        assert!(mounted, "mount -t fuse.scfs did not mount");
        assert!(ok(Command::new(BIN).arg("info").arg(b.join("f"))).contains("v2"));
    } else {
        eprintln!("(mount -t fuse.scfs through the package not tried: scfs shadowed or no FUSE)");
    }

    drop(guard);
    assert!(!package_installed(), "dpkg -r left the package");
    assert!(!Path::new("/usr/bin/scfs").exists());
    assert!(!Path::new("/usr/share/man/man1/scfs.1.gz").exists());
}
