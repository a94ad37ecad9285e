//! Every `conf/ticketgate-<system>.toml` example, pointed at its loopback emulator holding a ticket
//! the way that vendor returns it, accepts that ticket: the examples' conditions use the
//! vendors' real field names. (The config test checks that every example parses.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The emulators' tickets are dated around the real clock the module reads.
    clippy::disallowed_methods
)]

use std::path::{Path, PathBuf};

use pam_ticketgate::config::Config;
use pam_ticketgate::net::Client;
use pam_ticketgate::secret::Secret;
use pam_ticketgate::ticket::login::user_map;
use pam_ticketgate::ticket::token::MemTokenCache;
use pam_ticketgate::ticket::{self, Credentials, Facts};
use serde_json::json;
use ticketgate_tests::emulators::{http, jira, sdp, servicenow};

fn example(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../conf")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The example with `key = …` lines of `[ticket]` replaced.
fn pointed(text: &str, keys: &[(&str, String)]) -> Config {
    let out: Vec<String> = text
        .lines()
        .map(|line| {
            for (k, v) in keys {
                if line.split('=').next().map(str::trim) == Some(*k) {
                    return format!("{k} = \"{v}\"");
                }
            }
            line.to_string()
        })
        .collect();
    Config::parse(Path::new("/example.toml"), &out.join("\n")).unwrap()
}

fn accepts(config: &Config, creds: &Credentials, id: &str) {
    let cfg = config.ticket.as_ref().unwrap();
    let facts = Facts {
        user: "alice".into(),
        host: "db01".into(),
        host_fqdn: "db01.prod.example.com".into(),
        rhost: "192.0.2.7".into(),
        service: "sshd".into(),
        user_map: user_map(cfg, "alice"),
    };
    let client = Client::new(cfg.timeout, None).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let id = ticket::normalise_id(cfg, id).unwrap();
    let got = ticket::check(
        cfg,
        &id,
        creds,
        &client,
        &MemTokenCache::default(),
        &facts,
        now,
    );
    let got = got.unwrap_or_else(|e| panic!("{id}: {e}"));
    assert!(got.accepted(), "{id}: {:#?}", got.results);
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn sn_time(t: i64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%d %H:%M:%S"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn servicenow_example() {
    let sn = servicenow::ServiceNow::start();
    let t = now();
    sn.add(
        "change_request",
        servicenow::change("CHG0001234", "alice", &sn_time(t - 600), &sn_time(t + 600)),
    );
    let c = pointed(
        &example("ticketgate-servicenow.toml"),
        &[("base_url", sn.url())],
    );
    let creds = Credentials::Basic {
        username: servicenow::USER.into(),
        password: Secret::new(servicenow::PASSWORD.into()),
    };
    accepts(&c, &creds, "chg0001234");
}

#[test]
fn jira_and_jsm_examples() {
    let j = jira::Jira::start();
    j.add(jira::issue(
        "OPS-123",
        "In Progress",
        "indeterminate",
        "alice@acme.example",
    ));
    let mut req = jira::issue(
        "ITSM-42",
        "Waiting for support",
        "indeterminate",
        "x@acme.example",
    );
    req["fields"]["reporter"] = json!({"accountId": "1", "emailAddress": "alice@acme.example"});
    j.add(req);
    j.set_approvals("ITSM-42", vec![jira::approval("approved")]);
    let creds = Credentials::Basic {
        username: jira::EMAIL.into(),
        password: Secret::new(jira::API_TOKEN.into()),
    };
    accepts(
        &pointed(&example("ticketgate-jira.toml"), &[("base_url", j.url())]),
        &creds,
        "OPS-123",
    );
    accepts(
        &pointed(&example("ticketgate-jsm.toml"), &[("base_url", j.url())]),
        &creds,
        "ITSM-42",
    );
}

#[test]
fn servicedesk_plus_examples() {
    let s = sdp::Sdp::start();
    s.add(
        "request",
        sdp::request("4711", "4711", "Open", "alice", "Acme"),
    );
    let mut msp = sdp::request("4712", "4712", "In Progress", "alice", "Globex Corporation");
    msp["technician"]["name"] = json!("alice");
    s.add("request", msp);
    let t = now();
    s.add(
        "change",
        sdp::change(
            "118",
            "Approved",
            "Alice",
            (t - 600) * 1000,
            (t + 600) * 1000,
        ),
    );
    let mut cloud = sdp::request("123000000456789", "245", "Open", "alice", "Acme");
    cloud["requester"]["email_id"] = json!("alice@acme.example");
    s.add("request", cloud);
    let key = Credentials::AuthToken(Secret::new(sdp::AUTHTOKEN.into()));
    let base = [("base_url", s.url())];
    accepts(
        &pointed(&example("ticketgate-sdp-request.toml"), &base),
        &key,
        "4711",
    );
    accepts(
        &pointed(&example("ticketgate-sdp-change.toml"), &base),
        &key,
        "118",
    );
    accepts(
        &pointed(&example("ticketgate-sdp-msp.toml"), &base),
        &key,
        "4712",
    );
    let oauth = Credentials::OAuthRefresh {
        client_id: sdp::CLIENT_ID.into(),
        client_secret: Secret::new(sdp::CLIENT_SECRET.into()),
        refresh_token: Secret::new(sdp::REFRESH_TOKEN.into()),
    };
    let cloud_cfg = pointed(
        &example("ticketgate-sdp-cloud.toml"),
        &[
            ("base_url", s.url()),
            ("token_url", format!("{}/oauth/v2/token", s.url())),
            ("client_id", sdp::CLIENT_ID.into()),
        ],
    );
    accepts(&cloud_cfg, &oauth, "245");
}

#[test]
fn http_example() {
    let h = http::HttpTickets::start();
    let t = now();
    let mut ticket = http::ticket(
        "CR-2026-0042",
        "implementing",
        "carol",
        "db01.prod.example.com",
    );
    ticket["implementers"] = json!([{"login": "bob"}, {"login": "alice"}]);
    ticket["window"] = json!({"start": iso(t - 600), "end": iso(t + 600)});
    h.add(ticket);
    let c = pointed(
        &example("ticketgate-http.toml"),
        &[("url", format!("{}/api/tickets/{{id}}", h.url()))],
    );
    accepts(
        &c,
        &Credentials::Bearer(Secret::new(http::TOKEN.into())),
        "CR-2026-0042",
    );
}

fn iso(t: i64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
