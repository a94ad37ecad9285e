use std::cell::RefCell;

use serde_json::json;

use super::systems::tests::cfg;
use super::token::MemTokenCache;
use super::*;
use crate::net::Response;

/// One request as the fake saw it: URL and headers.
type Seen = (String, Vec<(String, String)>);

/// Answers scripted per path; records every request (URL and header names/values).
#[derive(Default)]
struct Fake {
    answers: Vec<(&'static str, Result<Value, NetError>)>,
    seen: RefCell<Vec<Seen>>,
}

impl Fake {
    fn answer(&self, url: &url::Url, headers: &[(&str, &str)]) -> Result<Response, NetError> {
        self.seen.borrow_mut().push((
            url.to_string(),
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
        let (_, a) = self
            .answers
            .iter()
            .find(|(p, _)| url.path().ends_with(p))
            .unwrap_or_else(|| panic!("unexpected request {url}"));
        a.clone().map(|v| Response {
            status: 200,
            body: v.to_string().into_bytes(),
        })
    }
}

impl Fetch for Fake {
    fn get(&self, url: &url::Url, headers: &[(&str, &str)]) -> Result<Response, NetError> {
        self.answer(url, headers)
    }
    fn post_form(
        &self,
        url: &url::Url,
        headers: &[(&str, &str)],
        _form: &[(&str, &str)],
    ) -> Result<Response, NetError> {
        self.answer(url, headers)
    }
}

fn facts() -> Facts {
    Facts {
        user: "alice".into(),
        ..Facts::default()
    }
}

#[test]
fn ids_are_trimmed_upper_cased_and_checked_before_any_request() {
    let c = cfg(
        "system = \"servicenow\"\nbase_url = \"https://x.service-now.com\"\nusername = \"u\"\nsecret_file = \"/s\"\n",
    );
    assert_eq!(normalise_id(&c, "  chg0000001 \n"), Ok("CHG0000001".into()));
    for hostile in [
        "CHG0000001^ORnumberISNOTEMPTY",
        "../CHG0000001",
        "CHG%2F0000001",
        "CHG0000001'",
        "CHG0000001\"",
        "CHG000\n0001",
        "",
    ] {
        assert!(
            matches!(normalise_id(&c, hostile), Err(TicketError::InvalidId(_))),
            "{hostile:?}"
        );
    }
    assert_eq!(
        normalise_id(&c, &format!("CHG{}", "0".repeat(70))),
        Err(TicketError::InvalidId(IdProblem::TooLong))
    );
    let sdp =
        cfg("system = \"sdp\"\nbase_url = \"https://sdp.example.com\"\nsecret_file = \"/s\"\n");
    assert_eq!(normalise_id(&sdp, " 42 "), Ok("42".into()));
    assert!(normalise_id(&sdp, "4 2").is_err());
}

/// Issue 7 (fuzzing, ticket_id): with a loose `id_pattern` (`^.+$`), an ID holding a tab
/// reached the URL without it (the URL parser drops tabs and newlines), and `.` / `..` were
/// resolved as dot segments, so the module asked for another resource than the ID typed.
#[test]
fn control_characters_and_dot_segments_are_refused_whatever_the_pattern_issue_7() {
    let loose = cfg(
        "system = \"jira\"\nbase_url = \"https://x.atlassian.net\"\nusername = \"u\"\nsecret_file = \"/s\"\nid_pattern = '^.+$'\n",
    );
    for bad in ["1\t2", ".", "..", " .. ", "A\u{7f}B", "A\u{85}B"] {
        let got = normalise_id(&loose, bad);
        assert_eq!(
            got,
            Err(TicketError::InvalidId(IdProblem::Unsafe)),
            "{bad:?}"
        );
        assert_eq!(got.unwrap_err().reason(), "id_pattern");
    }
    assert_eq!(normalise_id(&loose, "a.b c"), Ok("A.B C".into()));
    assert_eq!(normalise_id(&loose, "..."), Ok("...".into()));
}

#[test]
fn basic_auth_is_base64_of_user_and_password() {
    assert_eq!(base64(b"svc:pa55"), "c3ZjOnBhNTU=");
    assert_eq!(base64(b"ab"), "YWI=");
    assert_eq!(base64(b"abc"), "YWJj");
    assert_eq!(base64(b""), "");
}

#[test]
fn servicenow_accepts_and_reports_each_condition() {
    let c = cfg(
        "system = \"servicenow\"\nbase_url = \"https://x.service-now.com\"\nusername = \"svc\"\nsecret_file = \"/s\"\n\
                 [[ticket.condition]]\nfield = \"/result/0/approval\"\nop = \"eq\"\nvalue = \"approved\"\n\
                 [[ticket.condition]]\nfield = \"/result/0/requested_by.user_name\"\nop = \"eq\"\nfrom = \"user\"\n",
    );
    let fake = Fake {
        answers: vec![(
            "/change_request",
            Ok(
                json!({"result": [{"number": "CHG0000001", "state": "-1", "active": "true", "approval": "approved", "requested_by.user_name": "bob"}]}),
            ),
        )],
        ..Fake::default()
    };
    let creds = Credentials::Basic {
        username: "svc".into(),
        password: Secret::new("pw".into()),
    };
    let got = check(
        &c,
        "CHG0000001",
        &creds,
        &fake,
        &MemTokenCache::default(),
        &facts(),
        0,
    )
    .unwrap();
    assert!(!got.accepted());
    assert!(got.results[0].ok);
    assert_eq!(
        (got.results[1].ok, got.results[1].seen.as_str()),
        (false, "\"bob\"")
    );
    let seen = fake.seen.borrow();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0]
            .1
            .contains(&("Authorization".into(), "Basic c3ZjOnB3".into()))
    );
}

#[test]
fn jsm_fetches_approvals_as_a_second_document() {
    let c = cfg(
        "system = \"jsm\"\nbase_url = \"https://x.atlassian.net\"\nauth = \"bearer\"\nsecret_file = \"/s\"\n\
                 [[ticket.condition]]\ndoc = \"approvals\"\nfield = \"/values\"\nop = \"any\"\nwhere = { field = \"/finalDecision\", op = \"eq\", value = \"approved\" }\n",
    );
    let fake = Fake {
        answers: vec![
            (
                "/issue/ITSM-7",
                Ok(
                    json!({"key": "ITSM-7", "fields": {"status": {"statusCategory": {"key": "indeterminate"}}}}),
                ),
            ),
            (
                "/request/ITSM-7/approval",
                Ok(json!({"size": 1, "values": [{"id": "1", "finalDecision": "approved"}]})),
            ),
        ],
        ..Fake::default()
    };
    let got = check(
        &c,
        "ITSM-7",
        &Credentials::Bearer(Secret::new("pat".into())),
        &fake,
        &MemTokenCache::default(),
        &facts(),
        0,
    )
    .unwrap();
    assert!(got.accepted(), "{:?}", got.results);
    let seen = fake.seen.borrow();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[1]
            .1
            .contains(&("X-ExperimentalApi".into(), "opt-in".into()))
    );
    assert!(
        seen[0]
            .1
            .contains(&("Authorization".into(), "Bearer pat".into()))
    );
}

#[test]
fn sdp_cloud_refreshes_the_token_once_then_reuses_it() {
    let c = cfg(
        "system = \"sdp-cloud\"\nbase_url = \"https://sdpondemand.manageengine.com\"\ntoken_url = \"https://accounts.zoho.com/oauth/v2/token\"\nclient_id = \"1000.X\"\nclient_secret_file = \"/c\"\nrefresh_token_file = \"/r\"\n",
    );
    let fake = Fake {
        answers: vec![
            (
                "/oauth/v2/token",
                Ok(json!({"access_token": "1000.tok", "expires_in": 3600})),
            ),
            (
                "/api/v3/requests",
                Ok(
                    json!({"requests": [{"id": "900", "display_id": "245"}], "response_status": [{"status_code": 2000}]}),
                ),
            ),
            (
                "/api/v3/requests/900",
                Ok(
                    json!({"request": {"id": "900", "display_id": "245", "status": {"name": "Open"}}, "response_status": {"status_code": 2000}}),
                ),
            ),
        ],
        ..Fake::default()
    };
    let creds = Credentials::OAuthRefresh {
        client_id: "1000.X".into(),
        client_secret: Secret::new("cs".into()),
        refresh_token: Secret::new("rt".into()),
    };
    let tokens = MemTokenCache::default();
    check(&c, "245", &creds, &fake, &tokens, &facts(), 100).unwrap();
    check(&c, "245", &creds, &fake, &tokens, &facts(), 200).unwrap();
    let seen = fake.seen.borrow();
    let token_calls = seen.iter().filter(|(u, _)| u.contains("/oauth/")).count();
    assert_eq!(token_calls, 1);
    assert_eq!(seen.len(), 5);
    assert!(
        seen[1]
            .1
            .contains(&("Authorization".into(), "Zoho-oauthtoken 1000.tok".into()))
    );
    assert!(
        seen[1]
            .1
            .contains(&("Accept".into(), systems::sdp::ACCEPT.into()))
    );
}

#[test]
fn transport_errors_keep_their_kind() {
    let c = cfg("system = \"http\"\nurl = \"http://127.0.0.1:9/t/{id}\"\nsecret_file = \"/s\"\n");
    let creds = Credentials::Bearer(Secret::new("t".into()));
    for (e, unreachable) in [
        (NetError::Unreachable("HTTP 503".into()), true),
        (NetError::Denied("HTTP 401".into()), false),
    ] {
        let fake = Fake {
            answers: vec![("/t/T1", Err(e))],
            ..Fake::default()
        };
        let r = check(
            &c,
            "T1",
            &creds,
            &fake,
            &MemTokenCache::default(),
            &facts(),
            0,
        );
        assert_eq!(matches!(r, Err(TicketError::Unreachable(_))), unreachable);
    }
}
