//! The ticket gate through pamtester, in the namespace sandbox, against the loopback emulators:
//! the docs/design.md §2 stack with real pam_unix, a throwaway user, and `pam_exec` in the session to
//! show the PAM environment (`TICKETGATE_TICKET`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The module under test reads the real clock; the tests date records around it.
    clippy::disallowed_methods
)]

use std::os::unix::fs::PermissionsExt;
use std::process::Output;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use ticketgate_tests::emulators::{Mode, http, jira, sdp, servicenow};
use ticketgate_tests::sandbox::{PASSWORD, Sandbox, USER, text};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// ServiceNow's UTC text for `t`.
fn sn_time(t: i64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%d %H:%M:%S"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A sandbox whose scope needs a ticket; `ticket` is the `[ticket]` body (secret files are
/// written into the sandbox and named `@SECRET@`, `@CLIENT@`, `@REFRESH@`), `offline` the `[offline]` body.
fn sandbox(ticket: &str, offline: &str, secrets: &[(&str, &str)]) -> Sandbox {
    let s = Sandbox::new("");
    let mut ticket = ticket.to_string();
    for (name, value) in secrets {
        let path = s.path(&format!("{}.secret", name.trim_matches('@').to_lowercase()));
        std::fs::write(&path, format!("{value}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        ticket = ticket.replace(name, path.to_str().unwrap());
    }
    s.write_config(&format!(
        "[[scope]]\nusers = [\"{USER}\"]\nticket = true\n[policy.default]\nfailed_logon = 3\n[ticket]\n{ticket}\n[offline]\n{offline}\n"
    ));
    let so = ticketgate_tests::module_so();
    let cfg = s.config();
    let (so, cfg) = (so.display(), cfg.display());
    let env = s.path("env.log");
    let env = env.display();
    s.service(
        "tg",
        &format!(
            "auth     requisite                  {so} preauth config={cfg}\n\
             auth     [success=1 default=ignore] pam_unix.so nullok nodelay\n\
             auth     [default=die]              {so} authfail config={cfg}\n\
             auth     requisite                  {so} ticket config={cfg}\n\
             account  required                   {so} config={cfg}\n\
             account  required                   pam_unix.so\n\
             password required                   pam_permit.so\n\
             session  optional                   pam_exec.so log={env} /usr/bin/env\n"
        ),
    );
    s
}

fn login(s: &Sandbox, ticket: &str) -> Output {
    s.pamtester(
        "tg",
        USER,
        &["authenticate", "acct_mgmt", "open_session"],
        &format!("{PASSWORD}\n{ticket}\n"),
    )
}

fn ok(out: &Output) -> bool {
    out.status.success() && text(out).contains("successfully authenticated")
}

fn names(s: &Sandbox) -> Vec<String> {
    s.events()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect()
}

fn last(s: &Sandbox, event: &str) -> Value {
    s.events()
        .into_iter()
        .rev()
        .find(|e| e["event"] == event)
        .unwrap_or_else(|| panic!("no {event} in {:?}", names(s)))
}

fn env_has_ticket(s: &Sandbox, id: &str) -> bool {
    std::fs::read_to_string(s.path("env.log"))
        .unwrap_or_default()
        .lines()
        .any(|l| l == format!("TICKETGATE_TICKET={id}"))
}

fn snow_ticket(url: &str) -> String {
    format!(
        "system = \"servicenow\"\nbase_url = \"{url}\"\nusername = \"{}\"\nsecret_file = \"@SECRET@\"\ntimeout = \"1s\"\n\
         [[ticket.condition]]\nfield = \"/result/0/approval\"\nop = \"eq\"\nvalue = \"approved\"\n\
         [[ticket.condition]]\nfield = \"/result/0/requested_by.user_name\"\nop = \"eq\"\nfrom = \"user\"\n\
         [[ticket.condition]]\nop = \"within\"\nstart = \"/result/0/start_date\"\nend = \"/result/0/end_date\"\ntime_format = \"servicenow\"\nskew = \"1m\"\n",
        servicenow::USER
    )
}

fn snow() -> servicenow::ServiceNow {
    let sn = servicenow::ServiceNow::start();
    let t = now();
    sn.add(
        "change_request",
        servicenow::change("CHG0000001", USER, &sn_time(t - 600), &sn_time(t + 3600)),
    );
    let mut closed = servicenow::change("CHG0000002", USER, &sn_time(t - 600), &sn_time(t + 3600));
    closed["state"] = json!("3");
    sn.add("change_request", closed);
    sn.add(
        "change_request",
        servicenow::change(
            "CHG0000003",
            "someone_else",
            &sn_time(t - 600),
            &sn_time(t + 3600),
        ),
    );
    sn.add(
        "change_request",
        servicenow::change("CHG0000004", USER, &sn_time(t - 7200), &sn_time(t - 3600)),
    );
    let mut pending = servicenow::change("CHG0000005", USER, &sn_time(t - 600), &sn_time(t + 3600));
    pending["approval"] = json!("requested");
    sn.add("change_request", pending);
    sn
}

fn snow_sandbox(sn: &servicenow::ServiceNow, offline: &str) -> Sandbox {
    sandbox(
        &snow_ticket(&sn.url()),
        offline,
        &[("@SECRET@", servicenow::PASSWORD)],
    )
}

#[test]
fn servicenow_approved_change_lets_the_login_on_and_exports_the_ticket() {
    let sn = snow();
    let s = snow_sandbox(&sn, "ticket = [\"deny\"]");
    let out = login(&s, "chg0000001");
    assert!(ok(&out), "{}", text(&out));
    assert!(text(&out).contains("Ticket ID:"), "{}", text(&out));
    assert!(
        env_has_ticket(&s, "CHG0000001"),
        "{:?}",
        std::fs::read_to_string(s.path("env.log"))
    );
    assert_eq!(names(&s), ["ticket_accepted", "auth_success"]);
    let ev = last(&s, "ticket_accepted");
    assert_eq!(
        (
            ev["system"].as_str(),
            ev["ticket"].as_str(),
            ev["source"].as_str()
        ),
        (Some("servicenow"), Some("CHG0000001"), Some("online"))
    );
    assert!(ev["conditions"].as_str().unwrap().contains(&format!(
        "/result/0/requested_by.user_name eq from=user=ok(\"{USER}\")"
    )));
    assert!(
        !s.events()
            .iter()
            .any(|e| e.to_string().contains(servicenow::PASSWORD)),
        "no secret in the audit trail"
    );
}

#[test]
fn servicenow_rejections_count_as_failed_logons_and_lock_at_the_limit() {
    let sn = snow();
    let s = snow_sandbox(&sn, "ticket = [\"allow\"]");
    let cases = [
        ("CHG0000009", "not_found", "no such ticket"),
        ("CHG0000002", "closed", "the ticket is closed"),
        ("CHG0000003", "conditions", "it does not allow this login"),
    ];
    for (i, (id, reason, message)) in cases.iter().enumerate() {
        let out = login(&s, id);
        assert!(!ok(&out), "{id}: {}", text(&out));
        assert!(
            text(&out).contains(&format!("Ticket rejected: {message}")),
            "{id}: {}",
            text(&out)
        );
        let ev = last(&s, "ticket_rejected");
        assert_eq!(ev["reason"], *reason, "{id}");
        assert_eq!(last(&s, "auth_failure")["failures"], i + 1, "{id}");
    }
    assert_eq!(last(&s, "hack_lock")["failures"], 3);
    let out = login(&s, "CHG0000001");
    assert!(
        !ok(&out) && !text(&out).contains("Ticket ID:"),
        "locked: no prompt at all: {}",
        text(&out)
    );
}

#[test]
fn servicenow_window_and_approval_conditions_show_the_value_seen() {
    let sn = snow();
    let s = snow_sandbox(&sn, "ticket = [\"deny\"]");
    assert!(!ok(&login(&s, "CHG0000004")));
    let c = last(&s, "ticket_rejected")["conditions"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        c.contains("within [/result/0/start_date, /result/0/end_date]=FAIL(")
            && c.contains("(ended)"),
        "{c}"
    );
    assert!(!ok(&login(&s, "CHG0000005")));
    let c = last(&s, "ticket_rejected")["conditions"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        c.contains("/result/0/approval eq \"approved\"=FAIL(\"requested\")"),
        "{c}"
    );
}

#[test]
fn injection_attempts_never_reach_the_server() {
    let sn = snow();
    let s = snow_sandbox(&sn, "ticket = [\"allow\"]");
    let long = format!("CHG{}", "0".repeat(5000));
    for id in [
        "CHG0000001^ORnumberISNOTEMPTY",
        "../../api/now/table/sys_user",
        "CHG%2F0000001",
        "CHG0000001'",
        "\"CHG0000001\"",
        "CHG0000001 OR 1=1",
        &long,
    ] {
        let out = login(&s, id);
        assert!(!ok(&out), "{id}: {}", text(&out));
        assert!(
            text(&out).contains("Ticket rejected: not a valid ticket ID."),
            "{}",
            text(&out)
        );
        let ev = last(&s, "ticket_rejected");
        assert!(
            ev["ticket"].as_str().unwrap().starts_with("(invalid, "),
            "{ev}"
        );
        assert_eq!(
            ev["reason"],
            if id.len() > 64 {
                "id_too_long"
            } else {
                "id_pattern"
            }
        );
        s.ticketgate(&["reset", USER]);
    }
    // A newline ends the answer: the rest never becomes part of the ID.
    let out = s.pamtester(
        "tg",
        USER,
        &["authenticate"],
        &format!("{PASSWORD}\nCHG000\n0001\n"),
    );
    assert!(!ok(&out));
    assert_eq!(sn.server.count(), 0, "{:?}", sn.server.requests());
}

#[test]
fn wrong_password_never_asks_for_a_ticket() {
    let sn = snow();
    let s = snow_sandbox(&sn, "ticket = [\"deny\"]");
    let out = s.pamtester("tg", USER, &["authenticate"], "wrong\nCHG0000001\n");
    assert!(!ok(&out));
    assert!(!text(&out).contains("Ticket ID:"), "{}", text(&out));
    assert_eq!(sn.server.count(), 0);
}

#[test]
fn cache_hit_makes_no_request() {
    let sn = snow();
    let s = snow_sandbox(&sn, "ticket = [\"deny\"]");
    assert!(ok(&login(&s, "CHG0000001")));
    assert!(ok(&login(&s, "CHG0000001")));
    assert_eq!(sn.server.count(), 1);
    assert_eq!(last(&s, "ticket_accepted")["source"], "cache");
    assert!(env_has_ticket(&s, "CHG0000001"));
}

fn dead_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

#[test]
fn unreachable_with_deny_is_authinfo_unavail_and_the_breaker_skips_the_network() {
    let sn = snow();
    sn.server.set_mode(Mode::Silent);
    let s = snow_sandbox(&sn, "ticket = [\"deny\"]\nretry_after = \"60s\"");
    let out = login(&s, "CHG0000001");
    assert!(!ok(&out));
    assert!(
        text(&out).contains("Authentication service cannot retrieve authentication info"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("Ticket system unreachable"),
        "{}",
        text(&out)
    );
    let ev = last(&s, "offline_fallback");
    assert_eq!(
        (ev["mode"].as_str(), ev["gate"].as_str()),
        (Some("deny"), Some("ticket"))
    );
    assert!(ev["detail"].as_str().unwrap().contains("deadline"), "{ev}");
    assert!(
        !names(&s).contains(&"auth_failure".to_string()),
        "unreachable is not the user's failure"
    );
    sn.server.set_mode(Mode::Normal);
    let out = login(&s, "CHG0000001");
    assert!(!ok(&out));
    assert_eq!(
        sn.server.count(),
        1,
        "breaker open: the second login made no request"
    );
    assert!(
        last(&s, "offline_fallback")["detail"]
            .as_str()
            .unwrap()
            .contains("breaker")
    );
}

#[test]
fn allow_fallback_lets_the_login_on_when_unreachable_but_never_on_a_verdict() {
    for (mode, allowed) in [
        (Mode::Status(503), true),
        (Mode::Status(429), true),
        (Mode::Status(401), false),
        (Mode::Huge, false),
        (Mode::Malformed, false),
    ] {
        let sn = snow();
        sn.server.set_mode(mode);
        let s = snow_sandbox(&sn, "ticket = [\"allow\"]");
        let out = login(&s, "CHG0000001");
        assert_eq!(ok(&out), allowed, "{mode:?}: {}", text(&out));
        if allowed {
            assert_eq!(last(&s, "offline_fallback")["mode"], "allow");
            assert!(env_has_ticket(&s, "CHG0000001"));
        } else {
            assert!(
                !names(&s).contains(&"offline_fallback".to_string()),
                "{mode:?}"
            );
        }
    }
    let s = sandbox(
        &snow_ticket(&dead_url()),
        "ticket = [\"allow\"]",
        &[("@SECRET@", servicenow::PASSWORD)],
    );
    assert!(
        ok(&login(&s, "CHG0000001")),
        "connection refused is offline"
    );
}

#[test]
fn cached_fallback_accepts_a_ticket_accepted_online_before() {
    let sn = snow();
    let s = snow_sandbox(&sn, "ticket = [\"cached\", \"deny\"]\ncached_for = \"8h\"");
    s.write_config(
        &std::fs::read_to_string(s.config())
            .unwrap()
            .split_once("[[scope]]")
            .map(|(_, b)| format!("[[scope]]{b}"))
            .unwrap()
            .replace("timeout = \"1s\"", "timeout = \"1s\"\ncache = \"0s\""),
    );
    assert!(ok(&login(&s, "CHG0000001")));
    sn.server.set_mode(Mode::Status(500));
    let out = login(&s, "CHG0000001");
    assert!(ok(&out), "{}", text(&out));
    assert_eq!(last(&s, "offline_fallback")["mode"], "cached");
    assert_eq!(last(&s, "ticket_accepted")["source"], "offline_cached");
    let out = login(&s, "CHG0000005");
    assert!(!ok(&out), "never accepted online: {}", text(&out));
}

#[test]
fn breakglass_code_works_once_while_the_system_is_unreachable() {
    let s = sandbox(
        &snow_ticket(&dead_url()),
        "ticket = [\"breakglass\", \"deny\"]",
        &[("@SECRET@", servicenow::PASSWORD)],
    );
    // One code: Argon2 in the debug build takes seconds per hash.
    let out = s.ticketgate(&["breakglass", "generate", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    let codes: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.len() == 19 && l.matches('-').count() == 3)
        .map(String::from)
        .collect();
    assert_eq!(codes.len(), 1, "{}", text(&out));
    let stored = std::fs::read_to_string(s.path("state/breakglass.json")).unwrap();
    assert!(!stored.contains(&codes[0]));
    let with_code = |code: &str| {
        s.pamtester(
            "tg",
            USER,
            &["authenticate", "acct_mgmt", "open_session"],
            &format!("{PASSWORD}\nCHG0000001\n{code}\n"),
        )
    };
    let out = with_code(&codes[0]);
    assert!(ok(&out), "{}", text(&out));
    assert!(text(&out).contains("Break-glass code:"), "{}", text(&out));
    assert_eq!(last(&s, "breakglass_used")["remaining"], 0);
    assert_eq!(last(&s, "offline_fallback")["mode"], "breakglass");
    let out = with_code(&codes[0]);
    assert!(!ok(&out), "used up: {}", text(&out));
    assert!(
        !text(&out).contains("Break-glass code:"),
        "no codes left: not even asked: {}",
        text(&out)
    );
    assert_eq!(last(&s, "offline_fallback")["mode"], "deny");
}

fn jira_ticket(system: &str, url: &str, extra: &str) -> String {
    format!(
        "system = \"{system}\"\nbase_url = \"{url}\"\nusername = \"{}\"\nsecret_file = \"@SECRET@\"\nuser_map = \"{{user}}@example.com\"\n\
         [[ticket.condition]]\nfield = \"/fields/assignee/emailAddress\"\nop = \"eq\"\nfrom = \"user_map\"\n{extra}",
        jira::EMAIL
    )
}

#[test]
fn jira_accepts_an_open_issue_of_the_user_and_rejects_done() {
    let j = jira::Jira::start();
    j.add(jira::issue(
        "OPS-12",
        "In Progress",
        "indeterminate",
        &format!("{USER}@example.com"),
    ));
    j.add(jira::issue(
        "OPS-13",
        "Done",
        "done",
        &format!("{USER}@example.com"),
    ));
    j.add(jira::issue(
        "OPS-14",
        "In Progress",
        "indeterminate",
        "bob@example.com",
    ));
    let s = sandbox(
        &jira_ticket("jira", &j.url(), ""),
        "ticket = [\"deny\"]",
        &[("@SECRET@", jira::API_TOKEN)],
    );
    let out = login(&s, "ops-12");
    assert!(ok(&out), "{}", text(&out));
    assert!(env_has_ticket(&s, "OPS-12"));
    assert!(!ok(&login(&s, "OPS-13")));
    assert_eq!(last(&s, "ticket_rejected")["reason"], "closed");
    assert!(!ok(&login(&s, "OPS-14")));
    assert_eq!(last(&s, "ticket_rejected")["reason"], "conditions");
}

#[test]
fn jsm_needs_every_approval() {
    let j = jira::Jira::start();
    j.add(jira::issue(
        "ITSM-7",
        "Waiting for approval",
        "indeterminate",
        &format!("{USER}@example.com"),
    ));
    j.set_approvals("ITSM-7", vec![jira::approval("pending")]);
    let extra = "[[ticket.condition]]\ndoc = \"approvals\"\nfield = \"/values\"\nop = \"all\"\nwhere = { field = \"/finalDecision\", op = \"eq\", value = \"approved\" }\n";
    let s = sandbox(
        &jira_ticket("jsm", &j.url(), extra),
        "ticket = [\"deny\"]",
        &[("@SECRET@", jira::API_TOKEN)],
    );
    assert!(!ok(&login(&s, "ITSM-7")));
    assert!(
        last(&s, "ticket_rejected")["conditions"]
            .as_str()
            .unwrap()
            .contains("approvals:/values all")
    );
    j.set_approvals("ITSM-7", vec![jira::approval("approved")]);
    assert!(ok(&login(&s, "ITSM-7")));
}

#[test]
fn sdp_request_change_and_msp_account() {
    let sd = sdp::Sdp::start();
    sd.add("request", sdp::request("42", "42", "Open", USER, "Acme"));
    sd.add(
        "request",
        sdp::request("43", "43", "Resolved", USER, "Acme"),
    );
    sd.add("request", sdp::request("44", "44", "Open", USER, "Globex"));
    let t = now();
    sd.add(
        "change",
        sdp::change("7", "Approved", USER, (t - 600) * 1000, (t + 600) * 1000),
    );
    sd.add(
        "change",
        sdp::change("8", "Approved", USER, (t + 3600) * 1000, (t + 7200) * 1000),
    );
    let req =
        "[[ticket.condition]]\nfield = \"/request/requester/name\"\nop = \"eq\"\nfrom = \"user\"\n";
    let s = sandbox(
        &format!(
            "system = \"sdp\"\nbase_url = \"{}\"\nsecret_file = \"@SECRET@\"\n{req}",
            sd.url()
        ),
        "ticket = [\"deny\"]",
        &[("@SECRET@", sdp::AUTHTOKEN)],
    );
    assert!(ok(&login(&s, "42")));
    assert!(!ok(&login(&s, "43")));
    assert_eq!(last(&s, "ticket_rejected")["reason"], "closed");
    assert!(!ok(&login(&s, "45")));
    assert_eq!(
        last(&s, "ticket_rejected")["reason"],
        "vendor_error",
        "SDP's failure inside HTTP 200"
    );
    let chg = "[[ticket.condition]]\nop = \"within\"\nstart = \"/change/scheduled_start_time/value\"\nend = \"/change/scheduled_end_time/value\"\ntime_format = \"epoch_ms\"\n";
    let s = sandbox(
        &format!(
            "system = \"sdp\"\nbase_url = \"{}\"\nmodule = \"change\"\nsecret_file = \"@SECRET@\"\n{chg}",
            sd.url()
        ),
        "ticket = [\"deny\"]",
        &[("@SECRET@", sdp::AUTHTOKEN)],
    );
    assert!(ok(&login(&s, "7")));
    assert!(!ok(&login(&s, "8")));
    let msp = format!(
        "{req}[[ticket.condition]]\nfield = \"/request/account/name\"\nop = \"eq\"\nvalue = \"Acme\"\n"
    );
    let s = sandbox(
        &format!(
            "system = \"sdp-msp\"\nbase_url = \"{}\"\nsecret_file = \"@SECRET@\"\n{msp}",
            sd.url()
        ),
        "ticket = [\"deny\"]",
        &[("@SECRET@", sdp::AUTHTOKEN)],
    );
    assert!(ok(&login(&s, "42")));
    assert!(!ok(&login(&s, "44")));
}

#[test]
fn sdp_cloud_resolves_display_ids_and_keeps_its_token() {
    let sd = sdp::Sdp::start();
    sd.add(
        "request",
        sdp::request("123000000456789", "245", "Open", USER, "Acme"),
    );
    sd.add(
        "request",
        sdp::request("123000000456790", "246", "Closed", USER, "Acme"),
    );
    let cfg = format!(
        "system = \"sdp-cloud\"\nbase_url = \"{0}\"\ntoken_url = \"{0}/oauth/v2/token\"\nclient_id = \"{1}\"\nclient_secret_file = \"@CLIENT@\"\nrefresh_token_file = \"@REFRESH@\"\nportal = \"itdesk\"\ncache = \"0s\"\n\
         [[ticket.condition]]\nfield = \"/request/requester/name\"\nop = \"eq\"\nfrom = \"user\"\n",
        sd.url(),
        sdp::CLIENT_ID
    );
    let s = sandbox(
        &cfg,
        "ticket = [\"deny\"]",
        &[
            ("@CLIENT@", sdp::CLIENT_SECRET),
            ("@REFRESH@", sdp::REFRESH_TOKEN),
        ],
    );
    assert!(ok(&login(&s, "245")), "{:?}", s.events());
    assert!(ok(&login(&s, "245")));
    assert_eq!(
        sd.tokens_issued(),
        1,
        "the access token is reused from run_dir"
    );
    assert!(!ok(&login(&s, "246")));
    assert!(
        !ok(&login(&s, "123000000456789")),
        "internal ids are not accepted as input"
    );
    assert_eq!(last(&s, "ticket_rejected")["reason"], "id_pattern");
}

#[test]
fn http_system_accepts_and_rejects() {
    let h = http::HttpTickets::start();
    h.add(http::ticket("T-1", "approved", USER, "db01"));
    let cfg = format!(
        "system = \"http\"\nurl = \"{}/api/tickets/{{id}}\"\nsecret_file = \"@SECRET@\"\n[[ticket.condition]]\nfield = \"/owner\"\nop = \"eq\"\nfrom = \"user\"\n",
        h.url()
    );
    let s = sandbox(&cfg, "ticket = [\"allow\"]", &[("@SECRET@", http::TOKEN)]);
    assert!(ok(&login(&s, "T-1")));
    assert!(!ok(&login(&s, "T-2")), "404 is a verdict, even with allow");
    assert_eq!(last(&s, "ticket_rejected")["reason"], "denied");
}

#[test]
fn test_ticket_prints_each_condition_with_the_value_seen() {
    let sn = snow();
    let s = snow_sandbox(&sn, "ticket = [\"deny\"]");
    let out = s.ticketgate(&["test-ticket", "--user", USER, "CHG0000003"]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("ok    /result/0/approval eq \"approved\"  seen \"approved\""),
        "{t}"
    );
    assert!(
        t.contains("FAIL  /result/0/requested_by.user_name eq from=user  seen \"someone_else\""),
        "{t}"
    );
    let out = s.ticketgate(&["test-ticket", "--user", USER, "CHG0000001"]);
    assert!(
        out.status.success() && text(&out).contains("ACCEPTED"),
        "{}",
        text(&out)
    );
    // The same as JSON, for scripts: exit 1 and each condition with the value seen.
    let out = s.ticketgate(&["test-ticket", "--json", "--user", USER, "CHG0000003"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["accepted"], false, "{v}");
    assert_eq!(v["ticket"], "CHG0000003");
    let failed: Vec<_> = v["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .collect();
    assert_eq!(failed.len(), 1, "{v}");
    assert_eq!(failed[0]["seen"], "\"someone_else\"", "{v}");
    let out = s.ticketgate(&["test-ticket", "--json", "--user", USER, "CHG0000001"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["accepted"], true, "{v}");
    assert!(s.events().is_empty(), "a dry run logs no one in");
}
