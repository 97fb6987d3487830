//! Writes the man page `docs/man/scfs.1` and the shell completions
//! `docs/completions/{scfs.bash,_scfs,scfs.fish}` from the clap definitions
//! of the CLI (`scfs::cli::command()`, the same that print `--help`), so
//! that the three never disagree. Run it after every CLI change:
//!
//! ```sh
//! cargo run --example gen_docs
//! ```
//!
//! tests/cli_docs.rs fails when the files in the repository differ from
//! what this writes. The man page is one page for every subcommand (each a
//! section with its synopsis and options) plus the mount options from the
//! same table as `scfs mount --help` (`cli::mount::help`).

use std::path::Path;

use clap_complete::Shell;
use clap_mangen::Man;
use scfs::cli::mount::{flags, help};

/// Every generated file: its path in the repository and its contents.
pub fn render() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = vec![("docs/man/scfs.1", man_page().into_bytes())];
    for (shell, path) in [
        (Shell::Bash, "docs/completions/scfs.bash"),
        (Shell::Zsh, "docs/completions/_scfs"),
        (Shell::Fish, "docs/completions/scfs.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut scfs::cli::command(), "scfs", &mut buf);
        out.push((path, buf));
    }
    out
}

/// Roff text: backslashes, hyphens and a leading dot or quote escaped.
fn esc(s: &str) -> String {
    let t = s.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// One clap_mangen section without its `.SH` heading.
fn body(render: impl Fn(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut buf = Vec::new();
    render(&mut buf).expect("render to memory");
    let s = String::from_utf8(buf).expect("roff is UTF-8");
    s.lines()
        .filter(|l| !l.starts_with(".SH "))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn man_page() -> String {
    let mut cmd = scfs::cli::command();
    cmd.build();
    let man = Man::new(cmd.clone()).manual("scfs manual");
    let mut page = String::new();
    let mut push = |r: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| {
        let mut buf = Vec::new();
        r(&mut buf).expect("render to memory");
        page.push_str(&String::from_utf8(buf).expect("roff is UTF-8"));
    };
    push(&|w| man.render_title(w));
    push(&|w| man.render_name_section(w));
    push(&|w| man.render_synopsis_section(w));
    push(&|w| man.render_description_section(w));
    push(&|w| man.render_options_section(w));
    page.push_str(".SH COMMANDS\n");
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        page.push_str(&format!(
            ".TP\n\\fBscfs {}\\fR\n{}\n",
            sub.get_name(),
            esc(&about)
        ));
    }
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = sub.get_name();
        let m = Man::new(sub.clone());
        page.push_str(&format!(".SH \"SCFS {}\"\n", name.to_uppercase()));
        page.push_str(&body(|w| m.render_synopsis_section(w)));
        page.push_str(".PP\n");
        page.push_str(&body(|w| m.render_description_section(w)));
        page.push_str(".SS Options\n");
        page.push_str(&body(|w| m.render_options_section(w)));
        if name == "mount" {
            page.push_str(&mount_options());
        }
    }
    page.push_str(&tail());
    page
}

/// The `-o` options of `scfs mount`, from the table `--help` prints.
fn mount_options() -> String {
    let mut s = String::from(".SS \"Mount options (\\-o)\"\n");
    s.push_str(".PP\nComma\\-separated; \\fB\\-o\\fR may repeat; an unknown option is an error.\n");
    for (name, what) in help::OPTIONS {
        s.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", esc(name), esc(what)));
    }
    s.push_str(&format!(
        ".TP\n\\fB{}\\fR\nthe generic flags of mount(8); default: nodev, nosuid, relatime\n",
        esc(&flags::flag_names().collect::<Vec<_>>().join(", "))
    ));
    s.push_str(&format!(
        ".TP\n\\fB{}\\fR, \\fBx\\-*\\fR, \\fBcomment=\\fR\naccepted and ignored: \
         mount(8), mount.fuse3 and systemd act on them\n",
        esc(&flags::NOOP_NAMES.join(", "))
    ));
    s.push_str(&format!(
        ".TP\n\\fB{}\\fR\nwhat the kernel shows in mountinfo: accepted with \\fBremount\\fR only\n",
        esc(&help::KERNEL_ECHO
            .iter()
            .map(|k| format!("{k}="))
            .collect::<Vec<_>>()
            .join(", "))
    ));
    s
}

/// Exit status, environment, files, examples, see also.
fn tail() -> String {
    r#".SH "EXIT STATUS"
0 success, 1 corrupt data, 2 usage or I/O error.
.SH ENVIRONMENT
.TP
\fBRUST_LOG\fR
log level of the daemon (error, warn, info, debug, trace; default info, or debug with \fB\-d\fR).
.TP
\fBSCFS_SYSLOG_SOCKET\fR
the syslog socket of a detached daemon without \fB\-\-log\-file\fR (default /dev/log).
.SH LOGGING
In the foreground (\fB\-f\fR) the daemon logs to standard error. Detached, it
logs to the system log (facility daemon, tag scfs, the mount point at the start
of every message; see journalctl \-t scfs), unless \fB\-\-log\-file\fR names a file.
A corrupt block is logged as an error naming the file and the block.
.SH EXAMPLES
.nf
scfs mount /srv/backing /mnt/data \-o cache_size=256M,compress=fast
scfs stats /srv/backing
scfs umount /mnt/data
mount \-t fuse.scfs /srv/backing /mnt/data \-o noatime
.fi
.PP
An /etc/fstab line:
.nf
/srv/backing /mnt/data fuse.scfs defaults,cache_size=256M 0 0
.fi
.SH "SEE ALSO"
mount(8), fstab(5), mount.fuse3(8), fusermount3(1), journalctl(1)
"#
    .to_owned()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (path, bytes) in render() {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).expect("create docs dir");
        std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        println!("wrote {path}");
    }
}
