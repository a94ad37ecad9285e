use std::path::Path;

use serde_json::json;

use super::*;
use crate::config::Config;

/// The conditions of a config whose `[ticket]` is an http system with `conds` appended.
fn conds(system: &str, conds: &str) -> Vec<Condition> {
    let text = format!(
        "version = 1\n[ticket]\nsystem = \"{system}\"\nbase_url = \"http://127.0.0.1:1\"\nurl = \"http://127.0.0.1:1/t/{{id}}\"\nauth = \"bearer\"\nsecret_file = \"/etc/x.secret\"\n{conds}"
    );
    Config::parse(Path::new("/t.toml"), &text)
        .unwrap()
        .ticket
        .unwrap()
        .conditions
}

fn one(cond: &str, doc: serde_json::Value) -> CondResult {
    let c = conds("http", &format!("[[ticket.condition]]\n{cond}\n"));
    let docs = Docs {
        main: doc,
        approvals: None,
    };
    evaluate_all(&c, &docs, &facts(), NOW).remove(0)
}

const NOW: i64 = 1_795_339_199; // 2026-11-22 09:19:59 UTC

fn facts() -> Facts {
    Facts {
        user: "alice".into(),
        host: "db01".into(),
        host_fqdn: "db01.prod.example.com".into(),
        rhost: String::new(),
        service: "sshd".into(),
        user_map: Some("alice@example.com".into()),
    }
}

#[test]
fn eq_compares_numbers_and_text_alike_and_ci_ignores_case() {
    let r = one(
        "field = \"/state\"\nop = \"eq\"\nvalue = -1",
        json!({"state": "-1"}),
    );
    assert!(r.ok, "{r:?}");
    assert_eq!(r.seen, "\"-1\"");
    assert!(
        !one(
            "field = \"/a\"\nop = \"eq\"\nvalue = \"Approved\"",
            json!({"a": "approved"})
        )
        .ok
    );
    assert!(
        one(
            "field = \"/a\"\nop = \"eq\"\nvalue = \"Approved\"\nci = true",
            json!({"a": "approved"})
        )
        .ok
    );
}

#[test]
fn a_missing_or_null_field_fails_every_op_but_absent() {
    for op in [
        "op = \"eq\"\nvalue = 1",
        "op = \"ne\"\nvalue = 1",
        "op = \"not_in\"\nvalues = [1]",
        "op = \"exists\"",
        "op = \"matches\"\nvalue = \".*\"",
    ] {
        let r = one(&format!("field = \"/gone\"\n{op}"), json!({"x": 1}));
        assert!(!r.ok, "{op}");
        assert_eq!(r.seen, "(missing)");
        assert!(
            !one(&format!("field = \"/n\"\n{op}"), json!({"n": null})).ok,
            "{op} on null"
        );
    }
    assert!(one("field = \"/gone\"\nop = \"absent\"", json!({})).ok);
    assert!(!one("field = \"/x\"\nop = \"absent\"", json!({"x": ""})).ok);
}

#[test]
fn in_not_in_matches_contains() {
    let doc = json!({"s": "Scheduled", "tags": ["prod", "db"], "d": "Patch the db01 kernel"});
    assert!(
        one(
            "field = \"/s\"\nop = \"in\"\nvalues = [\"Implement\", \"Scheduled\"]",
            doc.clone()
        )
        .ok
    );
    assert!(
        !one(
            "field = \"/s\"\nop = \"not_in\"\nvalues = [\"Scheduled\"]",
            doc.clone()
        )
        .ok
    );
    assert!(
        one(
            "field = \"/s\"\nop = \"not_in\"\nvalues = [\"Closed\"]",
            doc.clone()
        )
        .ok
    );
    assert!(
        one(
            "field = \"/s\"\nop = \"matches\"\nvalue = \"^Sched\"",
            doc.clone()
        )
        .ok
    );
    assert!(
        one(
            "field = \"/s\"\nop = \"matches\"\nvalue = \"^sched\"\nci = true",
            doc.clone()
        )
        .ok
    );
    assert!(
        one(
            "field = \"/tags\"\nop = \"contains\"\nvalue = \"db\"",
            doc.clone()
        )
        .ok
    );
    assert!(
        !one(
            "field = \"/tags\"\nop = \"contains\"\nvalue = \"web\"",
            doc.clone()
        )
        .ok
    );
    assert!(
        one(
            "field = \"/d\"\nop = \"contains\"\nvalue = \"DB01\"\nci = true",
            doc.clone()
        )
        .ok
    );
    assert!(!one("field = \"/d\"\nop = \"contains\"\nvalue = \"DB01\"", doc).ok);
}

/// Issue 13: `matches` is regex-lite: the usual syntax, literal non-ASCII text, but ASCII-only
/// classes and case folding (README, "Conditions").
#[test]
fn matches_is_regex_syntax_with_ascii_classes_and_case_folding() {
    let doc = json!({"s": "Scheduled", "n": "CHG0012345", "who": "JÜRGEN", "d": "\u{663}"});
    let holds = |cond: &str| one(cond, doc.clone()).ok;
    assert!(holds(
        "field = \"/s\"\nop = \"matches\"\nvalue = \"^(Sched|Impl)[a-z]+$\""
    ));
    assert!(holds(
        "field = \"/n\"\nop = \"matches\"\nvalue = \"^CHG\\\\d{7,}$\""
    ));
    assert!(holds(
        "field = \"/who\"\nop = \"matches\"\nvalue = \"^J.RGEN$\""
    ));
    assert!(holds(
        "field = \"/who\"\nop = \"matches\"\nvalue = \"^JÜRGEN$\""
    ));
    assert!(holds(
        "field = \"/s\"\nop = \"matches\"\nvalue = \"^SCHED\"\nci = true"
    ));
    assert!(!holds(
        "field = \"/who\"\nop = \"matches\"\nvalue = \"^jürgen$\"\nci = true"
    ));
    assert!(!holds(
        "field = \"/d\"\nop = \"matches\"\nvalue = \"^\\\\d$\""
    ));
}

#[test]
fn from_compares_with_the_login_and_an_empty_fact_never_matches() {
    let doc =
        json!({"u": "alice", "h": "DB01.prod.example.com", "r": "", "m": "alice@example.com"});
    assert!(one("field = \"/u\"\nop = \"eq\"\nfrom = \"user\"", doc.clone()).ok);
    assert!(
        one(
            "field = \"/m\"\nop = \"eq\"\nfrom = \"user_map\"",
            doc.clone()
        )
        .ok
    );
    assert!(
        one(
            "field = \"/h\"\nop = \"eq\"\nfrom = \"host_fqdn\"\nci = true",
            doc.clone()
        )
        .ok
    );
    let r = one("field = \"/r\"\nop = \"eq\"\nfrom = \"rhost\"", doc);
    assert!(
        !r.ok,
        "an empty ticket field must not match a login without rhost"
    );
    assert!(r.seen.contains("login has no from=rhost"), "{r:?}");
}

#[test]
fn within_honours_skew_and_reports_why() {
    let c = "op = \"within\"\nstart = \"/s\"\nend = \"/e\"\ntime_format = \"servicenow\"\nskew = \"5m\"";
    let open = json!({"s": "2026-11-22 09:00:00", "e": "2026-11-22 10:00:00"});
    assert!(one(c, open).ok);
    let early = json!({"s": "2026-11-22 09:24:00", "e": "2026-11-22 10:00:00"});
    assert!(one(c, early).ok, "starts in 4m01s: inside the 5m skew");
    let late = json!({"s": "2026-11-22 09:30:00", "e": "2026-11-22 10:00:00"});
    let r = one(c, late);
    assert!(!r.ok);
    assert!(r.seen.ends_with("(not started)"), "{r:?}");
    let ended = json!({"s": "2026-11-22 07:00:00", "e": "2026-11-22 09:00:00"});
    assert!(one(c, ended).seen.ends_with("(ended)"));
    let bad = json!({"s": "tomorrow", "e": "2026-11-22 10:00:00"});
    assert!(one(c, bad).seen.ends_with("(not a valid time)"));
    assert!(!one(c, json!({"s": "2026-11-22 09:00:00"})).ok);
}

#[test]
fn all_any_none_over_lists_and_all_needs_at_least_one() {
    let w = "where = { field = \"/finalDecision\", op = \"eq\", value = \"approved\" }";
    let doc = json!({"values": [{"finalDecision": "approved"}, {"finalDecision": "pending"}]});
    assert!(
        !one(
            &format!("field = \"/values\"\nop = \"all\"\n{w}"),
            doc.clone()
        )
        .ok
    );
    assert!(
        one(
            &format!("field = \"/values\"\nop = \"any\"\n{w}"),
            doc.clone()
        )
        .ok
    );
    assert!(!one(&format!("field = \"/values\"\nop = \"none\"\n{w}"), doc).ok);
    let empty = json!({"values": []});
    assert!(
        !one(
            &format!("field = \"/values\"\nop = \"all\"\n{w}"),
            empty.clone()
        )
        .ok
    );
    assert!(one(&format!("field = \"/values\"\nop = \"none\"\n{w}"), empty).ok);
    let r = one(
        &format!("field = \"/values\"\nop = \"all\"\n{w}"),
        json!({"values": "x"}),
    );
    assert!(!r.ok && r.seen.contains("not a list"), "{r:?}");
}

#[test]
fn approvals_document_is_separate_and_its_absence_fails() {
    let c = conds(
        "jsm",
        "[[ticket.condition]]\ndoc = \"approvals\"\nfield = \"/values/0/finalDecision\"\nop = \"eq\"\nvalue = \"approved\"\n",
    );
    let mut docs = Docs {
        main: json!({}),
        approvals: None,
    };
    assert!(!evaluate_all(&c, &docs, &facts(), NOW)[0].ok);
    docs.approvals = Some(json!({"values": [{"finalDecision": "approved"}]}));
    let r = &evaluate_all(&c, &docs, &facts(), NOW)[0];
    assert!(r.ok);
    assert_eq!(r.label, "approvals:/values/0/finalDecision eq \"approved\"");
}

#[test]
fn seen_values_are_short_and_single_line() {
    let long = "x".repeat(500);
    let r = one(
        "field = \"/a\"\nop = \"exists\"",
        json!({"a": format!("line1\n{long}")}),
    );
    assert!(!r.seen.contains('\n'));
    assert!(r.seen.chars().count() <= SEEN_MAX + 1);
}

#[test]
fn window_end_is_the_earliest_within_end() {
    let c = conds(
        "http",
        "[[ticket.condition]]\nop = \"within\"\nstart = \"/s\"\nend = \"/e\"\ntime_format = \"epoch_ms\"\n",
    );
    let docs = Docs {
        main: json!({"s": 0, "e": 5000}),
        approvals: None,
    };
    assert_eq!(window_end(&c, &docs), Some(5));
}

/// Issue 7 (fuzzing, ticket_conditions property, checked by hand): `str::to_lowercase` lowers
/// a final `Σ` to `ς`, so `contains ci` refused `"ΑΣ"` containing `"Σ"` (which the
/// case-sensitive test accepts) and `eq ci` refused `"ΑΣ"` against `"ασ"`.
#[test]
fn ci_lowers_one_character_at_a_time_issue_7() {
    let doc = json!({"s": "ΑΣ"});
    for (op, value) in [("contains", "Σ"), ("eq", "ασ"), ("contains", "σ")] {
        let r = one(
            &format!("field = \"/s\"\nop = \"{op}\"\nvalue = \"{value}\"\nci = true"),
            doc.clone(),
        );
        assert!(r.ok, "{op} {value}: {}", r.seen);
    }
}
