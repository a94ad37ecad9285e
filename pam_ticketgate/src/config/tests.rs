//! Config contract tests: every error names its key and line; defaults are as documented.

use super::*;
use std::path::Path;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/security/ticketgate.toml"), text)
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn minimal_config_takes_documented_defaults() {
    let c = parse("version = 1\n[[scope]]\n").unwrap();
    assert_eq!(c.module.state_dir, Path::new("/var/lib/ticketgate"));
    assert_eq!(c.module.run_dir, Path::new("/run/ticketgate"));
    assert_eq!(c.module.fail_delay, Duration::from_secs(2));
    assert_eq!(c.module.unprivileged, Unprivileged::Ignore);
    assert_eq!(c.module.audit_file, None);
    let s = &c.scopes[0];
    assert_eq!(s.policy_name, "default");
    assert_eq!(s.policy, Policy::password_default());
    assert_eq!(s.pin_policy.min_length, 4);
    // The Cisco defaults, written out here once more so that a change to the key table (where
    // the module reads them) cannot pass unnoticed.
    assert_eq!(
        Policy::password_default(),
        Policy {
            failed_logon: 3,
            reset_failed_after: Duration::from_secs(30 * 60),
            lockout_duration: Some(Duration::from_secs(30 * 60)),
            min_length: 8,
            min_change_interval: Duration::ZERO,
            expires_after: None,
            expiry_warning: Duration::from_secs(14 * 86_400),
            inactive_after: None,
            history: 0,
            check_trivial: true,
            lock_root: false,
            local_users_only: false,
        }
    );
    assert_eq!(c.offline.ticket, vec![TicketFallback::Deny]);
    assert_eq!(c.offline.login_protect, ProtectFallback::Deny);
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let e = err("version = 1\n[policy.default]\nfailed_logon = 3\nfailed_logins = 4\n");
    assert!(e.contains("line 4") && e.contains("failed_logins"), "{e}");
}

#[test]
fn wrong_type_is_named_with_its_line() {
    let e = err("version = 1\n[module]\nfail_delay = 2\n");
    assert!(e.contains("line 3") && e.contains("string"), "{e}");
}

#[test]
fn out_of_range_values_follow_cisco_ranges() {
    let cases = [
        ("failed_logon = 101", "policy.default.failed_logon", "0-100"),
        ("failed_logon = -1", "policy.default.failed_logon", "0-100"),
        (
            "reset_failed_after = \"121m\"",
            "policy.default.reset_failed_after",
            "(1m-120m)",
        ),
        (
            "reset_failed_after = \"0m\"",
            "policy.default.reset_failed_after",
            "(1m-120m)",
        ),
        (
            "lockout_duration = \"1441m\"",
            "policy.default.lockout_duration",
            "(0m-1440m; \"0m\" = until an administrator unlocks)",
        ),
        (
            "lockout_duration = \"25h\"",
            "policy.default.lockout_duration",
            "(0m-1440m; \"0m\" = until an administrator unlocks)",
        ),
        ("history = 26", "policy.default.history", "0-25"),
        ("min_length = 65", "policy.default.min_length", "0-64"),
        (
            "expires_after = \"366d\"",
            "policy.default.expires_after",
            "(0d-365d; \"0d\" = never)",
        ),
        (
            "inactive_after = \"5001d\"",
            "policy.default.inactive_after",
            "(0d-5000d; \"0d\" = off)",
        ),
        (
            "lockout_duration = \"30x\"",
            "policy.default.lockout_duration",
            "unknown unit",
        ),
    ];
    for (line, key, range) in cases {
        let e = err(&format!("version = 1\n[policy.default]\n{line}\n"));
        assert!(
            e.contains("line 3") && e.contains(key) && e.contains(range),
            "{line}: {e}"
        );
    }
}

#[test]
fn range_edges_are_accepted() {
    let c = parse("version = 1\n[policy.p]\nfailed_logon = 100\nreset_failed_after = \"2h\"\nlockout_duration = \"0m\"\nhistory = 25\n[[scope]]\npolicy = \"p\"\n").unwrap();
    let p = &c.scopes[0].policy;
    assert_eq!(p.failed_logon, 100);
    assert_eq!(p.reset_failed_after, Duration::from_secs(7200));
    assert_eq!(
        p.lockout_duration, None,
        "0m means an administrator must unlock"
    );
}

#[test]
fn missing_referenced_policy_is_an_error() {
    let e = err("version = 1\n[[scope]]\nusers = [\"root\"]\npolicy = \"admins\"\n");
    assert!(
        e.contains("line 4") && e.contains("scope[1].policy") && e.contains("[policy.admins]"),
        "{e}"
    );
    let e = err("version = 1\n[[scope]]\npin_policy = \"kiosk\"\n");
    assert!(e.contains("scope[1].pin_policy"), "{e}");
}

#[test]
fn named_policy_starts_from_the_defaults() {
    let c =
        parse("version = 1\n[policy.admins]\nfailed_logon = 5\n[[scope]]\npolicy = \"admins\"\n")
            .unwrap();
    let p = &c.scopes[0].policy;
    assert_eq!(p.failed_logon, 5);
    assert_eq!(p.min_length, Policy::password_default().min_length);
}

#[test]
fn scope_needing_a_missing_table_is_an_error() {
    let e = err("version = 1\n[[scope]]\nticket = true\n");
    assert!(
        e.contains("scope[1].ticket") && e.contains("[ticket]"),
        "{e}"
    );
    let e = err("version = 1\n[[scope]]\nlogin_protect = true\n");
    assert!(e.contains("scope[1].login_protect"), "{e}");
    let e = err("version = 1\n[[scope]]\nusers = [\"a\"]\n[[scope]]\nfleet = true\n");
    assert!(
        e.contains("scope[2].fleet") && e.contains("[fleet]") && e.contains("line 4"),
        "{e}"
    );
}

#[test]
fn fleet_table_and_offline_mode_are_checked_now() {
    let f = "version = 1\n[fleet]\nurl = \"https://fleet.example.com/tg/\"\nsecret_file = \"/etc/security/f.secret\"\n";
    let c = parse(&format!("{f}[[scope]]\nfleet = true\n")).unwrap();
    let fleet = c.fleet.as_ref().unwrap();
    assert_eq!(fleet.timeout, Duration::from_secs(2));
    assert_eq!(fleet.url.path(), "/tg/");
    assert_eq!(fleet.ca_file, None);
    assert!(c.scopes[0].fleet);
    assert_eq!(c.offline.fleet, FleetFallback::Local);
    assert_eq!(
        c.secret_files(),
        vec![("fleet.secret_file", Path::new("/etc/security/f.secret"))]
    );
    let c = parse(&format!(
        "{f}ca_file = \"/etc/ssl/fleet.pem\"\ntimeout = \"5s\"\n[offline]\nfleet = \"deny\"\n"
    ))
    .unwrap();
    assert_eq!(c.offline.fleet, FleetFallback::Deny);
    assert_eq!(c.fleet.as_ref().unwrap().timeout, Duration::from_secs(5));
    assert_eq!(
        c.public_files(),
        vec![("fleet.ca_file", Path::new("/etc/ssl/fleet.pem"))]
    );
    // A scope without fleet = true is not a fleet scope, with or without [fleet].
    assert!(!parse(&format!("{f}[[scope]]\n")).unwrap().scopes[0].fleet);
    for (bad, key) in [
        (f.replace("https://fleet", "http://fleet"), "fleet.url"),
        (
            f.replace("/etc/security/f.secret", "f.secret"),
            "fleet.secret_file",
        ),
        (format!("{f}timeout = \"31s\"\n"), "fleet.timeout"),
        (format!("{f}timeout = \"0s\"\n"), "fleet.timeout"),
        (format!("{f}ca_file = \"ca.pem\"\n"), "fleet.ca_file"),
        (format!("{f}token = \"x\"\n"), "token"),
        (
            "version = 1\n[fleet]\nurl = \"https://f.example.com\"\n".to_string(),
            "secret_file",
        ),
        (
            "version = 1\n[offline]\nfleet = \"allow\"\n".to_string(),
            "offline.fleet",
        ),
    ] {
        let e = err(&bad);
        assert!(e.contains(key), "{bad}: {e}");
    }
}

#[test]
fn agent_table_defaults_and_checks() {
    let a = "version = 1\n[agent]\nurl = \"https://tg.example.com/tg/\"\nsecret_file = \"/etc/security/h.secret\"\n";
    let c = parse(a).unwrap();
    let agent = c.agent.as_ref().unwrap();
    assert_eq!(agent.interval, Duration::from_secs(60));
    assert_eq!(agent.tasks, TaskKind::ALL.to_vec());
    assert_eq!(agent.url.path(), "/tg/");
    assert_eq!(
        c.secret_files(),
        vec![("agent.secret_file", Path::new("/etc/security/h.secret"))]
    );
    let c = parse(&format!(
        "{a}interval = \"1s\"\ntasks = [\"lock\", \"verify_password\", \"lock\"]\nca_file = \"/etc/ssl/a.pem\"\n"
    ))
    .unwrap();
    let agent = c.agent.as_ref().unwrap();
    assert_eq!(agent.interval, Duration::from_secs(1));
    assert_eq!(agent.tasks, vec![TaskKind::Lock, TaskKind::VerifyPassword]);
    assert_eq!(
        c.public_files(),
        vec![("agent.ca_file", Path::new("/etc/ssl/a.pem"))]
    );
    // An empty allowlist is allowed: the agent then refuses every task (and reports it).
    let c = parse(&format!("{a}tasks = []\n")).unwrap();
    assert!(c.agent.unwrap().tasks.is_empty());
    // Loopback may be plain http (tests, a local proxy).
    assert!(parse(&a.replace("https://tg.example.com", "http://127.0.0.1:8080")).is_ok());
    for (bad, key) in [
        (a.replace("https://tg", "http://tg"), "agent.url"),
        (
            a.replace("/etc/security/h.secret", "h.secret"),
            "agent.secret_file",
        ),
        (format!("{a}interval = \"0s\"\n"), "agent.interval"),
        (format!("{a}interval = \"2h\"\n"), "agent.interval"),
        (format!("{a}tasks = [\"reboot\"]\n"), "agent.tasks"),
        (format!("{a}ca_file = \"ca.pem\"\n"), "agent.ca_file"),
        (
            "version = 1\n[agent]\nurl = \"https://f.example.com\"\n".to_string(),
            "secret_file",
        ),
    ] {
        let e = err(&bad);
        assert!(e.contains(key), "{bad}: {e}");
    }
}

#[test]
fn bad_module_settings_are_errors() {
    assert!(err("version = 1\n[module]\nstate_dir = \"var/lib\"\n").contains("absolute"));
    assert!(
        err("version = 1\n[module]\nunprivileged = \"allow\"\n").contains("module.unprivileged")
    );
    assert!(err("version = 1\n[module]\nfail_delay = \"61s\"\n").contains("0s-60s"));
    assert!(err("version = 2\n").contains("version = 1"));
    assert!(err("").contains("version"));
}

#[test]
fn ticket_table_is_checked_now() {
    let base = "version = 1\n[ticket]\nsystem = \"servicenow\"\nbase_url = \"https://acme.service-now.com\"\nusername = \"svc\"\nsecret_file = \"/etc/security/sn.secret\"\n";
    let c = parse(base).unwrap();
    let t = c.ticket.as_ref().unwrap();
    assert_eq!(t.system.name(), "servicenow");
    assert!(
        t.id_pattern.is_match("CHG0000001")
            && !t.id_pattern.is_match("CHG0000001^ORnumberISNOTEMPTY")
    );
    assert_eq!(c.secret_files().len(), 1);
    assert!(err("version = 1\n[ticket]\nsystem = \"remedy\"\n").contains("ticket.system"));
    assert!(err(&format!("{base}bogus = 1\n")).contains("bogus"));
    assert!(err(&format!("{base}id_pattern = \"CHG.*\"\n")).contains("anchored"));
    assert!(err(&format!("{base}timeout = \"31s\"\n")).contains("ticket.timeout"));
    let plain = base.replace("https://acme", "http://acme");
    assert!(err(&plain).contains("loopback"));
    assert!(
        err("version = 1\n[ticket]\nsystem = \"servicenow\"\nbase_url = \"https://x\"\n")
            .contains("ticket.username")
    );
    assert!(err("version = 1\n[ticket]\nsystem = \"http\"\nsecret_file = \"/s\"\nurl = \"https://t/x\"\n").contains("{id}"));
}

#[test]
fn conditions_are_typed_and_checked() {
    let base = "version = 1\n[ticket]\nsystem = \"jsm\"\nbase_url = \"https://acme.atlassian.net\"\nusername = \"u\"\nsecret_file = \"/s\"\n";
    let ok = format!(
        "{base}[[ticket.condition]]\nfield = \"/values\"\ndoc = \"approvals\"\nop = \"any\"\nwhere = {{ field = \"/finalDecision\", op = \"eq\", value = \"approved\" }}\n[[ticket.condition]]\nop = \"within\"\nstart = \"/a\"\nend = \"/b\"\ntime_format = \"epoch_ms\"\nskew = \"5m\"\n"
    );
    let c = parse(&ok).unwrap();
    let conds = &c.ticket.unwrap().conditions;
    assert_eq!(conds[0].op, Op::Any);
    assert_eq!(conds[0].doc, ConditionDoc::Approvals);
    assert_eq!(conds[0].where_.as_ref().unwrap().op, Op::Eq);
    assert_eq!(conds[1].time_format, TimeFormat::EpochMs);
    let bad = [
        (
            "field = \"status\"\nop = \"eq\"\nvalue = \"x\"",
            "JSON Pointer",
        ),
        (
            "field = \"/s\"\nop = \"equals\"\nvalue = \"x\"",
            "is not one of eq",
        ),
        ("field = \"/s\"\nop = \"in\"", "non-empty list"),
        ("field = \"/s\"\nop = \"eq\"", "needs value or from"),
        (
            "field = \"/s\"\nop = \"eq\"\nvalue = \"x\"\nfrom = \"user\"",
            "only one of",
        ),
        ("field = \"/s\"\nop = \"matches\"\nvalue = \"(\"", "regex"),
        (
            "field = \"/s\"\nop = \"matches\"\nvalue = '\\p{L}'",
            "not a valid regex",
        ),
        ("op = \"within\"\nstart = \"/a\"", "both start and end"),
        ("field = \"/s\"\nop = \"all\"", "where"),
        ("field = \"/s\"\nop = \"eq\"\nfrom = \"uid\"", "from"),
    ];
    for (cond, want) in bad {
        let e = err(&format!("{base}[[ticket.condition]]\n{cond}\n"));
        assert!(
            e.contains("ticket.condition[1]") && e.contains(want),
            "{cond}: {e}"
        );
    }
}

#[test]
fn protect_and_offline_are_checked_now() {
    let p = "version = 1\n[login_protect]\nurl = \"https://protect.example.com\"\nservice_id = \"web\"\nsecret_file = \"/etc/security/p.secret\"\n";
    let c = parse(p).unwrap();
    assert_eq!(
        c.login_protect.as_ref().unwrap().timeout,
        Duration::from_secs(2)
    );
    assert!(err(&format!("{p}colour = 1\n")).contains("colour"));
    assert!(
        err("version = 1\n[offline]\nticket = [\"cached\", \"maybe\"]\n")
            .contains("offline.ticket")
    );
    assert!(err("version = 1\n[offline]\nticket = []\n").contains("at least one"));
    assert!(
        err("version = 1\n[offline]\nlogin_protect = \"open\"\n").contains("offline.login_protect")
    );
    let c = parse("version = 1\n[offline]\nticket = [\"cached\", \"breakglass\", \"deny\"]\nlogin_protect = \"hybrid\"\ncached_for = \"8h\"\nretry_after = \"30s\"\n").unwrap();
    assert_eq!(
        c.offline.ticket,
        vec![
            TicketFallback::Cached,
            TicketFallback::Breakglass,
            TicketFallback::Deny
        ]
    );
}

#[test]
fn bad_host_pattern_names_the_scope() {
    let e = err("version = 1\n[[scope]]\nhosts = \"a;;b\"\n");
    assert!(e.contains("line 3") && e.contains("scope[1].hosts"), "{e}");
}

#[test]
fn every_example_in_conf_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("ticketgate") || path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        if let Err(e) = Config::parse(&path, &text) {
            panic!("{e}");
        }
        seen += 1;
    }
    assert!(seen >= 1, "no ticketgate*.toml found in {}", dir.display());
}

#[test]
fn load_sees_every_edit_and_rechecks_ownership_each_time() {
    crate::test_support::needs_root!("load_sees_every_edit_and_rechecks_ownership_each_time");
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("t.toml");
    let write = |text: &str| {
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    };
    write("version = 1\n[policy.default]\nfailed_logon = 3\n[[scope]]\n");
    assert_eq!(
        Config::load(&path).unwrap().scopes[0].policy.failed_logon,
        3
    );
    assert_eq!(
        Config::load(&path).unwrap().scopes[0].policy.failed_logon,
        3,
        "cached"
    );
    // Same size, new content: the cache must not answer for it.
    write("version = 1\n[policy.default]\nfailed_logon = 4\n[[scope]]\n");
    assert_eq!(
        Config::load(&path).unwrap().scopes[0].policy.failed_logon,
        4
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert!(
        Config::load(&path)
            .unwrap_err()
            .to_string()
            .contains("chmod go-w"),
        "checked on every load"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    write("version = 1\n[policy.default]\nfailed_logon = 999\n[[scope]]\n");
    assert!(
        Config::load(&path).is_err(),
        "a broken edit is not hidden by the cache"
    );
}

/// The README's "Configuration essentials" example is a configuration the module accepts, and
/// says what the README says of it.
#[test]
fn the_readme_example_parses_as_documented() {
    let readme = include_str!("../../../README.md");
    let example = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    let c = parse(example).unwrap_or_else(|e| panic!("{e}\n{example}"));
    assert_eq!(c.scopes.len(), 2);
    assert_eq!(c.scopes[0].policy.failed_logon, 5);
    assert_eq!(c.scopes[0].policy.lockout_duration, None);
    assert!(c.scopes[0].ticket);
    assert_eq!(c.scopes[1].policy.failed_logon, 3);
    assert!(example.contains("mode   = \"report\""));
}

#[test]
fn a_service_id_the_server_would_refuse_is_a_config_error() {
    let protect = |sid: &str| {
        format!(
            "version = 1\n[login_protect]\nurl = \"https://p.example.com\"\nservice_id = {sid}\nsecret_file = \"/etc/security/p.secret\"\n"
        )
    };
    assert!(parse(&protect("\"web\"")).is_ok());
    for (sid, want) in [
        ("\"\"", "must not be empty"),
        ("\"*\"", "reserved"),
        ("\"a\\tb\"", "control characters"),
    ] {
        let e = err(&protect(sid));
        assert!(
            e.contains("login_protect.service_id") && e.contains(want),
            "{sid}: {e}"
        );
    }
    let long = "x".repeat(257);
    assert!(err(&protect(&format!("\"{long}\""))).contains("256 bytes"));
    let scope = format!(
        "{}[[scope]]\nusers = [\"a\"]\nlogin_protect = true\nprotect_service_id = \"*\"\n",
        protect("\"web\"")
    );
    let e = err(&scope);
    assert!(
        e.contains("protect_service_id") && e.contains("reserved"),
        "{e}"
    );
}
