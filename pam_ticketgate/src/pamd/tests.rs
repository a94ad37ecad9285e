use std::collections::BTreeMap;
use std::path::Path;

use super::*;

/// Debian 12's own /etc/pam.d files (pam-auth-update's common-* with no profile of ours).
const STOCK: [(&str, &str); 11] = [
    (
        "common-auth",
        include_str!("testdata/debian12-stock/common-auth"),
    ),
    (
        "common-account",
        include_str!("testdata/debian12-stock/common-account"),
    ),
    (
        "common-password",
        include_str!("testdata/debian12-stock/common-password"),
    ),
    (
        "common-session",
        include_str!("testdata/debian12-stock/common-session"),
    ),
    (
        "common-session-noninteractive",
        include_str!("testdata/debian12-stock/common-session-noninteractive"),
    ),
    ("sshd", include_str!("testdata/debian12-stock/sshd")),
    ("login", include_str!("testdata/debian12-stock/login")),
    ("su", include_str!("testdata/debian12-stock/su")),
    ("sudo", include_str!("testdata/debian12-stock/sudo")),
    ("passwd", include_str!("testdata/debian12-stock/passwd")),
    ("other", include_str!("testdata/debian12-stock/other")),
];

/// The common-* files the real `pam-auth-update --enable ticketgate ticketgate-preauth
/// ticketgate-authfail` wrote from conf/pam-configs (the output the package test checks).
const ENABLED: [(&str, &str); 5] = [
    (
        "common-auth",
        include_str!("testdata/debian12-enabled/common-auth"),
    ),
    (
        "common-account",
        include_str!("testdata/debian12-enabled/common-account"),
    ),
    (
        "common-password",
        include_str!("testdata/debian12-enabled/common-password"),
    ),
    (
        "common-session",
        include_str!("testdata/debian12-enabled/common-session"),
    ),
    (
        "common-session-noninteractive",
        include_str!("testdata/debian12-enabled/common-session-noninteractive"),
    ),
];

/// The hand-edited stacks the project ships (conf/pam.d).
const SHIPPED: [(&str, &str); 4] = [
    ("sshd", include_str!("../../../conf/pam.d/sshd")),
    ("login", include_str!("../../../conf/pam.d/login")),
    ("su", include_str!("../../../conf/pam.d/su")),
    ("sudo", include_str!("../../../conf/pam.d/sudo")),
];

/// docs/design.md's stack (section 2) as one file.
const STACK: &str = "\
auth     requisite                   pam_ticketgate.so preauth
auth     [success=1 default=ignore]  pam_unix.so nullok
auth     [default=die]               pam_ticketgate.so authfail
auth     requisite                   pam_ticketgate.so ticket
account  required                    pam_ticketgate.so
password requisite                   pam_ticketgate.so
password requisite                   pam_unix.so use_authtok yescrypt
password optional                    pam_ticketgate.so commit
session  optional                    pam_ticketgate.so
";

fn dir(layers: &[&[(&str, &str)]]) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for layer in layers {
        for (name, text) in *layer {
            files.insert(name.to_string(), text.to_string());
        }
    }
    files
}

/// The findings as `ticketgate check-config` prints them.
fn findings(files: &BTreeMap<String, String>) -> Vec<String> {
    check(
        Path::new("/etc/pam.d"),
        files,
        Path::new(crate::config::DEFAULT_PATH),
    )
    .findings
    .iter()
    .map(ToString::to_string)
    .collect()
}

/// The findings for one service file `tg` with `text`, beside Debian's stock files.
fn one(text: &str) -> Vec<String> {
    findings(&dir(&[&STOCK, &[("tg", text)]]))
}

/// docs/design.md §2 with `from` replaced by `to` (which must be there).
fn design_with(from: &str, to: &str) -> String {
    assert!(STACK.contains(from), "{from}");
    STACK.replacen(from, to, 1)
}

fn assert_one(found: &[String], want: &[&str]) {
    assert_eq!(found.len(), 1, "{found:#?}");
    for w in want {
        assert!(found[0].contains(w), "{w:?} not in {found:#?}");
    }
}

#[test]
fn the_debian_stacks_pam_auth_update_writes_are_accepted() {
    assert_eq!(findings(&dir(&[&STOCK, &ENABLED])), Vec::<String>::new());
}

#[test]
fn the_shipped_example_stacks_are_accepted() {
    assert_eq!(findings(&dir(&[&STOCK, &SHIPPED])), Vec::<String>::new());
}

#[test]
fn the_design_stack_is_accepted() {
    assert_eq!(one(STACK), Vec::<String>::new());
}

#[test]
fn files_that_do_not_load_the_module_are_not_judged() {
    assert_eq!(findings(&dir(&[&STOCK])), Vec::<String>::new());
    let broken = dir(&[
        &STOCK,
        &[("odd", "auht required pam_unix.so\n@include nowhere\n")],
    ]);
    assert_eq!(findings(&broken), Vec::<String>::new());
}

/// Issue 11: a `pre-auth` typo made check-config say "OK" while every login failed.
#[test]
fn issue_11_a_pre_auth_typo_is_an_error_naming_file_and_line() {
    let sshd = SHIPPED[0]
        .1
        .replace("pam_ticketgate.so preauth", "pam_ticketgate.so pre-auth");
    let found = findings(&dir(&[&STOCK, &[("sshd", &sshd)]]));
    assert_eq!(
        found,
        vec![
            "/etc/pam.d/sshd:5: error: unknown module argument \"pre-auth\": the module refuses \
             the line (PAM_SERVICE_ERR), so every login through this stack fails"
        ]
    );
}

#[test]
fn phase_words_on_the_wrong_lines_are_errors() {
    assert_one(
        &one(&design_with(
            "account  required                    pam_ticketgate.so",
            "account required pam_ticketgate.so ticket",
        )),
        &["tg:5: error: ticket has no meaning on a account line"],
    );
    assert_one(
        &one(&design_with(
            "session  optional                    pam_ticketgate.so",
            "session optional pam_ticketgate.so preauth",
        )),
        &[
            "tg:9: error: preauth has no meaning on a session line",
            "the line does nothing",
        ],
    );
    assert_one(
        &one(&design_with(
            "pam_ticketgate.so ticket",
            "pam_ticketgate.so commit",
        )),
        &["tg:4: error: commit belongs on a password line"],
    );
    assert_one(
        &one(&design_with(
            "pam_ticketgate.so commit",
            "pam_ticketgate.so authfail",
        )),
        &["tg:8: error: authfail belongs on an auth line"],
    );
    assert_one(
        &one(&design_with(
            "pam_ticketgate.so ticket",
            "pam_ticketgate.so",
        )),
        &["tg:4: error: an auth line needs a phase word"],
    );
    assert_one(
        &one(&design_with(
            "pam_ticketgate.so ticket",
            "pam_ticketgate.so ticket preauth",
        )),
        &["tg:4: error: more than one phase word"],
    );
    assert_one(
        &one(&design_with(
            "pam_ticketgate.so ticket",
            "pam_ticketgate.so ticket config=etc/x.toml",
        )),
        &["tg:4: error: config=etc/x.toml: must be an absolute path"],
    );
}

#[test]
fn a_missing_authfail_is_an_error() {
    let found = one(&design_with(
        "auth     [default=die]               pam_ticketgate.so authfail\n",
        "",
    ));
    assert_one(
        &found,
        &["/etc/pam.d/tg:1: error: no authfail line", "never counted"],
    );
}

#[test]
fn missing_preauth_or_ticket_lines_are_errors() {
    assert_one(
        &one(&design_with(
            "auth     requisite                   pam_ticketgate.so preauth\n",
            "",
        )),
        &[
            "tg:2: error: no preauth line",
            "login protect is never checked",
        ],
    );
    assert_one(
        &one(&design_with(
            "auth     requisite                   pam_ticketgate.so ticket\n",
            "",
        )),
        &["tg:3: error: no ticket line"],
    );
    // Only the ticket profile enabled (pam-auth-update --enable ticketgate).
    let ticket_only = "auth [success=1 default=ignore] pam_unix.so nullok\nauth requisite pam_deny.so\n\
                       auth required pam_permit.so\nauth requisite pam_ticketgate.so ticket\n";
    let found = one(ticket_only);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found
            .iter()
            .all(|f| f.starts_with("/etc/pam.d/tg:4: error: no "))
    );
}

#[test]
fn the_wrong_order_is_an_error() {
    let swapped = "auth [default=die] pam_ticketgate.so authfail\n\
                   auth requisite pam_ticketgate.so preauth\n\
                   auth [success=1 default=ignore] pam_unix.so\n\
                   auth requisite pam_ticketgate.so ticket\n";
    assert_one(
        &one(swapped),
        &["tg:1: error: authfail comes before preauth (tg:2)"],
    );
    let ticket_first = "auth requisite pam_ticketgate.so preauth\n\
                        auth requisite pam_ticketgate.so ticket\n\
                        auth [success=1 default=ignore] pam_unix.so\n\
                        auth [default=die] pam_ticketgate.so authfail\n";
    assert_one(
        &one(ticket_first),
        &["tg:2: error: ticket comes before authfail (tg:4)"],
    );
    let preauth_late = "auth [success=2 default=ignore] pam_unix.so\n\
                        auth requisite pam_ticketgate.so preauth\n\
                        auth [default=die] pam_ticketgate.so authfail\n\
                        auth requisite pam_ticketgate.so ticket\n";
    assert_one(
        &one(preauth_late),
        &["tg:3: error: nothing between preauth (tg:2) and authfail"],
    );
}

#[test]
fn controls_that_break_a_gate_are_errors() {
    assert_one(
        &one(&design_with(
            "requisite                   pam_ticketgate.so preauth",
            "required pam_ticketgate.so preauth",
        )),
        &[
            "tg:1: error: preauth is \"required\"",
            "the password is still asked",
        ],
    );
    assert_one(
        &one(&design_with(
            "requisite                   pam_ticketgate.so preauth",
            "optional pam_ticketgate.so preauth",
        )),
        &["tg:1: error: preauth is \"optional\"", "refusal is ignored"],
    );
    assert_one(
        &one(&design_with(
            "requisite                   pam_ticketgate.so preauth",
            "[success=ok default=die] pam_ticketgate.so preauth",
        )),
        &[
            "tg:1: error: preauth is \"[success=ok default=die]\"",
            "PAM_IGNORE",
        ],
    );
    assert_one(
        &one(&design_with(
            "[default=die]               pam_ticketgate.so authfail",
            "required pam_ticketgate.so authfail",
        )),
        &["tg:3: error: authfail is \"required\"", "[default=die]"],
    );
    assert_one(
        &one(&design_with(
            "requisite                   pam_ticketgate.so ticket",
            "optional pam_ticketgate.so ticket",
        )),
        &[
            "tg:4: error: ticket is \"optional\"",
            "without an accepted ticket",
        ],
    );
    assert_one(
        &one(&design_with("account  required ", "account  sufficient ")),
        &["tg:5: error: the account line is \"sufficient\"", "ignored"],
    );
    assert_one(
        &one(&design_with(
            "password requisite                   pam_ticketgate.so\n",
            "password optional pam_ticketgate.so\n",
        )),
        &[
            "tg:6: error: the checking password line is \"optional\"",
            "stored anyway",
        ],
    );
}

#[test]
fn a_password_module_that_does_not_jump_over_authfail_is_an_error() {
    assert_one(
        &one(&design_with(
            "[success=1 default=ignore]  pam_unix.so nullok",
            "required pam_unix.so nullok",
        )),
        &[
            "tg:2: error: no module between preauth and authfail (tg:3) jumps over authfail",
            "every login fails",
        ],
    );
}

#[test]
fn jumps_that_miss_their_target_are_errors() {
    // The README form with Debian's count: the jump skips the ticket line.
    assert_one(
        &one(&design_with(
            "[success=1 default=ignore]  pam_unix.so",
            "[success=2 default=ignore] pam_unix.so",
        )),
        &["tg:2: error: a right password here jumps over the ticket line (tg:4)"],
    );
    // Debian's form with the README's count: the jump lands on pam_deny.
    let enabled_auth = ENABLED[0]
        .1
        .replace("[success=2 default=ignore]", "[success=1 default=ignore]");
    let found = findings(&dir(&[&STOCK, &ENABLED, &[("common-auth", &enabled_auth)]]));
    assert_one(
        &found,
        &[
            "/etc/pam.d/common-auth:18: error: a right password here lands on pam_deny.so (common-auth:21)",
        ],
    );
    // A wrong password must reach authfail.
    assert_one(
        &one(&design_with(
            "[success=1 default=ignore]  pam_unix.so",
            "[success=1 default=die] pam_unix.so",
        )),
        &[
            "tg:2: error: a wrong password ends the stack here",
            "before authfail (tg:3)",
        ],
    );
    // A jump past the end of the stack.
    assert_one(
        &one(&design_with(
            "[success=1 default=ignore]  pam_unix.so",
            "[success=9 default=ignore] pam_unix.so",
        )),
        &["tg:2: error: \"[success=9 default=ignore]\" jumps past the end of the stack"],
    );
}

#[test]
fn a_sufficient_module_after_preauth_skipping_the_ticket_is_an_error() {
    let found = one(&design_with(
        "auth     [success=1 default=ignore]  pam_unix.so nullok",
        "auth sufficient pam_u2f.so\nauth [success=1 default=ignore] pam_unix.so nullok",
    ));
    assert_one(
        &found,
        &[
            "tg:2: error: \"sufficient\" ends the stack here with success, before the ticket line (tg:5)",
        ],
    );
}

#[test]
fn two_password_modules_as_pam_auth_update_writes_them_are_accepted() {
    let auth = ENABLED[0].1.replace(
        "auth\t[success=2 default=ignore]\tpam_unix.so nullok try_first_pass",
        "auth\t[success=3 default=ignore]\tpam_unix.so nullok try_first_pass\n\
         auth\t[success=2 default=ignore]\tpam_sss.so use_first_pass",
    );
    assert_ne!(auth, ENABLED[0].1);
    assert_eq!(
        findings(&dir(&[&STOCK, &ENABLED, &[("common-auth", &auth)]])),
        Vec::<String>::new()
    );
    let short = auth.replace("[success=3", "[success=2");
    assert_one(
        &findings(&dir(&[&STOCK, &ENABLED, &[("common-auth", &short)]])),
        &["common-auth:18: error: a right password here lands on pam_deny.so"],
    );
}

#[test]
fn a_missing_commit_line_is_an_error() {
    let password = ENABLED[2]
        .1
        .replace("password\toptional\tpam_ticketgate.so commit\n", "");
    assert_ne!(password, ENABLED[2].1);
    let found = findings(&dir(&[&STOCK, &ENABLED, &[("common-password", &password)]]));
    assert_one(
        &found,
        &[
            "/etc/pam.d/common-password:26: error: no \"password optional pam_ticketgate.so commit\" line after the password module",
            "(in the stack of common-password, login, other, passwd, sshd)",
        ],
    );
    assert_one(
        &one(&design_with(
            "password optional                    pam_ticketgate.so commit\n",
            "",
        )),
        &["tg:7: error: no \"password optional pam_ticketgate.so commit\""],
    );
}

#[test]
fn commit_in_the_wrong_place_is_an_error() {
    // Reached when pam_unix failed (pam_unix required goes on).
    assert_one(
        &one(&design_with(
            "password requisite                   pam_unix.so",
            "password required pam_unix.so",
        )),
        &["tg:7: error: a failed change here still reaches commit (tg:8)"],
    );
    // Before the password module.
    let early = "password requisite pam_ticketgate.so\npassword optional pam_ticketgate.so commit\n\
                 password requisite pam_unix.so use_authtok\n";
    assert_one(
        &one(early),
        &["tg:2: error: commit comes before the password module (tg:3)"],
    );
    // Without the checking line.
    assert_one(
        &one(&design_with(
            "password requisite                   pam_ticketgate.so\n",
            "",
        )),
        &["tg:7: error: commit without the checking line"],
    );
    // No password module at all.
    assert_one(
        &one("password requisite pam_ticketgate.so\n"),
        &["tg:1: error: no password module after this line"],
    );
    // A sufficient password module ends the stack before commit, and its failure goes on to it.
    let found = one(&design_with(
        "password requisite                   pam_unix.so",
        "password sufficient pam_unix.so",
    ));
    assert_eq!(
        found,
        [
            "/etc/pam.d/tg:7: error: \"sufficient\" ends the stack here with success, before \
             commit (tg:8): changes are never recorded",
            "/etc/pam.d/tg:7: error: a failed change here still reaches commit (tg:8): use \
             requisite (or [success=1 default=ignore] before pam_deny.so), so only a stored \
             change is recorded",
        ]
    );
}

#[test]
fn lines_added_by_hand_beside_the_enabled_profiles_are_duplicates() {
    let sshd = format!("{}\n@include common-auth\n", SHIPPED[0].1);
    let found: Vec<String> = findings(&dir(&[&STOCK, &ENABLED, &[("sshd", &sshd)]]))
        .into_iter()
        .filter(|f| f.contains(": error: "))
        .collect();
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        found[0].starts_with("/etc/pam.d/common-auth:17: error: preauth again (first at sshd:5)"),
        "{found:#?}"
    );
    assert!(
        found[1].contains("common-auth:19: error: authfail again (first at sshd:7)"),
        "{found:#?}"
    );
    assert!(
        found[2].contains("common-auth:27: error: ticket again (first at sshd:8)"),
        "{found:#?}"
    );
    assert!(
        found.iter().all(|f| f.ends_with("(in the stack of sshd)")),
        "{found:#?}"
    );
}

#[test]
fn substacks_are_followed_and_keep_their_jumps_inside() {
    let auth = "auth requisite pam_ticketgate.so preauth\n\
                auth [success=1 default=ignore] pam_unix.so nullok\n\
                auth [default=die] pam_ticketgate.so authfail\n\
                auth requisite pam_ticketgate.so ticket\n";
    let service = "auth substack tg-auth\naccount required pam_ticketgate.so\n";
    assert_eq!(
        findings(&dir(&[&STOCK, &[("tg", service), ("tg-auth", auth)]])),
        Vec::<String>::new()
    );
    // A jump out of the substack is a bad jump, even with a line after it in the service.
    let short = auth.replace("auth requisite pam_ticketgate.so ticket\n", "");
    let outside = "auth substack tg-auth\nauth requisite pam_ticketgate.so ticket\n";
    let found = findings(&dir(&[
        &STOCK,
        &[
            ("tg", outside),
            ("tg-auth", &short.replace("success=1", "success=2")),
        ],
    ]));
    assert!(
        found.iter().any(|f| f.contains(
            "tg-auth:2: error: \"[success=2 default=ignore]\" jumps past the end of the stack"
        )),
        "{found:#?}"
    );
    // A substack counts as one module for a jump in the service: success=3 skips authfail, the
    // two-line substack and the ticket line; counted line by line it would land on ticket.
    let over = "auth requisite pam_ticketgate.so preauth\n\
                auth [success=3 default=ignore] pam_unix.so\n\
                auth [default=die] pam_ticketgate.so authfail\n\
                auth substack tg-extra\n\
                auth requisite pam_ticketgate.so ticket\n";
    let extra = "auth optional pam_echo.so one\nauth optional pam_echo.so two\n";
    assert_one(
        &findings(&dir(&[&STOCK, &[("tg", over), ("tg-extra", extra)]])),
        &["tg:2: error: a right password here jumps over the ticket line (tg:5)"],
    );
    let over = over.replace("success=3", "success=2");
    assert_eq!(
        findings(&dir(&[&STOCK, &[("tg", &over), ("tg-extra", extra)]])),
        Vec::<String>::new()
    );
}

#[test]
fn broken_lines_missing_includes_and_other_configs_are_reported() {
    let broken = format!("{STACK}session optionl pam_unix.so\n@include common-nothing\n");
    let found = one(&broken);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].starts_with(
            "/etc/pam.d/tg:10: error: unknown control \"optionl\": libpam keeps it as a line that always fails"
        ),
        "{found:#?}"
    );
    assert!(
        found[1].starts_with(
            "/etc/pam.d/tg:11: error: includes \"common-nothing\", which is not in /etc/pam.d: libpam fails logins"
        ),
        "{found:#?}"
    );
    let other = design_with(
        "pam_ticketgate.so ticket",
        "pam_ticketgate.so ticket config=/etc/other.toml",
    );
    assert_one(
        &one(&other),
        &[
            "tg:4: warning: the line reads config=/etc/other.toml, not /etc/security/ticketgate.toml",
        ],
    );
}

#[test]
fn an_include_loop_is_an_error_not_a_hang() {
    let found = findings(&dir(&[&[
        ("a", "@include b\naccount required pam_ticketgate.so\n"),
        ("b", "@include a\n"),
    ]]));
    assert!(
        found.iter().any(|f| f.contains("nested more than 16 deep")),
        "{found:#?}"
    );
}

#[test]
fn leftovers_are_read_for_includes_but_not_checked_as_services() {
    let d = tempfile::tempdir().unwrap();
    let typo = "auth requisite pam_ticketgate.so pre-auth\n";
    for name in [
        "sshd",
        ".hidden",
        "sshd~",
        "sshd.dpkg-old",
        "common-auth.pam-old",
    ] {
        std::fs::write(d.path().join(name), typo).unwrap();
    }
    std::fs::write(d.path().join("tg.orig"), STACK).unwrap();
    std::fs::write(d.path().join("tg"), "@include tg.orig\n").unwrap();
    std::fs::create_dir(d.path().join("subdir")).unwrap();
    std::os::unix::fs::symlink("sshd", d.path().join("ssh-link")).unwrap();
    let files = read_dir(d.path()).unwrap();
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        [
            ".hidden",
            "common-auth.pam-old",
            "ssh-link",
            "sshd",
            "sshd.dpkg-old",
            "sshd~",
            "tg",
            "tg.orig"
        ]
    );
    let checked = check(d.path(), &files, Path::new(crate::config::DEFAULT_PATH));
    assert_eq!(checked.services, ["ssh-link", "sshd", "tg"]);
    let lines: Vec<String> = checked.findings.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].contains("/ssh-link:1: error: unknown module argument"),
        "{lines:#?}"
    );
    assert!(
        lines[1].contains("/sshd:1: error: unknown module argument"),
        "{lines:#?}"
    );
    assert!(
        read_dir(&d.path().join("missing"))
            .unwrap_err()
            .to_string()
            .contains("missing")
    );
}

#[test]
fn every_walk_through_the_auth_stack_is_judged() {
    // preauth's success jumps over pam_unix.
    let found = one(&design_with(
        "requisite                   pam_ticketgate.so preauth",
        "[success=1 ignore=ignore default=die] pam_ticketgate.so preauth",
    ));
    assert!(
        found.iter().any(|f| f.starts_with(
            "/etc/pam.d/tg:1: error: preauth's success jumps over the password module (tg:2)"
        )),
        "{found:#?}"
    );
    // A second password module whose count is one short: pam_unix lands on pam_sss, which
    // refuses the local user, and the login goes on to authfail.
    let found = one(&design_with(
        "auth     [success=1 default=ignore]  pam_unix.so nullok",
        "auth [success=1 default=ignore] pam_unix.so nullok\nauth [success=1 default=ignore] pam_sss.so",
    ));
    assert_one(
        &found,
        &["tg:2: error: a right password here goes on to authfail (tg:4)"],
    );
    // A password module before pam_unix that ends the stack when it does not know the user.
    let found = one(&design_with(
        "auth     [success=1 default=ignore]  pam_unix.so nullok",
        "auth [success=2 default=die] pam_sss.so\nauth [success=1 default=ignore] pam_unix.so nullok",
    ));
    assert!(
        found.iter().any(|f| f.starts_with(
            "/etc/pam.d/tg:3: error: a right password here is refused at tg:2 (\"[success=2 default=die]\")"
        )),
        "{found:#?}"
    );
    // A wrong password that jumps over authfail.
    assert_one(
        &one(&design_with(
            "[success=1 default=ignore]  pam_unix.so",
            "[success=1 auth_err=1 default=ignore] pam_unix.so",
        )),
        &["tg:2: error: a wrong password jumps over authfail (tg:3)"],
    );
}

#[test]
fn an_account_line_that_refuses_uncovered_logins_is_an_error() {
    assert_one(
        &one(&design_with(
            "account  required ",
            "account  [success=ok default=die] ",
        )),
        &["tg:5: error: the account line is \"[success=ok default=die]\": its PAM_IGNORE"],
    );
}

#[test]
fn every_walk_through_the_password_stack_is_judged() {
    let twice = design_with(
        "password requisite                   pam_ticketgate.so\n",
        "password requisite pam_ticketgate.so\npassword requisite pam_ticketgate.so\n",
    );
    assert_one(
        &one(&twice),
        &["tg:7: error: the checking password line again (first at tg:6)"],
    );
    let commits = format!("{STACK}password optional pam_ticketgate.so commit\n");
    assert_one(
        &one(&commits),
        &["tg:10: warning: commit again (first at tg:8)"],
    );
    let found = one(&design_with(
        "password requisite                   pam_ticketgate.so\n",
        "password sufficient pam_ticketgate.so\n",
    ));
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].contains("tg:6: error: the checking password line is \"sufficient\": its refusal (authtok_err) is ignored"));
    assert!(found[1].contains(
        "tg:6: error: the checking password line is \"sufficient\": its success must go on"
    ));
    let commit_first = "password optional pam_ticketgate.so commit\npassword requisite pam_ticketgate.so\n\
                        password requisite pam_unix.so use_authtok\n";
    assert_one(
        &one(commit_first),
        &["tg:3: error: the commit line (tg:1) comes before the checking line"],
    );
    let password = ENABLED[2].1;
    let over = password.replace("[success=1 default=ignore]", "[success=3 default=ignore]");
    assert_one(
        &findings(&dir(&[&STOCK, &ENABLED, &[("common-password", &over)]])),
        &["common-password:26: error: a stored change jumps over commit (common-password:34)"],
    );
    let keyring = password.replace(
        "# here's the fallback if no module succeeds\n",
        "password\toptional\tpam_gnome_keyring.so\n",
    );
    assert_ne!(keyring, password);
    assert_one(
        &findings(&dir(&[&STOCK, &ENABLED, &[("common-password", &keyring)]])),
        &["common-password:27: error: a stored change lands on pam_deny.so (common-password:28)"],
    );
}

#[test]
fn absolute_includes_are_followed_into_the_directory_only() {
    let sshd = STOCK[5].1.replace(
        "@include common-account",
        "@include /etc/pam.d/common-account",
    );
    assert_ne!(sshd, STOCK[5].1);
    let mut files = dir(&[&STOCK, &ENABLED]);
    files.insert(
        "sshd".into(),
        sshd.replace(
            "@include common-session",
            "@include /usr/lib/pam.d/common-session",
        ),
    );
    let found = findings(&files);
    assert_one(
        &found,
        &[
            "sshd:28: warning: includes /usr/lib/pam.d/common-session, outside /etc/pam.d: not followed",
        ],
    );
    // Followed: the account line of the enabled common-account is seen through it.
    let account = "@include /etc/pam.d/common-account\naccount required pam_ticketgate.so\n";
    assert_one(
        &findings(&dir(&[&STOCK, &ENABLED, &[("tg", account)]])),
        &["tg:2: warning: the account line again (first at common-account:25)"],
    );
    let auth = "@include /etc/pam.d/common-auth\nauth requisite pam_ticketgate.so ticket\n";
    assert_one(
        &findings(&dir(&[&STOCK, &ENABLED, &[("tg", auth)]])),
        &["tg:2: error: ticket again (first at common-auth:27)"],
    );
}

#[test]
fn account_and_session_lines_twice_are_warnings() {
    // The shipped sshd (hand-edited) on a host where the profiles are enabled too.
    let found = findings(&dir(&[&STOCK, &ENABLED, &SHIPPED]));
    let sshd: Vec<&String> = found
        .iter()
        .filter(|f| f.contains("(in the stack of sshd"))
        .collect();
    assert!(
        found.iter().any(|f| f.starts_with(
            "/etc/pam.d/common-account:25: warning: the account line again (first at sshd:11): \
             each login is checked twice; keep one"
        )),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|f| f.starts_with(
            "/etc/pam.d/common-session:23: warning: the session line again (first at sshd:17): \
             each login is recorded twice; keep one"
        )),
        "{found:#?}"
    );
    assert!(!sshd.is_empty());
}
