//! Run as root (as the whole suite is): the files are made root's or another user's with chown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use std::os::unix::fs::{PermissionsExt, chown, symlink};
use std::time::{Duration, Instant};

const OTHER: u32 = 65534;

/// A root-owned 0755 temp dir (tempfile makes 0700; its parent is /tmp, sticky).
fn base() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    chmod(d.path(), 0o755);
    d
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn file(dir: &Path, name: &str, mode: u32) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, "x").unwrap();
    chmod(&p, mode);
    p
}

fn subdir(dir: &Path, name: &str, mode: u32) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir(&p).unwrap();
    chmod(&p, mode);
    p
}

fn refusal(r: Result<(), Refused>) -> String {
    match r {
        Ok(()) => panic!("not refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_root_owned_path_passes_under_tmp() {
    let d = base();
    let conf = subdir(d.path(), "etc", 0o755);
    check_file(&file(&conf, "c.toml", 0o644), Rule::CONFIG).unwrap();
    check_file(&file(&conf, "s", 0o600), Rule::SECRET).unwrap();
    check_dir(&subdir(d.path(), "state", 0o700), Owner::Root).unwrap();
}

#[test]
fn a_directory_others_can_write_on_the_way_is_refused_and_named() {
    let d = base();
    let open = subdir(d.path(), "open", 0o777);
    let inner = subdir(&open, "etc", 0o755);
    let msg = refusal(check_file(&file(&inner, "c.toml", 0o644), Rule::CONFIG));
    assert!(
        msg.starts_with(&format!("{}: mode 0777", open.display())) && msg.contains("chmod go-w"),
        "{msg}"
    );
    let group = subdir(d.path(), "group", 0o775);
    let msg = refusal(check_file(&file(&group, "c", 0o644), Rule::CONFIG));
    assert!(msg.contains("mode 0775"), "{msg}");
    let msg = refusal(check_dir(&subdir(&open, "state", 0o700), Owner::Root));
    assert!(msg.contains("mode 0777"), "{msg}");
}

#[test]
fn a_directory_owned_by_another_user_on_the_way_is_refused() {
    let d = base();
    let theirs = subdir(d.path(), "theirs", 0o755);
    let f = file(&theirs, "c.toml", 0o644);
    chown(&theirs, Some(OTHER), None).unwrap();
    let msg = refusal(check_file(&f, Rule::CONFIG));
    assert!(msg.contains("owned by uid 65534"), "{msg}");
    check_file(&f, Rule::CONFIG.owned_by_root_or(OTHER)).unwrap();
}

#[test]
fn a_sticky_directory_others_can_write_passes_only_for_roots_entries() {
    let d = base();
    let tmp = subdir(d.path(), "tmp", 0o1777);
    let mine = subdir(&tmp, "mine", 0o755);
    check_file(&file(&mine, "c.toml", 0o644), Rule::CONFIG).unwrap();
    check_file(&file(&tmp, "direct.toml", 0o644), Rule::CONFIG).unwrap();
    let theirs = subdir(&tmp, "theirs", 0o755);
    let f = file(&theirs, "c.toml", 0o644);
    chown(&theirs, Some(OTHER), None).unwrap();
    let msg = refusal(check_file(&f, Rule::CONFIG));
    assert!(msg.contains("in a directory others can write"), "{msg}");
    let not_sticky = subdir(d.path(), "plain", 0o777);
    let inner = subdir(&not_sticky, "mine", 0o755);
    assert!(check_file(&file(&inner, "c", 0o644), Rule::CONFIG).is_err());
}

#[test]
fn the_file_itself_must_be_roots_and_not_writable_and_a_secret_not_readable() {
    let d = base();
    for (mode, rule, want) in [
        (
            0o666,
            Rule::CONFIG,
            "mode 0666 lets group or others write it; run chmod go-w",
        ),
        (
            0o620,
            Rule::SECRET,
            "mode 0620 lets group or others write it; run chmod go-w",
        ),
        (
            0o640,
            Rule::SECRET,
            "mode 0640 lets group or others read it; run chmod 600",
        ),
    ] {
        let f = file(d.path(), "f", mode);
        let msg = refusal(check_file(&f, rule));
        assert_eq!(msg, want, "{mode:o}");
    }
    check_file(&file(d.path(), "ca", 0o644), Rule::PUBLIC).unwrap();
    let f = file(d.path(), "theirs", 0o644);
    chown(&f, Some(OTHER), None).unwrap();
    assert!(refusal(check_file(&f, Rule::PUBLIC)).contains("owned by uid 65534"));
}

#[test]
fn a_symbolic_link_as_the_file_is_refused_unless_the_rule_follows_links() {
    let d = base();
    let target = file(d.path(), "target.pem", 0o644);
    let link = d.path().join("link.pem");
    symlink(&target, &link).unwrap();
    assert!(refusal(check_file(&link, Rule::CONFIG)).contains("symbolic link"));
    assert!(refusal(check_file(&link, Rule::SECRET)).contains("symbolic link"));
    check_file(&link, Rule::PUBLIC).unwrap();
    // The target is held to the rule too, and named.
    chmod(&target, 0o666);
    let msg = refusal(check_file(&link, Rule::PUBLIC));
    assert!(
        msg.starts_with(&target.display().to_string()) && msg.contains("0666"),
        "{msg}"
    );
}

#[test]
fn links_on_the_way_are_followed_and_their_targets_checked() {
    let d = base();
    let real = subdir(d.path(), "real", 0o755);
    let f = file(&real, "c.toml", 0o644);
    symlink("real", d.path().join("alias")).unwrap();
    check_file(&d.path().join("alias/c.toml"), Rule::CONFIG).unwrap();
    chmod(&real, 0o777);
    let msg = refusal(check_file(&d.path().join("alias/c.toml"), Rule::CONFIG));
    assert!(msg.starts_with(&real.display().to_string()), "{msg}");
    chmod(&real, 0o755);
    // `..` after a link is the link target's parent, as the kernel resolves it.
    symlink(&real, d.path().join("abs")).unwrap();
    check_file(&d.path().join("abs/../real/c.toml"), Rule::CONFIG).unwrap();
    assert!(f.exists());
}

#[test]
fn a_link_planted_by_another_user_in_a_sticky_directory_is_refused() {
    let d = base();
    let tmp = subdir(d.path(), "tmp", 0o1777);
    let real = subdir(d.path(), "real", 0o755);
    file(&real, "c.pem", 0o644);
    let link = tmp.join("dir");
    symlink(&real, &link).unwrap();
    check_file(&link.join("c.pem"), Rule::PUBLIC).unwrap();
    std::os::unix::fs::lchown(&link, Some(OTHER), None).unwrap();
    let msg = refusal(check_file(&link.join("c.pem"), Rule::PUBLIC));
    assert!(msg.contains("in a directory others can write"), "{msg}");
}

#[test]
fn a_link_loop_ends_with_a_refusal() {
    let d = base();
    symlink("b", d.path().join("a")).unwrap();
    symlink("a", d.path().join("b")).unwrap();
    let msg = refusal(check_file(&d.path().join("a/c"), Rule::CONFIG));
    assert!(msg.contains("symbolic links on the way"), "{msg}");
}

#[test]
fn a_fifo_is_refused_at_once_not_waited_on() {
    let d = base();
    let fifo = d.path().join("c.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    chmod(&fifo, 0o644);
    let started = Instant::now();
    let msg = refusal(check_file(&fifo, Rule::CONFIG));
    assert_eq!(msg, "is a FIFO, not a regular file");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_directory_is_not_a_file_and_a_file_not_a_directory() {
    let d = base();
    let sub = subdir(d.path(), "sub", 0o755);
    assert!(refusal(check_file(&sub, Rule::CONFIG)).contains("is a directory"));
    let f = file(d.path(), "f", 0o600);
    assert!(refusal(check_dir(&f, Owner::Root)).contains("not a directory"));
    let on_the_way = refusal(check_file(&f.join("x"), Rule::CONFIG));
    assert!(on_the_way.contains("not a directory"), "{on_the_way}");
}

#[test]
fn own_directories_get_no_sticky_exception_and_no_link() {
    let d = base();
    let sticky = subdir(d.path(), "run", 0o1777);
    assert!(refusal(check_dir(&sticky, Owner::Root)).contains("mode 1777"));
    let real = subdir(d.path(), "real", 0o700);
    let link = d.path().join("link");
    symlink(&real, &link).unwrap();
    assert!(refusal(check_dir(&link, Owner::Root)).contains("symbolic link"));
    let theirs = subdir(d.path(), "theirs", 0o700);
    chown(&theirs, Some(OTHER), None).unwrap();
    assert!(refusal(check_dir(&theirs, Owner::Root)).contains("uid 65534"));
    check_dir(&theirs, Owner::RootOr(OTHER)).unwrap();
    assert!(matches!(
        check_dir_entry(&theirs, Owner::Root),
        Err(Problem::Owner(OTHER))
    ));
}

#[test]
fn a_missing_file_is_reported_by_its_open() {
    let d = base();
    let msg = refusal(check_file(&d.path().join("nope"), Rule::SECRET));
    assert!(msg.starts_with("cannot open: "), "{msg}");
    let msg = refusal(check_file(&d.path().join("no/such/file"), Rule::SECRET));
    assert!(msg.contains("no") && msg.contains("cannot open"), "{msg}");
}

/// `reopen_with_metadata` (a later line of the same login) skips only the directories: the
/// file itself is still opened without following a link and checked on its descriptor.
#[test]
fn reopening_still_checks_the_file_itself() {
    let d = base();
    let good = file(d.path(), "good", 0o644);
    reopen_with_metadata(&good, Rule::CONFIG).unwrap();
    let open = file(d.path(), "open", 0o666);
    let msg = reopen_with_metadata(&open, Rule::CONFIG)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("mode 0666"), "{msg}");
    let link = d.path().join("link");
    symlink(&good, &link).unwrap();
    let msg = reopen_with_metadata(&link, Rule::CONFIG)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("symbolic link"), "{msg}");
    // A rule that follows links walks the path all the same (and accepts this one).
    reopen_with_metadata(&link, Rule::PUBLIC).unwrap();
}

/// Sets `file`'s access ACL to these (tag, perm, id) entries (tags: 1 owner, 2 user, 4 group,
/// 0x10 mask, 0x20 other); the kernel sets the mode's group bits to the mask.
fn set_acl(file: &Path, entries: &[(u16, u16, u32)]) {
    let mut acl = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in entries {
        acl.extend(tag.to_le_bytes());
        acl.extend(perm.to_le_bytes());
        acl.extend(id.to_le_bytes());
    }
    let f = std::fs::File::open(file).unwrap();
    rustix::fs::fsetxattr(
        &f,
        "system.posix_acl_access",
        &acl,
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
}

fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// systemd on a filesystem with ACLs: a root-owned 0400 credential plus `user:SERVICE:r`.
#[test]
fn a_credential_readable_through_an_acl_by_the_service_user_alone_passes_its_rule_only() {
    let d = base();
    let f = file(d.path(), "hosts_web01.token", 0o400);
    let only_other = [
        (0x01, 4, u32::MAX),
        (0x02, 4, OTHER),
        (0x04, 0, u32::MAX),
        (0x10, 4, u32::MAX),
        (0x20, 0, u32::MAX),
    ];
    set_acl(&f, &only_other);
    assert_eq!(mode_of(&f), 0o440, "the mask shows as group read");
    let credential = Rule::SECRET
        .owned_by_root_or(OTHER)
        .acl_reader_may_be(OTHER);
    check_file(&f, credential).unwrap();
    // The same file under the plain secret rule, or with the ACL for another user: refused.
    let msg = refusal(check_file(&f, Rule::SECRET.owned_by_root_or(OTHER)));
    assert!(
        msg.contains("mode 0440 lets group or others read it"),
        "{msg}"
    );
    let msg = refusal(check_file(&f, Rule::SECRET.acl_reader_may_be(OTHER - 1)));
    assert!(msg.contains("mode 0440"), "{msg}");
    // check_opened sees no ACL and refuses as for any secret.
    let meta = std::fs::metadata(&f).unwrap();
    assert!(matches!(
        check_opened(&meta, credential),
        Err(Problem::Readable(0o440))
    ));
}

#[test]
fn the_acl_allowance_refuses_a_group_or_a_second_reader() {
    let d = base();
    let credential = Rule::SECRET.acl_reader_may_be(OTHER);
    // Plain group read, no ACL.
    let plain = file(d.path(), "plain", 0o440);
    assert!(refusal(check_file(&plain, credential)).contains("mode 0440"));
    for (name, entries) in [
        (
            "group",
            vec![
                (0x01, 4, u32::MAX),
                (0x02, 4, OTHER),
                (0x04, 4, u32::MAX),
                (0x10, 4, u32::MAX),
                (0x20, 0, u32::MAX),
            ],
        ),
        (
            "second",
            vec![
                (0x01, 4, u32::MAX),
                (0x02, 4, OTHER),
                (0x02, 4, OTHER - 1),
                (0x04, 0, u32::MAX),
                (0x10, 4, u32::MAX),
                (0x20, 0, u32::MAX),
            ],
        ),
        (
            "named-group",
            vec![
                (0x01, 4, u32::MAX),
                (0x02, 4, OTHER),
                (0x04, 0, u32::MAX),
                (0x08, 4, 100),
                (0x10, 4, u32::MAX),
                (0x20, 0, u32::MAX),
            ],
        ),
    ] {
        let f = file(d.path(), name, 0o400);
        set_acl(&f, &entries);
        assert!(
            refusal(check_file(&f, credential)).contains("lets group or others read it"),
            "{name}"
        );
    }
    // Others' read is never an ACL's to excuse.
    let f = file(d.path(), "others", 0o404);
    assert!(refusal(check_file(&f, credential)).contains("mode 0404"));
}
