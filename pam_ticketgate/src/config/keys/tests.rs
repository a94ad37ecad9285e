//! [`KEYS`] against the parser: the keys each raw struct accepts (read from serde's own "expected
//! one of" list), every example, default, range and word.

use std::collections::BTreeSet;
use std::path::Path;

use super::*;
use crate::config::{Config, ConfigError, parse_duration};

const CONDITION: &str = "ticket.condition";

/// A valid document with every table, changed one key at a time.
#[derive(Clone)]
struct Doc(Vec<(&'static str, Vec<(String, String)>)>);

impl Doc {
    fn base() -> Self {
        let t = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect::<Vec<_>>()
        };
        Doc(vec![
            ("", t(&[("version", "1")])),
            ("module", t(&[])),
            ("scope", t(&[("users", "[\"alice\"]"), ("policy", "\"p\"")])),
            ("policy.NAME", t(&[])),
            (
                "ticket",
                t(&[
                    ("system", "\"servicenow\""),
                    ("base_url", "\"https://acme.service-now.com\""),
                    ("username", "\"svc\""),
                    ("secret_file", "\"/etc/t.secret\""),
                    // What the other systems and auth modes need, so each word can be tried.
                    ("token_url", "\"https://accounts.zoho.com/oauth/v2/token\""),
                    ("client_id", "\"1000.X\""),
                    ("client_secret_file", "\"/etc/t.client\""),
                    ("refresh_token_file", "\"/etc/t.refresh\""),
                    ("url", "\"https://tickets.example.com/t/{id}\""),
                ]),
            ),
            (
                CONDITION,
                t(&[
                    ("field", "\"/result/0/approval\""),
                    ("op", "\"eq\""),
                    ("value", "\"approved\""),
                ]),
            ),
            (
                "login_protect",
                t(&[
                    ("url", "\"https://protect.example.com\""),
                    ("service_id", "\"web\""),
                    ("secret_file", "\"/etc/p.secret\""),
                ]),
            ),
            (
                "fleet",
                t(&[
                    ("url", "\"https://fleet.example.com\""),
                    ("secret_file", "\"/etc/f.secret\""),
                ]),
            ),
            (
                "agent",
                t(&[
                    ("url", "\"https://fleet.example.com\""),
                    ("secret_file", "\"/etc/f.secret\""),
                ]),
            ),
            ("offline", t(&[])),
        ])
    }

    fn table(&mut self, table: &str) -> &mut Vec<(String, String)> {
        &mut self
            .0
            .iter_mut()
            .find(|(name, _)| *name == table)
            .unwrap_or_else(|| panic!("no table {table:?} in the test document"))
            .1
    }

    fn set(&mut self, table: &str, key: &str, value: &str) -> &mut Self {
        let t = self.table(table);
        t.retain(|(k, _)| k != key);
        t.push((key.to_string(), value.to_string()));
        self
    }

    fn remove(&mut self, table: &str, key: &str) -> &mut Self {
        self.table(table).retain(|(k, _)| k != key);
        self
    }

    /// Sets `op` with the companions it needs.
    fn op(&mut self, op: &str) -> &mut Self {
        for k in ["value", "values", "from", "start", "end", "where"] {
            self.remove(CONDITION, k);
        }
        self.set(CONDITION, "op", &format!("\"{op}\""));
        match op {
            "eq" | "ne" | "contains" | "matches" => self.set(CONDITION, "value", "\"approved\""),
            "in" | "not_in" => self.set(CONDITION, "values", "[\"approved\"]"),
            "within" => self
                .set(CONDITION, "start", "\"/s\"")
                .set(CONDITION, "end", "\"/e\""),
            "all" | "any" | "none" => self.set(
                CONDITION,
                "where",
                "{ field = \"/f\", op = \"eq\", value = \"x\" }",
            ),
            _ => self,
        }
    }

    /// Sets `key = value` in `table` with whatever else that value needs to make sense.
    fn with(&mut self, table: &str, key: &str, value: &str) -> &mut Self {
        if table == CONDITION {
            match key {
                "op" => {
                    self.op(value.trim_matches('"'));
                }
                "values" => {
                    self.op("in");
                }
                "start" | "end" | "time_format" | "skew" => {
                    self.op("within");
                }
                "where" => {
                    self.op("all");
                }
                "from" => {
                    self.remove(CONDITION, "value");
                }
                "doc" if value.contains("approvals") => {
                    self.set("ticket", "system", "\"jsm\"");
                }
                _ => {}
            }
        }
        self.set(table, key, value)
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (table, pairs) in &self.0 {
            match *table {
                "" => {}
                "scope" => out.push_str("[[scope]]\n"),
                CONDITION => out.push_str("[[ticket.condition]]\n"),
                "policy.NAME" => out.push_str("[policy.p]\n"),
                t => out.push_str(&format!("[{t}]\n")),
            }
            for (k, v) in pairs {
                out.push_str(&format!("{k} = {v}\n"));
            }
        }
        out
    }

    fn parse(&self) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/security/ticketgate.toml"), &self.render())
    }
}

/// `policy.NAME` is the key `policy` of the top level; `ticket.condition` the key `condition` of `[ticket]`.
fn parent_and_key(name: &str) -> (&str, &str) {
    let name = name.strip_suffix(".NAME").unwrap_or(name);
    name.rsplit_once('.').unwrap_or(("", name))
}

fn documented(table: &str) -> BTreeSet<String> {
    of(table).map(|k| k.key.to_string()).collect()
}

/// The field names in serde's "unknown field `x`, expected one of `a`, `b`" message.
fn expected_fields(message: &str) -> BTreeSet<String> {
    let (_, after) = message
        .split_once("expected")
        .unwrap_or_else(|| panic!("no list of expected fields in: {message}"));
    after
        .split('`')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect()
}

#[test]
fn the_base_document_parses() {
    let c = Doc::base().parse().unwrap();
    assert_eq!(c.scopes.len(), 1);
    assert_eq!(c.ticket.unwrap().conditions.len(), 1);
}

#[test]
fn every_table_accepts_exactly_the_documented_keys() {
    for table in TABLES {
        let err = Doc::base()
            .set(table.name, "zz_undocumented", "1")
            .parse()
            .unwrap_err()
            .to_string();
        assert!(err.contains("zz_undocumented"), "{}: {err}", table.header);
        let mut want = documented(table.name);
        // Sub-tables are keys of their parent.
        want.extend(
            TABLES
                .iter()
                .filter(|sub| !sub.name.is_empty() && parent_and_key(sub.name).0 == table.name)
                .map(|sub| parent_and_key(sub.name).1.to_string()),
        );
        assert_eq!(
            expected_fields(&err),
            want,
            "{}: the parser's keys (left) differ from the documented ones (right)",
            table.header
        );
    }
}

#[test]
fn a_where_table_takes_the_keys_of_a_condition() {
    let err = Doc::base()
        .with(
            CONDITION,
            "where",
            "{ field = \"/f\", op = \"eq\", value = \"x\", zz_undocumented = 1 }",
        )
        .parse()
        .unwrap_err()
        .to_string();
    assert_eq!(expected_fields(&err), documented(CONDITION), "{err}");
}

#[test]
fn every_key_belongs_to_a_listed_table_in_table_order_once() {
    let order: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
    let mut last = 0;
    let mut seen = BTreeSet::new();
    for k in KEYS {
        let at = order
            .iter()
            .position(|t| *t == k.table)
            .unwrap_or_else(|| panic!("{}.{}: table not in TABLES", k.table, k.key));
        assert!(at >= last, "{}.{} is out of table order", k.table, k.key);
        last = at;
        assert!(seen.insert((k.table, k.key)), "{}.{} twice", k.table, k.key);
        assert!(!k.doc.is_empty() && !k.example.is_empty() && !k.ty.is_empty());
    }
}

#[test]
fn every_documented_example_parses() {
    for k in KEYS {
        if let Err(e) = Doc::base().with(k.table, k.key, k.example).parse() {
            panic!("{}.{} = {}: {e}", k.table, k.key, k.example);
        }
    }
}

#[test]
fn every_documented_default_is_the_parsers_default() {
    let mut tested = 0;
    for k in KEYS {
        let DefaultValue::Value(v) = k.default else {
            continue;
        };
        let mut without = Doc::base();
        without
            .with(k.table, k.key, k.example)
            .remove(k.table, k.key);
        let mut with = without.clone();
        with.set(k.table, k.key, v);
        let (a, b) = (without.parse().unwrap(), with.parse().unwrap());
        assert_eq!(
            format!("{a:?}"),
            format!("{b:?}"),
            "{}.{}: writing the documented default {v} changes the configuration",
            k.table,
            k.key
        );
        // And the example is not the default in disguise: the comparison above can fail.
        if k.example != v {
            let mut other = without.clone();
            other.set(k.table, k.key, k.example);
            assert_ne!(
                format!("{a:?}"),
                format!("{:?}", other.parse().unwrap()),
                "{}.{}: the example {} has no effect",
                k.table,
                k.key,
                k.example
            );
        }
        tested += 1;
    }
    assert!(tested > 30, "only {tested} defaults were compared");
}

#[test]
fn every_documented_range_is_the_parsers_range() {
    for k in KEYS {
        let (inside, outside): (Vec<String>, Vec<String>) = match k.range {
            Range::Any => continue,
            Range::Int(lo, hi) => (
                vec![lo.to_string(), hi.to_string()],
                vec![(lo - 1).to_string(), (hi + 1).to_string()],
            ),
            Range::Duration(lo, hi) => {
                let secs = |d: &str| parse_duration(d).unwrap().as_secs();
                let mut outside = vec![format!("\"{}s\"", secs(hi) + 1)];
                if secs(lo) > 0 {
                    outside.push(format!("\"{}s\"", secs(lo) - 1));
                }
                (vec![format!("\"{lo}\""), format!("\"{hi}\"")], outside)
            }
        };
        for v in &inside {
            if let Err(e) = Doc::base().with(k.table, k.key, v).parse() {
                panic!("{}.{} = {v} is documented as allowed: {e}", k.table, k.key);
            }
        }
        for v in &outside {
            let err = match Doc::base().with(k.table, k.key, v).parse() {
                Ok(_) => panic!(
                    "{}.{} = {v} is outside the documented range",
                    k.table, k.key
                ),
                Err(e) => e.to_string(),
            };
            assert!(err.contains(k.key), "{}.{} = {v}: {err}", k.table, k.key);
        }
    }
}

#[test]
fn every_documented_word_parses_and_the_parser_knows_no_other() {
    let mut keys = 0;
    for k in KEYS.iter().filter(|k| !k.words.is_empty()) {
        let literal = |word: &str| {
            if k.ty.starts_with("list") {
                format!("[\"{word}\"]")
            } else {
                format!("\"{word}\"")
            }
        };
        for w in k.words {
            if let Err(e) = Doc::base().with(k.table, k.key, &literal(w.word)).parse() {
                panic!("{}.{} = {:?}: {e}", k.table, k.key, w.word);
            }
        }
        let err = match Doc::base()
            .with(k.table, k.key, &literal("zz_bogus"))
            .parse()
        {
            Ok(_) => panic!("{}.{} accepts any word", k.table, k.key),
            Err(e) => e.to_string(),
        };
        let (_, listed) = err
            .split_once("is not one of")
            .unwrap_or_else(|| panic!("{}.{}: {err}", k.table, k.key));
        let listed: BTreeSet<&str> = listed
            .split([' ', ',', '"'])
            .filter(|s| !s.is_empty())
            .collect();
        let words: BTreeSet<&str> = k.words.iter().map(|w| w.word).collect();
        assert_eq!(
            listed, words,
            "{}.{}: the parser's words (left)",
            k.table, k.key
        );
        keys += 1;
    }
    assert_eq!(keys, 15);
}
