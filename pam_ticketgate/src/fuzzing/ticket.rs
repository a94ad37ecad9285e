//! `ticket_response` and `ticket_id`: each ticket system's answers and the typed ID, with the
//! `conf/` examples as configurations.
//!
//! `ticket_response` input: a variant line (`servicenow`, `jsm any-id`, …), the ID typed, then
//! the bodies the system answers with, in request order, separated by `---` lines (SDP Cloud:
//! token, search, record; JSM: issue, approvals). When `fetch_docs` says yes, the built-in
//! checks are verified again here, independently: one record, its own number is the ID, the
//! envelope says success, not closed. Every request goes to the configured server, SDP Cloud's
//! internal id reaches the URL only as digits, and only a transport failure is "unreachable"
//! (a body never turns a refusal into the offline fallback).
//!
//! `ticket_id` input: a variant line, then the ID typed. An accepted ID is trimmed, at most 64
//! characters, matches `id_pattern`, and reaches every URL as exactly itself (one segment, or
//! the ServiceNow query's value), never as path or query syntax.

use std::cell::RefCell;
use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;

use super::{NOWS, first_line, parts};
use crate::config::{Config, Ticket};
use crate::net::{NetError, Response};
use crate::secret::Secret;
use crate::ticket::token::MemTokenCache;
use crate::ticket::{
    Credentials, Docs, Facts, Fetch, MAX_ID_LEN, TicketError, eval, fetch_docs, normalise_id,
    systems,
};

const CONFS: &[(&str, &str)] = &[
    (
        "servicenow",
        include_str!("../../../conf/ticketgate-servicenow.toml"),
    ),
    ("jira", include_str!("../../../conf/ticketgate-jira.toml")),
    ("jsm", include_str!("../../../conf/ticketgate-jsm.toml")),
    (
        "sdp-request",
        include_str!("../../../conf/ticketgate-sdp-request.toml"),
    ),
    (
        "sdp-change",
        include_str!("../../../conf/ticketgate-sdp-change.toml"),
    ),
    (
        "sdp-msp",
        include_str!("../../../conf/ticketgate-sdp-msp.toml"),
    ),
    (
        "sdp-cloud",
        include_str!("../../../conf/ticketgate-sdp-cloud.toml"),
    ),
    ("http", include_str!("../../../conf/ticketgate-http.toml")),
];

/// `<conf>` as shipped, `<conf> incident` / `<conf> sc_req_item` (ServiceNow tables), and
/// `<conf> any-id` with `id_pattern = '^.+$'` (what an administrator may loosen it to).
fn variants() -> &'static [(String, Ticket)] {
    static ALL: OnceLock<Vec<(String, Ticket)>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut out = Vec::new();
        for (name, text) in CONFS {
            let mut texts = vec![(name.to_string(), text.to_string())];
            if *name == "servicenow" {
                for table in ["incident", "sc_req_item"] {
                    let t = text.replace("\"change_request\"", &format!("\"{table}\""));
                    texts.push((format!("{name} {table}"), t));
                }
            }
            let loose: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("id_pattern"))
                .map(|l| {
                    if l.trim() == "[ticket]" {
                        "[ticket]\nid_pattern = '^.+$'\n".to_string()
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect();
            texts.push((format!("{name} any-id"), loose));
            for (n, t) in texts {
                let parsed = Config::parse(Path::new("/fuzz.toml"), &t);
                assert!(parsed.is_ok(), "{n}: {parsed:?}");
                if let Some(ticket) = parsed.ok().and_then(|c| c.ticket) {
                    out.push((n, ticket));
                }
            }
        }
        out
    })
}

fn variant(name: &str) -> Option<&'static Ticket> {
    variants().iter().find(|(n, _)| n == name).map(|(_, t)| t)
}

/// The answers in order; records what was asked.
struct Fake<'a> {
    bodies: RefCell<std::vec::IntoIter<&'a [u8]>>,
    asked: RefCell<Vec<url::Url>>,
    ran_out: RefCell<bool>,
}

impl Fake<'_> {
    fn answer(&self, url: &url::Url) -> Result<Response, NetError> {
        self.asked.borrow_mut().push(url.clone());
        match self.bodies.borrow_mut().next() {
            Some(body) => Ok(Response {
                status: 200,
                body: body.to_vec(),
            }),
            None => {
                *self.ran_out.borrow_mut() = true;
                Err(NetError::Unreachable("no answer".into()))
            }
        }
    }
}

impl Fetch for Fake<'_> {
    fn get(&self, url: &url::Url, _headers: &[(&str, &str)]) -> Result<Response, NetError> {
        self.answer(url)
    }
    fn post_form(
        &self,
        url: &url::Url,
        _headers: &[(&str, &str)],
        _form: &[(&str, &str)],
    ) -> Result<Response, NetError> {
        self.answer(url)
    }
}

fn credentials(cfg: &Ticket) -> Credentials {
    let s = |v: &str| Secret::new(v.to_string());
    match cfg.system.name() {
        "sdp-cloud" => Credentials::OAuthRefresh {
            client_id: "1000.CLIENT".into(),
            client_secret: s("secret"),
            refresh_token: s("1000.refresh"),
        },
        "sdp" | "sdp-msp" => Credentials::AuthToken(s("TOKEN")),
        "http" => Credentials::Bearer(s("TOKEN")),
        _ => Credentials::Basic {
            username: "svc".into(),
            password: s("pw"),
        },
    }
}

pub fn ticket_response(data: &[u8]) -> bool {
    let (name, rest) = first_line(data);
    let Some(cfg) = variant(name) else {
        return false;
    };
    let (typed, bodies) = first_line(rest);
    let Ok(id) = normalise_id(cfg, typed) else {
        return false;
    };
    let fake = Fake {
        bodies: RefCell::new(parts(bodies).into_iter()),
        asked: RefCell::new(Vec::new()),
        ran_out: RefCell::new(false),
    };
    let tokens = MemTokenCache::default();
    let got = fetch_docs(cfg, &id, &credentials(cfg), &fake, &tokens, NOWS[0]);
    let asked = fake.asked.borrow();
    assert!(asked.len() <= 3, "{} requests", asked.len());
    for url in asked.iter() {
        assert!(
            origins(cfg).contains(&url.origin()),
            "request to {url}, not to the configured server"
        );
    }
    match got {
        Err(TicketError::Unreachable(m)) => {
            assert!(
                *fake.ran_out.borrow(),
                "an answer made the system look unreachable: {m}"
            );
            false
        }
        Err(_) => false,
        Ok(docs) => {
            built_in_checks_hold(cfg, &id, &docs, &asked);
            let facts = Facts {
                user: "alice".into(),
                host: "db01".into(),
                host_fqdn: "db01.example.com".into(),
                rhost: "192.0.2.1".into(),
                service: "sshd".into(),
                user_map: Some("alice@example.com".into()),
            };
            for now in NOWS {
                let results = eval::evaluate_all(&cfg.conditions, &docs, &facts, now);
                assert_eq!(results.len(), cfg.conditions.len());
            }
            let _ = eval::window_end(&cfg.conditions, &docs);
            true
        }
    }
}

fn origins(cfg: &Ticket) -> Vec<url::Origin> {
    let template = cfg
        .url
        .as_deref()
        .and_then(|u| url::Url::parse(&u.replace("{id}", "X")).ok());
    [cfg.base_url.clone(), cfg.token_url.clone(), template]
        .into_iter()
        .flatten()
        .map(|u| u.origin())
        .collect()
}

/// A scalar as the vendors send it: text, a number, or SDP Cloud's `{display_value, value}`.
fn scalar(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(o) => scalar(o.get("display_value")).or_else(|| scalar(o.get("value"))),
        _ => None,
    }
}

fn closed_name(name: &str, extra: &[&str]) -> bool {
    let n = name.to_ascii_lowercase();
    ["closed", "cancelled", "canceled", "resolved"]
        .iter()
        .chain(extra)
        .any(|c| *c == n)
}

fn sdp_envelope_ok(doc: &Value) -> bool {
    let status = match doc.get("response_status") {
        Some(Value::Array(list)) => list.first(),
        other => other,
    };
    scalar(status.and_then(|s| s.get("status_code"))).as_deref() == Some("2000")
}

fn built_in_checks_hold(cfg: &Ticket, id: &str, docs: &Docs, asked: &[url::Url]) {
    let main = &docs.main;
    match cfg.system.name() {
        "servicenow" => {
            assert!(main.get("error").is_none(), "accepted an error envelope");
            let records = main.get("result").and_then(Value::as_array);
            assert_eq!(records.map(Vec::len), Some(1), "not exactly one record");
            let record = records.and_then(|r| r.first());
            assert_eq!(
                scalar(record.and_then(|r| r.get("number"))).as_deref(),
                Some(id)
            );
            let state = scalar(record.and_then(|r| r.get("state")));
            let closed: &[&str] = match cfg.table.as_str() {
                "incident" => &["6", "7", "8"],
                "sc_req_item" => &["3", "4", "7"],
                _ => &["3", "4"],
            };
            assert!(
                state.is_some_and(|s| !closed.contains(&s.as_str())),
                "closed"
            );
            let active = scalar(record.and_then(|r| r.get("active")));
            assert_ne!(active.as_deref(), Some("false"));
        }
        "jira" | "jsm" => {
            assert_eq!(scalar(main.get("key")).as_deref(), Some(id));
            let category = main
                .pointer("/fields/status/statusCategory/key")
                .and_then(Value::as_str);
            assert!(category.is_some_and(|c| c != "done"), "done or no category");
            if cfg.system.name() == "jsm" {
                let values = docs.approvals.as_ref().and_then(|a| a.get("values"));
                assert!(values.is_some_and(Value::is_array), "no approvals list");
            } else {
                assert!(docs.approvals.is_none());
            }
        }
        "sdp" | "sdp-msp" | "sdp-cloud" => {
            assert!(sdp_envelope_ok(main), "envelope is not 2000");
            let (_, one) = systems::sdp::names(cfg);
            let record = main.get(one).filter(|r| r.is_object());
            assert!(record.is_some(), "no {one} record");
            let own = scalar(record.and_then(|r| r.get("id")));
            if cfg.system.name() == "sdp-cloud" {
                let display = scalar(record.and_then(|r| r.get("display_id")));
                assert_eq!(display.as_deref(), Some(id));
                let internal = own.unwrap_or_default();
                assert!(!internal.is_empty() && internal.bytes().all(|b| b.is_ascii_digit()));
                let last = asked.last().and_then(|u| u.path_segments()?.next_back());
                assert_eq!(
                    last,
                    Some(internal.as_str()),
                    "record fetched by another id"
                );
            } else {
                assert_eq!(own.as_deref(), Some(id));
            }
            let status = scalar(record.and_then(|r| r.pointer("/status/name")));
            assert!(status.is_some_and(|s| !closed_name(&s, &[])), "closed");
        }
        "http" => {
            let obj = main.as_object();
            assert!(obj.is_some(), "not an object");
            let own = ["id", "number", "key"]
                .iter()
                .find_map(|k| scalar(obj.and_then(|o| o.get(*k))));
            assert_eq!(own.as_deref(), Some(id));
            for k in ["status", "state"] {
                let v = obj.and_then(|o| o.get(k));
                let name = scalar(v).or_else(|| scalar(v.and_then(|v| v.get("name"))));
                assert!(
                    name.is_none_or(|n| !closed_name(&n, &["done"])),
                    "closed: {k}"
                );
            }
        }
        other => unreachable!("no oracle for system {other}"),
    }
}

/// Percent-decodes a path segment (no `+` rule: that is only for forms).
fn unescape(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn segments(url: &url::Url) -> Vec<String> {
    url.path_segments()
        .map(|s| {
            s.map(|x| unescape(x).unwrap_or_else(|| format!("<bad {x}>")))
                .collect()
        })
        .unwrap_or_default()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

pub fn ticket_id(data: &[u8]) -> bool {
    let (name, rest) = first_line(data);
    let Some(cfg) = variant(name) else {
        return false;
    };
    let Ok(typed) = std::str::from_utf8(rest) else {
        return false;
    };
    let id = match normalise_id(cfg, typed) {
        Ok(id) => id,
        Err(e) => {
            assert!(matches!(e, TicketError::InvalidId(_)), "{e:?}");
            return false;
        }
    };
    assert!(cfg.id_pattern.is_match(&id));
    assert!(!id.is_empty() && id == id.trim() && id.chars().count() <= MAX_ID_LEN);
    let origin_ok = |u: &url::Url| origins(cfg).contains(&u.origin());
    match cfg.system.name() {
        "servicenow" => {
            assert_eq!(id, id.to_ascii_uppercase());
            let Ok(url) = systems::servicenow::url(cfg, &id) else {
                return false;
            };
            assert!(origin_ok(&url));
            assert_eq!(url.path(), format!("/api/now/table/{}", cfg.table));
            let queries: Vec<String> = url
                .query_pairs()
                .filter(|(k, _)| k == "sysparm_query")
                .map(|(_, v)| v.into_owned())
                .collect();
            assert_eq!(queries, vec![format!("number={id}")]);
            assert_eq!(url.query_pairs().count(), 5, "{url}");
        }
        "jira" | "jsm" => {
            assert_eq!(id, id.to_ascii_uppercase());
            let version = cfg.api_version.to_string();
            if let Ok(url) = systems::jira::url(cfg, &id) {
                assert!(origin_ok(&url));
                let want = ["rest", "api", version.as_str(), "issue", id.as_str()];
                assert_eq!(strs(&segments(&url)), want, "{url}");
                assert_eq!(url.query_pairs().count(), 1, "{url}");
            }
            if let Ok(url) = systems::jira::approvals_url(cfg, &id) {
                assert!(origin_ok(&url));
                let want = ["rest", "servicedeskapi", "request", id.as_str(), "approval"];
                assert_eq!(strs(&segments(&url)), want, "{url}");
                assert!(url.query().is_none());
            }
        }
        "sdp" | "sdp-msp" | "sdp-cloud" => {
            let (list, _) = systems::sdp::names(cfg);
            if cfg.system.name() == "sdp-cloud" {
                let Ok(url) = systems::sdp::cloud_search_url(cfg, &id) else {
                    return false;
                };
                assert!(origin_ok(&url));
                let input: Vec<Value> = url
                    .query_pairs()
                    .filter(|(k, _)| k == "input_data")
                    .filter_map(|(_, v)| serde_json::from_str(&v).ok())
                    .collect();
                assert_eq!(input.len(), 1, "{url}");
                let value = input
                    .first()
                    .and_then(|i| i.pointer("/list_info/search_criteria/0/value"));
                assert_eq!(value.and_then(Value::as_str), Some(id.as_str()));
            } else if let Ok(url) = systems::sdp::url(cfg, &id) {
                assert!(origin_ok(&url));
                assert_eq!(
                    strs(&segments(&url)),
                    ["api", "v3", list, id.as_str()],
                    "{url}"
                );
                assert!(url.query().is_none());
            }
        }
        "http" => {
            let Ok(url) = systems::http::url(cfg, &id) else {
                return false;
            };
            assert!(origin_ok(&url), "{url}");
            let template = cfg.url.as_deref().unwrap_or_default();
            let probe = url::Url::parse(&template.replace("{id}", "X"));
            let want: Vec<String> = probe
                .map(|p| segments(&p))
                .unwrap_or_default()
                .into_iter()
                .map(|s| if s == "X" { id.clone() } else { s })
                .collect();
            assert_eq!(segments(&url), want, "{url}");
            assert!(url.query().is_none() && url.fragment().is_none(), "{url}");
        }
        other => unreachable!("no oracle for system {other}"),
    }
    true
}
