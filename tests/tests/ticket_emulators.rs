//! The ticket gate's fetch and checks (real HTTP client, `pam_ticketgate::ticket::check`)
//! against each loopback emulator: vendor bodies, envelopes and quirks, the hostile servers,
//! and TLS with a certificate that is (or is not) trusted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::time::Duration;

use pam_ticketgate::config::{Config, Ticket};
use pam_ticketgate::net::Client;
use pam_ticketgate::secret::Secret;
use pam_ticketgate::ticket::token::MemTokenCache;
use pam_ticketgate::ticket::{self, Checked, Credentials, Facts, TicketError};
use serde_json::json;
use ticketgate_tests::emulators::{Mode, http, jira, sdp, servicenow, tls};

/// 2026-11-22 09:19:59 UTC.
const NOW: i64 = 1_795_339_199;

fn ticket_cfg(body: &str) -> Ticket {
    Config::parse(
        Path::new("/t.toml"),
        &format!("version = 1\n[ticket]\n{body}\n"),
    )
    .unwrap()
    .ticket
    .unwrap()
}

fn facts(user: &str) -> Facts {
    Facts {
        user: user.into(),
        host: "db01".into(),
        host_fqdn: "db01.prod.example.com".into(),
        rhost: "192.0.2.7".into(),
        service: "sshd".into(),
        user_map: Some(format!("{user}@example.com")),
    }
}

fn run(cfg: &Ticket, creds: &Credentials, id: &str, user: &str) -> Result<Checked, TicketError> {
    let client = Client::new(cfg.timeout, cfg.ca_file.as_deref()).unwrap();
    ticket::check(
        cfg,
        id,
        creds,
        &client,
        &MemTokenCache::default(),
        &facts(user),
        NOW,
    )
}

fn snow_cfg(url: &str) -> Ticket {
    ticket_cfg(&format!(
        "system = \"servicenow\"\nbase_url = \"{url}\"\nusername = \"{}\"\nsecret_file = \"/s\"\ntimeout = \"1s\"\n\
         [[ticket.condition]]\nfield = \"/result/0/approval\"\nop = \"eq\"\nvalue = \"approved\"\n\
         [[ticket.condition]]\nfield = \"/result/0/requested_by.user_name\"\nop = \"eq\"\nfrom = \"user\"\n\
         [[ticket.condition]]\nop = \"within\"\nstart = \"/result/0/start_date\"\nend = \"/result/0/end_date\"\ntime_format = \"servicenow\"\nskew = \"5m\"\n",
        servicenow::USER
    ))
}

fn snow_creds() -> Credentials {
    Credentials::Basic {
        username: servicenow::USER.into(),
        password: Secret::new(servicenow::PASSWORD.into()),
    }
}

fn snow() -> servicenow::ServiceNow {
    let sn = servicenow::ServiceNow::start();
    sn.add(
        "change_request",
        servicenow::change(
            "CHG0000001",
            "alice",
            "2026-11-22 09:00:00",
            "2026-11-22 11:00:00",
        ),
    );
    sn
}

#[test]
fn servicenow_accepts_an_approved_change_in_its_window_for_its_requester() {
    let sn = snow();
    let got = run(&snow_cfg(&sn.url()), &snow_creds(), "CHG0000001", "alice").unwrap();
    assert!(got.accepted(), "{:?}", got.results);
    assert_eq!(
        got.window_end,
        Some(NOW + 3600 + 40 * 60 + 1),
        "11:00:00 UTC"
    );
    let reqs = sn.server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].query("sysparm_query").unwrap(), "number=CHG0000001");
    assert!(
        reqs[0]
            .query("sysparm_fields")
            .unwrap()
            .contains("requested_by.user_name")
    );
}

#[test]
fn servicenow_rejections_name_the_failing_condition_or_check() {
    let sn = snow();
    let cfg = snow_cfg(&sn.url());
    let got = run(&cfg, &snow_creds(), "CHG0000001", "mallory").unwrap();
    assert!(!got.accepted());
    assert_eq!(
        (got.results[1].ok, got.results[1].seen.as_str()),
        (false, "\"alice\"")
    );
    assert_eq!(
        run(&cfg, &snow_creds(), "CHG0000002", "alice").unwrap_err(),
        TicketError::NotFound
    );
    let mut closed = servicenow::change(
        "CHG0000003",
        "alice",
        "2026-11-22 09:00:00",
        "2026-11-22 11:00:00",
    );
    closed["state"] = json!("3");
    sn.add("change_request", closed);
    assert!(matches!(
        run(&cfg, &snow_creds(), "CHG0000003", "alice"),
        Err(TicketError::Closed(_))
    ));
    let wrong = Credentials::Basic {
        username: servicenow::USER.into(),
        password: Secret::new("nope".into()),
    };
    assert!(
        matches!(run(&cfg, &wrong, "CHG0000001", "alice"), Err(TicketError::Denied(m)) if m.contains("401"))
    );
}

#[test]
fn hostile_servers_are_unreachable_or_denied_as_designed() {
    let sn = snow();
    let cfg = snow_cfg(&sn.url());
    let cases = [
        (Mode::Status(429), true),
        (Mode::Status(500), true),
        (Mode::Status(503), true),
        (Mode::Silent, true),
        (Mode::Slow(Duration::from_secs(3)), true),
        (Mode::Hangup, true),
        (Mode::Status(403), false),
        (Mode::Status(404), false),
        (Mode::Huge, false),
        (Mode::Malformed, false),
    ];
    for (mode, unreachable) in cases {
        sn.server.set_mode(mode);
        let r = run(&cfg, &snow_creds(), "CHG0000001", "alice");
        let got_unreachable = matches!(r, Err(TicketError::Unreachable(_)));
        assert_eq!(got_unreachable, unreachable, "{mode:?}: {r:?}");
        assert!(r.is_err(), "{mode:?} must never accept");
    }
    drop(sn);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = snow_cfg(&format!("http://127.0.0.1:{port}"));
    assert!(matches!(
        run(&refused, &snow_creds(), "CHG0000001", "alice"),
        Err(TicketError::Unreachable(_))
    ));
}

fn jira_cfg(system: &str, url: &str, version: u32, extra: &str) -> Ticket {
    ticket_cfg(&format!(
        "system = \"{system}\"\nbase_url = \"{url}\"\nusername = \"{}\"\nsecret_file = \"/s\"\napi_version = {version}\n\
         [[ticket.condition]]\nfield = \"/fields/assignee/emailAddress\"\nop = \"eq\"\nfrom = \"user_map\"\n\
         [[ticket.condition]]\nfield = \"/fields/labels\"\nop = \"contains\"\nfrom = \"host\"\n{extra}",
        jira::EMAIL
    ))
}

fn jira_creds() -> Credentials {
    Credentials::Basic {
        username: jira::EMAIL.into(),
        password: Secret::new(jira::API_TOKEN.into()),
    }
}

#[test]
fn jira_cloud_and_data_center_accept_and_reject() {
    let j = jira::Jira::start();
    j.add(jira::issue(
        "OPS-12",
        "In Progress",
        "indeterminate",
        "alice@example.com",
    ));
    j.add(jira::issue("OPS-13", "Done", "done", "alice@example.com"));
    j.add(jira::issue(
        "NEW-1",
        "In Progress",
        "indeterminate",
        "alice@example.com",
    ));
    j.moved("OPS-14", "NEW-1");
    let cloud = jira_cfg("jira", &j.url(), 3, "");
    let got = run(&cloud, &jira_creds(), "OPS-12", "alice").unwrap();
    assert!(got.accepted(), "{:?}", got.results);
    assert!(
        !run(&cloud, &jira_creds(), "OPS-12", "bob")
            .unwrap()
            .accepted()
    );
    assert!(matches!(
        run(&cloud, &jira_creds(), "OPS-13", "alice"),
        Err(TicketError::Closed(_))
    ));
    assert!(
        matches!(run(&cloud, &jira_creds(), "OPS-99", "alice"), Err(TicketError::Denied(m)) if m.contains("404"))
    );
    assert_eq!(
        run(&cloud, &jira_creds(), "OPS-14", "alice").unwrap_err(),
        TicketError::WrongRecord("NEW-1".into())
    );
    let dc = jira_cfg("jira", &j.url(), 2, "").clone();
    let pat = Credentials::Bearer(Secret::new(jira::PAT.into()));
    assert!(run(&dc, &pat, "OPS-12", "alice").unwrap().accepted());
    assert!(
        j.server
            .requests()
            .iter()
            .any(|r| r.path() == "/rest/api/2/issue/OPS-12")
    );
}

#[test]
fn jsm_needs_its_approvals() {
    let j = jira::Jira::start();
    j.add(jira::issue(
        "ITSM-7",
        "Waiting for approval",
        "indeterminate",
        "alice@example.com",
    ));
    let approvals = "[[ticket.condition]]\ndoc = \"approvals\"\nfield = \"/values\"\nop = \"all\"\nwhere = { field = \"/finalDecision\", op = \"eq\", value = \"approved\" }\n";
    let cfg = jira_cfg("jsm", &j.url(), 3, approvals);
    let none = run(&cfg, &jira_creds(), "ITSM-7", "alice").unwrap();
    assert!(!none.accepted(), "no approvals yet: {:?}", none.results);
    j.set_approvals(
        "ITSM-7",
        vec![jira::approval("approved"), jira::approval("pending")],
    );
    assert!(
        !run(&cfg, &jira_creds(), "ITSM-7", "alice")
            .unwrap()
            .accepted()
    );
    j.set_approvals("ITSM-7", vec![jira::approval("approved")]);
    let got = run(&cfg, &jira_creds(), "ITSM-7", "alice").unwrap();
    assert!(got.accepted(), "{:?}", got.results);
    let approval_req = j
        .server
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path().ends_with("/approval"))
        .unwrap();
    assert_eq!(approval_req.header("x-experimentalapi"), Some("opt-in"));
}

fn sdp_cfg(system: &str, url: &str, module: &str, conds: &str) -> Ticket {
    let auth = if system == "sdp-cloud" {
        format!(
            "token_url = \"{url}/oauth/v2/token\"\nclient_id = \"{}\"\nclient_secret_file = \"/c\"\nrefresh_token_file = \"/r\"\nportal = \"itdesk\"",
            sdp::CLIENT_ID
        )
    } else {
        "secret_file = \"/s\"".into()
    };
    ticket_cfg(&format!(
        "system = \"{system}\"\nbase_url = \"{url}\"\nmodule = \"{module}\"\n{auth}\n{conds}"
    ))
}

#[test]
fn sdp_on_premises_request_and_change() {
    let s = sdp::Sdp::start();
    s.add("request", sdp::request("42", "42", "Open", "alice", "Acme"));
    s.add(
        "request",
        sdp::request("43", "43", "Closed", "alice", "Acme"),
    );
    s.add(
        "change",
        sdp::change(
            "7",
            "Approved",
            "alice",
            (NOW - 600) * 1000,
            (NOW + 600) * 1000,
        ),
    );
    let key = Credentials::AuthToken(Secret::new(sdp::AUTHTOKEN.into()));
    let req = sdp_cfg(
        "sdp",
        &s.url(),
        "request",
        "[[ticket.condition]]\nfield = \"/request/requester/name\"\nop = \"eq\"\nfrom = \"user\"\n",
    );
    assert!(run(&req, &key, "42", "alice").unwrap().accepted());
    assert!(matches!(
        run(&req, &key, "43", "alice"),
        Err(TicketError::Closed(_))
    ));
    assert!(
        matches!(run(&req, &key, "44", "alice"), Err(TicketError::Vendor(m)) if m.contains("Invalid request id")),
        "SDP fails inside HTTP 200"
    );
    let wrong = Credentials::AuthToken(Secret::new("bad".into()));
    assert!(matches!(
        run(&req, &wrong, "42", "alice"),
        Err(TicketError::Denied(_))
    ));
    let chg = sdp_cfg(
        "sdp",
        &s.url(),
        "change",
        "[[ticket.condition]]\nop = \"within\"\nstart = \"/change/scheduled_start_time/value\"\nend = \"/change/scheduled_end_time/value\"\ntime_format = \"epoch_ms\"\n",
    );
    assert!(run(&chg, &key, "7", "alice").unwrap().accepted());
}

#[test]
fn sdp_msp_checks_the_account() {
    let s = sdp::Sdp::start();
    s.add("request", sdp::request("42", "42", "Open", "alice", "Acme"));
    s.add(
        "request",
        sdp::request("50", "50", "Open", "alice", "Globex"),
    );
    let key = Credentials::AuthToken(Secret::new(sdp::AUTHTOKEN.into()));
    let cfg = sdp_cfg(
        "sdp-msp",
        &s.url(),
        "request",
        "[[ticket.condition]]\nfield = \"/request/account/name\"\nop = \"eq\"\nvalue = \"Acme\"\n",
    );
    assert!(run(&cfg, &key, "42", "alice").unwrap().accepted());
    assert!(!run(&cfg, &key, "50", "alice").unwrap().accepted());
}

#[test]
fn sdp_cloud_resolves_the_display_id_with_an_oauth_token() {
    let s = sdp::Sdp::start();
    s.add(
        "request",
        sdp::request("123000000456789", "245", "Open", "alice", "Acme"),
    );
    let creds = Credentials::OAuthRefresh {
        client_id: sdp::CLIENT_ID.into(),
        client_secret: Secret::new(sdp::CLIENT_SECRET.into()),
        refresh_token: Secret::new(sdp::REFRESH_TOKEN.into()),
    };
    let cfg = sdp_cfg(
        "sdp-cloud",
        &s.url(),
        "request",
        "[[ticket.condition]]\nfield = \"/request/requester/name\"\nop = \"eq\"\nfrom = \"user\"\n",
    );
    assert!(run(&cfg, &creds, "245", "alice").unwrap().accepted());
    assert_eq!(
        run(&cfg, &creds, "246", "alice").unwrap_err(),
        TicketError::NotFound
    );
    let paths: Vec<String> = s.server.requests().iter().map(|r| r.path()).collect();
    assert!(
        paths.contains(&"/app/itdesk/api/v3/requests/123000000456789".to_string()),
        "{paths:?}"
    );
    let bad = Credentials::OAuthRefresh {
        client_id: sdp::CLIENT_ID.into(),
        client_secret: Secret::new(sdp::CLIENT_SECRET.into()),
        refresh_token: Secret::new("revoked".into()),
    };
    assert!(
        matches!(run(&cfg, &bad, "245", "alice"), Err(TicketError::Vendor(m)) if m.contains("invalid_code"))
    );
}

#[test]
fn http_system_substitutes_the_encoded_id() {
    let h = http::HttpTickets::start();
    h.add(http::ticket("T-1", "approved", "alice", "db01"));
    h.add(http::ticket("T-2", "closed", "alice", "db01"));
    let cfg = ticket_cfg(&format!(
        "system = \"http\"\nurl = \"{}/api/tickets/{{id}}\"\nsecret_file = \"/s\"\n\
         [[ticket.condition]]\nfield = \"/owner\"\nop = \"eq\"\nfrom = \"user\"\n\
         [[ticket.condition]]\nfield = \"/hosts\"\nop = \"contains\"\nfrom = \"host\"\n",
        h.url()
    ));
    let creds = Credentials::Bearer(Secret::new(http::TOKEN.into()));
    assert!(run(&cfg, &creds, "T-1", "alice").unwrap().accepted());
    assert!(matches!(
        run(&cfg, &creds, "T-2", "alice"),
        Err(TicketError::Closed(_))
    ));
    assert!(matches!(
        run(&cfg, &creds, "T-9", "alice"),
        Err(TicketError::Denied(_))
    ));
}

#[test]
fn tls_needs_a_trusted_certificate() {
    let body = json!({"id": "T-1", "status": "approved", "owner": "alice"}).to_string();
    let server = tls::TlsServer::start(&[("api/tickets/T-1", &body)]);
    let base = format!(
        "system = \"http\"\nurl = \"{}/api/tickets/{{id}}\"\nsecret_file = \"/s\"\n",
        server.url()
    );
    let creds = Credentials::Bearer(Secret::new("t".into()));
    let untrusted = ticket_cfg(&base);
    let r = run(&untrusted, &creds, "T-1", "alice");
    assert!(
        matches!(&r, Err(TicketError::Denied(m)) if m.contains("TLS")),
        "{r:?}"
    );
    let trusted = ticket_cfg(&format!(
        "{base}ca_file = \"{}\"\n",
        server.cert().display()
    ));
    let got = run(&trusted, &creds, "T-1", "alice");
    assert!(got.as_ref().is_ok_and(Checked::accepted), "{got:?}");
}
