use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::SYSTEMS;
use crate::config::keys::{DefaultValue, KEYS, Key};
use crate::config::{Auth, Config, Ticket};

/// `[ticket]` from its TOML body, resolved as the module would.
pub(crate) fn cfg(ticket: &str) -> Ticket {
    let text = format!("version = 1\n[ticket]\n{ticket}\n");
    Config::parse(Path::new("/t.toml"), &text)
        .unwrap()
        .ticket
        .unwrap()
}

/// A URL's query as decoded pairs.
pub(crate) fn query(url: &url::Url) -> Vec<(String, String)> {
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The auth word as the config writes it.
fn auth_word(a: Auth) -> &'static str {
    match a {
        Auth::Basic => "basic",
        Auth::Bearer => "bearer",
        Auth::AuthToken => "authtoken",
        Auth::OAuthRefresh => "oauth-refresh",
    }
}

fn key(table: &str, name: &str) -> &'static Key {
    KEYS.iter()
        .find(|k| k.table == table && k.key == name)
        .unwrap()
}

/// The first `code span` of a README table cell.
fn code(cell: &str) -> &str {
    cell.split('`').nth(1).unwrap()
}

/// The administrator's guide's "### Systems" table: `system` word → (auth cell, id_pattern cell), with "as `jira`"
/// resolved to that row's cell.
fn readme_systems() -> BTreeMap<String, (String, String)> {
    let readme = include_str!("../../../../docs/admin-guide.md");
    let (_, section) = readme.split_once("\n### Systems\n").unwrap();
    let rows: Vec<Vec<String>> = section
        .lines()
        .skip_while(|l| !l.starts_with("|---"))
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.replace("\\|", "/")
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    let cell = |word: &str, i: usize| -> String {
        let mut word = word.to_string();
        loop {
            let row = rows.iter().find(|r| code(&r[1]) == word).unwrap();
            match row[i].strip_prefix("as ") {
                Some(other) => word = code(other).to_string(),
                None => return row[i].clone(),
            }
        }
    };
    rows.iter()
        .map(|r| {
            let word = code(&r[1]);
            (word.to_string(), (cell(word, 3), cell(word, 4)))
        })
        .collect()
}

#[test]
fn every_system_word_has_one_entry_with_the_documented_defaults() {
    let words: Vec<&str> = key("ticket", "system")
        .words
        .iter()
        .map(|w| w.word)
        .collect();
    assert_eq!(words.len(), SYSTEMS.len(), "{words:?}");
    for word in &words {
        let entries = SYSTEMS.iter().filter(|s| s.name() == *word).count();
        assert_eq!(entries, 1, "{word}");
        let resolved = cfg(&format!(
            "system = \"{word}\"\nbase_url = \"https://t.example.com\"\nurl = \"https://t.example.com/{{id}}\"\nauth = \"bearer\"\nsecret_file = \"/s\"\n"
        ));
        assert_eq!(resolved.system.name(), *word);
    }
    let readme = readme_systems();
    assert_eq!(
        readme.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        words.iter().copied().collect::<BTreeSet<_>>(),
        "the administrator's guide's systems table"
    );
    let tables = key("ticket", "table").words;
    for s in SYSTEMS {
        let (auth, pattern) = &readme[s.name()];
        assert_eq!(code(auth), auth_word(s.default_auth()), "{}", s.name());
        assert_eq!(
            code(pattern),
            s.default_id_pattern("change_request"),
            "{}",
            s.name()
        );
        // ServiceNow's other tables: README names their prefixes (`INC…`).
        for t in tables.iter().filter(|t| t.word != "change_request") {
            let p = s.default_id_pattern(t.word);
            if p != s.default_id_pattern("change_request") {
                let prefix = p.trim_start_matches('^').split('[').next().unwrap();
                assert!(pattern.contains(&format!("`{prefix}…`")), "{pattern}");
            }
        }
    }
}

/// ticketgate.toml(5) says the same defaults (the key table's texts).
#[test]
fn the_key_table_names_each_systems_defaults() {
    let DefaultValue::Text(auth) = key("ticket", "auth").default else {
        panic!("ticket.auth has a text default");
    };
    let DefaultValue::Text(patterns) = key("ticket", "id_pattern").default else {
        panic!("ticket.id_pattern has a text default");
    };
    let listed = |text: &str, lead: &str, name: &str| -> bool {
        text.split_once(&format!("{lead} ("))
            .and_then(|(_, rest)| rest.split_once(')'))
            .is_some_and(|(names, _)| names.split([',', ';', ' ']).any(|n| n == name))
    };
    for s in SYSTEMS {
        let name = s.name();
        assert!(
            listed(auth, auth_word(s.default_auth()), name),
            "{name}: {auth}"
        );
        let pattern = s.default_id_pattern("change_request");
        assert!(listed(patterns, pattern, name), "{name}: {patterns}");
    }
}
