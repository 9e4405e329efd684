//! The file operations at parity with Ansible's `lineinfile`/`file`/`copy`/`template` and pyinfra's
//! `files.*`, on a real host: each new option reaches the end state those tools reach, reports
//! `would change` in check mode without writing, `changed` on the first run, and `ok` on the
//! second run, which stays one round trip. Everything is checked from outside, on the machine.

use crate::ops_support::named_statuses;
use dm::ops::OpStatus;
use dm::ops::{Directory, File, Line, Symlink};
use dm::prelude::*;
use dm::testing::{Fleet, Machine, RunReport};
use dm_tests::dm_run;

/// Asserts that every operation of the run ended with `want`, and that there were `count`.
fn assert_all(report: &RunReport, count: usize, want: OpStatus) {
    let got = named_statuses(report);
    assert_eq!(got.len(), count, "{got:#?}\n{report:#?}");
    for (name, status) in &got {
        assert_eq!(*status, want, "{name}: {report:#?}");
    }
}

/// The SHA-256 of every file under `dir`, to show that check mode wrote nothing.
fn fingerprint(m: &Machine, dir: &str) -> String {
    m.exec_ok(&format!(
        "find {dir} -printf '%p %m %s\\n' | sort; find {dir} -type f -exec sha256sum {{}} + | sort"
    ))
}

/// Seven line edits: replacing one of several commented lines, inserting after a pattern with a
/// backup, a CRLF file, an unterminated last line, a file made in a missing directory with a
/// header at its start, backreferences, literal text, and insertion before the first match.
#[task]
async fn files_lines(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(Line::present("/etc/dm-files/sshd.conf", "Port 2222").matching("^#Port"));
    step.add(
        Line::present("/etc/dm-files/sshd.conf", "PasswordAuthentication no")
            .matching(r"^#?PasswordAuthentication\s")
            .insert_after(r"^PubkeyAuthentication\s")
            .backup(),
    );
    step.add(Line::present("/etc/dm-files/app.ini", "b=2").matching("^b="));
    step.add(Line::present("/etc/dm-files/tail.conf", "keep"));
    step.add(Line::present("/etc/dm-files/new/deeper/list.conf", "first").create());
    step.add(Line::present("/etc/dm-files/new/deeper/list.conf", "# managed by dm").at_start());
    step.add(
        Line::present("/etc/dm-files/grub", r#"GRUB_CMDLINE_LINUX="\1 quiet""#)
            .matching(r#"^GRUB_CMDLINE_LINUX="(.*?)(?: quiet)?"$"#)
            .backrefs(),
    );
    step.add(Line::absent("/etc/dm-files/fstab", "/mnt/old (x)").literal());
    step.add(
        Line::present("/etc/dm-files/sections.ini", "debug = 0")
            .insert_before(r"^\[")
            .first_match(),
    );
    step.apply().await?;
    Ok(())
}

/// A line edit with an empty pattern, which would match every line.
#[task]
async fn files_line_empty_pattern(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(Line::present("/etc/dm-files/tail.conf", "x").matching(""));
    step.apply().await?;
    Ok(())
}

#[test]
fn line_edits_reach_ansibles_end_state_in_one_run_and_then_change_nothing() {
    let fleet = Fleet::builder().machine("app1", &[]).boot().expect("boot");
    let m = fleet.machine("app1");
    m.exec_ok(
        "mkdir -p /etc/dm-files && cd /etc/dm-files && \
         printf '#Port 1\\n#Port 2\\n#Port 3\\nPubkeyAuthentication yes\\nUsePAM yes\\n' > sshd.conf && \
         chmod 600 sshd.conf && \
         printf 'a=1\\r\\nb=1\\r\\nc=3\\r\\n' > app.ini && \
         printf 'x\\nkeep' > tail.conf && \
         printf 'A=1\\nGRUB_CMDLINE_LINUX=\"ro\"\\n' > grub && \
         printf 'a\\n/dev/x /mnt/old (x) ext4\\n/dev/y /mnt/old2 ext4\\n' > fstab && \
         printf '# top\\n[a]\\nx = 1\\n[b]\\nx = 2\\n' > sections.ini",
    );

    // An empty pattern is refused before anything is written.
    let before = fingerprint(m, "/etc/dm-files");
    let refused = dm_run(&fleet, &["-H", "app1", "files-line-empty-pattern"]);
    assert!(!refused.success, "{refused:#?}");
    let error = refused.hosts[0].error.clone().unwrap_or_default();
    assert!(error.contains("the pattern is empty"), "{error}");

    // Check mode: every edit would change, nothing is written.
    let check = dm_run(&fleet, &["--check", "-H", "app1", "files-lines"]);
    assert!(check.success, "{check:#?}");
    assert_all(&check, 9, OpStatus::WouldChange);
    assert_eq!(fingerprint(m, "/etc/dm-files"), before, "check mode wrote");

    // First run: everything changes, to the end state Ansible's lineinfile reaches.
    let first = dm_run(&fleet, &["-H", "app1", "files-lines"]);
    assert!(first.success, "{first:#?}");
    assert_all(&first, 9, OpStatus::Changed);
    let cat = |path: &str| m.exec_ok(&format!("cat /etc/dm-files/{path}"));
    assert_eq!(
        cat("sshd.conf"),
        "#Port 1\n#Port 2\nPort 2222\nPubkeyAuthentication yes\nPasswordAuthentication no\nUsePAM yes\n"
    );
    // The backup is the old file, mode and all.
    assert_eq!(
        m.exec_ok("cd /etc/dm-files && stat -c %a sshd.conf sshd.conf.*~ && cat sshd.conf.*~"),
        "600\n600\n#Port 1\n#Port 2\nPort 2222\nPubkeyAuthentication yes\nUsePAM yes\n"
    );
    assert_eq!(cat("app.ini"), "a=1\r\nb=2\r\nc=3\r\n", "CRLF kept");
    assert_eq!(
        cat("tail.conf"),
        "x\nkeep\n",
        "the last line gets its newline"
    );
    assert_eq!(
        m.exec_ok("cat /etc/dm-files/new/deeper/list.conf; stat -c '%a %U' /etc/dm-files/new/deeper/list.conf"),
        "# managed by dm\nfirst\n644 root\n"
    );
    assert_eq!(cat("grub"), "A=1\nGRUB_CMDLINE_LINUX=\"ro quiet\"\n");
    assert_eq!(cat("fstab"), "a\n/dev/y /mnt/old2 ext4\n");
    assert_eq!(
        cat("sections.ini"),
        "# top\ndebug = 0\n[a]\nx = 1\n[b]\nx = 2\n"
    );

    // Second run: nothing to do, in one round trip, and no new backup.
    let after = fingerprint(m, "/etc/dm-files");
    let second = dm_run(&fleet, &["-H", "app1", "files-lines"]);
    assert!(second.success, "{second:#?}");
    assert_all(&second, 9, OpStatus::Ok);
    assert_eq!(second.hosts[0].round_trips, 1, "{second:#?}");
    assert_eq!(fingerprint(m, "/etc/dm-files"), after);
}

/// Links: to a release made in the same step, to a target that does not exist yet (asked for),
/// over an empty directory (forced), and owned by another account.
#[task]
async fn files_links(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(Directory::new("/srv/links/releases/1"));
    step.add(Symlink::new("/srv/links/current", "releases/1"));
    step.add(Symlink::new("/srv/links/later", "/srv/links/releases/2").dangling());
    step.add(Symlink::new("/srv/links/was-dir", "releases/1").force());
    step.add(
        Symlink::new("/srv/links/owned", "releases/1")
            .owner("nobody")
            .group("nogroup"),
    );
    step.apply().await?;
    Ok(())
}

/// A link to a target that does not exist, without asking for it.
#[task]
async fn files_link_typo(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(Symlink::new("/srv/links/typo", "/srv/links/relases/1"));
    step.apply().await?;
    Ok(())
}

#[test]
fn links_refuse_a_missing_target_unless_asked_replace_an_empty_directory_and_own_the_link() {
    let fleet = Fleet::builder().machine("app1", &[]).boot().expect("boot");
    let m = fleet.machine("app1");
    m.exec_ok("mkdir -p /srv/links/was-dir");

    let refused = dm_run(&fleet, &["-H", "app1", "files-link-typo"]);
    assert!(!refused.success, "{refused:#?}");
    let error = refused.hosts[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("the target /srv/links/relases/1 does not exist")
            && error.contains(".dangling()"),
        "{error}"
    );
    assert_eq!(m.exec_ok("test -L /srv/links/typo || echo none"), "none\n");

    let before = fingerprint(m, "/srv/links");
    let check = dm_run(&fleet, &["--check", "-H", "app1", "files-links"]);
    assert!(check.success, "{check:#?}");
    assert_all(&check, 5, OpStatus::WouldChange);
    assert_eq!(fingerprint(m, "/srv/links"), before, "check mode wrote");

    let first = dm_run(&fleet, &["-H", "app1", "files-links"]);
    assert!(first.success, "{first:#?}");
    assert_all(&first, 5, OpStatus::Changed);
    assert_eq!(
        m.exec_ok(
            "cd /srv/links && readlink current later was-dir owned && \
             stat -c '%F %U %G' was-dir owned && stat -c '%U %G' releases/1"
        ),
        "releases/1\n/srv/links/releases/2\nreleases/1\nreleases/1\n\
         symbolic link root root\nsymbolic link nobody nogroup\nroot root\n"
    );

    let second = dm_run(&fleet, &["-H", "app1", "files-links"]);
    assert!(second.success, "{second:#?}");
    assert_all(&second, 5, OpStatus::Ok);
    assert_eq!(second.hosts[0].round_trips, 1, "{second:#?}");

    // The link's owner drifts; only it is repaired, the target keeps its owner.
    m.exec_ok("chown -h root:root /srv/links/owned");
    let repair = dm_run(&fleet, &["-H", "app1", "files-links"]);
    let owned = repair.hosts[0]
        .operations
        .iter()
        .find(|o| o.name.starts_with("symlink /srv/links/owned"))
        .expect("the owned link's report");
    assert_eq!(owned.status, OpStatus::Changed, "{repair:#?}");
    assert_eq!(
        m.exec_ok("stat -c '%U %G' /srv/links/owned /srv/links/releases/1"),
        "nobody nogroup\nroot root\n"
    );
}

/// Files: a symbolic mode with a backup of the old content, a template with CRLF line endings,
/// `lstrip_blocks` and a block tag at its end, a touch of an existing and of a missing file,
/// a file forced over an empty directory, and one that moves a full directory aside.
#[task]
async fn files_files(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(
        File::bytes("/srv/files/app.conf", "v2\n")
            .chmod("u=rw,g=r,o=")
            .backup(),
    );
    step.add(
        File::template_str(
            "/srv/files/site.ini",
            "site.ini.j2",
            "[site]\n  {% if tls %}\nport = 443\n  {% endif %}\nhsts = {% if tls %}on{% else %}off{% endif %}\n",
        )
        .var("tls", true)
        .lstrip_blocks(true)
        .newline_sequence("\r\n"),
    );
    step.add(File::touch("/srv/files/kept.log").chmod("0640"));
    step.add(File::touch("/srv/files/new/empty.log"));
    step.add(File::bytes("/srv/files/was-dir", "file now\n").force());
    step.add(File::bytes("/srv/files/full-dir", "file now\n").backup());
    step.apply().await?;
    Ok(())
}

/// A mode written in decimal.
#[task]
async fn files_decimal_mode(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(File::bytes("/srv/files/app.conf", "v3\n").mode(444));
    step.apply().await?;
    Ok(())
}

#[test]
fn files_take_symbolic_modes_keep_backups_touch_and_render_templates_as_ansible() {
    let fleet = Fleet::builder().machine("app1", &[]).boot().expect("boot");
    let m = fleet.machine("app1");
    m.exec_ok(
        "mkdir -p /srv/files/was-dir /srv/files/full-dir && echo inside > /srv/files/full-dir/f && cd /srv/files && printf 'v1\\n' > app.conf && chmod 666 app.conf && \
         printf 'keep\\n' > kept.log && chmod 644 kept.log",
    );
    let before = fingerprint(m, "/srv/files");

    let refused = dm_run(&fleet, &["-H", "app1", "files-decimal-mode"]);
    assert!(!refused.success, "{refused:#?}");
    let error = refused.hosts[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("444 is decimal") && error.contains(".mode(0o444)"),
        "{error}"
    );

    let check = dm_run(&fleet, &["--check", "-H", "app1", "files-files"]);
    assert!(check.success, "{check:#?}");
    assert_all(&check, 6, OpStatus::WouldChange);
    assert_eq!(fingerprint(m, "/srv/files"), before, "check mode wrote");

    let first = dm_run(&fleet, &["-H", "app1", "files-files"]);
    assert!(first.success, "{first:#?}");
    assert_all(&first, 6, OpStatus::Changed);
    assert_eq!(
        m.exec_ok("cd /srv/files && cat full-dir full-dir.*~/f"),
        "file now\ninside\n",
        "a directory in the way is moved aside, with what is in it"
    );
    assert_eq!(
        m.exec_ok("cd /srv/files && cat app.conf app.conf.*~ && stat -c '%a' app.conf app.conf.*~"),
        "v2\nv1\n640\n666\n"
    );
    assert_eq!(
        m.exec_ok("od -c /srv/files/site.ini | head -3"),
        m.exec_ok("printf '[site]\\r\\nport = 443\\r\\nhsts = on\\r\\n' | od -c | head -3"),
        "CRLF, lstripped block tags, and the final newline after a closing tag"
    );
    assert_eq!(
        m.exec_ok(
            "cd /srv/files && cat kept.log && stat -c '%a %s %F' kept.log new/empty.log was-dir"
        ),
        "keep\n640 5 regular file\n644 0 regular empty file\n644 9 regular file\n"
    );

    let after = fingerprint(m, "/srv/files");
    let second = dm_run(&fleet, &["-H", "app1", "files-files"]);
    assert!(second.success, "{second:#?}");
    assert_all(&second, 6, OpStatus::Ok);
    assert_eq!(second.hosts[0].round_trips, 1, "{second:#?}");
    assert_eq!(fingerprint(m, "/srv/files"), after);
}

/// A tree made another account's, recursively, and a link to a directory accepted.
#[task]
async fn files_dirs(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(
        Directory::new("/srv/tree")
            .owner("nobody")
            .group("nogroup")
            .mode(0o750)
            .recurse(),
    );
    step.add(Directory::new("/srv/www").follow());
    step.apply().await?;
    Ok(())
}

#[test]
fn directories_apply_owner_and_mode_recursively_without_following_links_and_accept_a_linked_directory()
 {
    let fleet = Fleet::builder().machine("app1", &[]).boot().expect("boot");
    let m = fleet.machine("app1");
    m.exec_ok(
        "mkdir -p /srv/tree/a/b /srv/data && echo x > /srv/tree/a/b/file && \
         ln -s /etc/hostname /srv/tree/a/hostname && ln -s /srv/data /srv/www",
    );
    let etc = m.exec_ok("stat -c '%U %G %a' /etc/hostname");
    let before = fingerprint(m, "/srv");

    let check = dm_run(&fleet, &["--check", "-H", "app1", "files-dirs"]);
    assert!(check.success, "{check:#?}");
    assert_eq!(
        named_statuses(&check),
        vec![
            ("directory /srv/tree".to_string(), OpStatus::WouldChange),
            ("directory /srv/www".to_string(), OpStatus::Ok)
        ]
    );
    assert_eq!(fingerprint(m, "/srv"), before, "check mode wrote");

    let first = dm_run(&fleet, &["-H", "app1", "files-dirs"]);
    assert!(first.success, "{first:#?}");
    assert_eq!(named_statuses(&first)[0].1, OpStatus::Changed, "{first:#?}");
    assert_eq!(
        m.exec_ok("cd /srv/tree && stat -c '%n %U %G %a' . a a/b a/b/file && stat -c '%n %U %G' a/hostname"),
        ". nobody nogroup 750\na nobody nogroup 750\na/b nobody nogroup 750\n\
         a/b/file nobody nogroup 750\na/hostname nobody nogroup\n"
    );
    assert_eq!(
        m.exec_ok("stat -c '%U %G %a' /etc/hostname"),
        etc,
        "the link inside was not followed"
    );

    let second = dm_run(&fleet, &["-H", "app1", "files-dirs"]);
    assert!(second.success, "{second:#?}");
    assert_all(&second, 2, OpStatus::Ok);
    assert_eq!(second.hosts[0].round_trips, 1, "{second:#?}");

    // Drift deep inside is found and repaired.
    m.exec_ok("chown root /srv/tree/a/b/file && chmod 644 /srv/tree/a/b");
    let repair = dm_run(&fleet, &["-H", "app1", "files-dirs"]);
    assert_eq!(
        named_statuses(&repair)[0].1,
        OpStatus::Changed,
        "{repair:#?}"
    );
    assert_eq!(
        m.exec_ok("stat -c '%U %a' /srv/tree/a/b/file /srv/tree/a/b"),
        "nobody 750\nnobody 750\n"
    );
}
