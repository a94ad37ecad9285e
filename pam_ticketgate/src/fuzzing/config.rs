//! `config`: any text through `Config::parse`. An accepted config holds every range and rule
//! the resolver promises ("a `Config` that exists is a valid one") and re-parses identically;
//! a refused one names a line inside the file.

use std::path::Path;
use std::time::Duration;

use crate::config::{Condition, ConditionDoc, Config, Expected, Op};

const PATH: &str = "/etc/security/ticketgate.toml";

pub fn config(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let path = Path::new(PATH);
    match Config::parse(path, text) {
        Ok(c) => {
            holds_its_promises(&c);
            let again = Config::parse(path, text).map(|a| format!("{a:?}"));
            assert_eq!(
                Ok(format!("{c:?}")),
                again.map_err(|e| e.to_string()),
                "re-parse differs"
            );
            true
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(shown.starts_with(&format!("config {PATH}: ")), "{shown}");
            let lines = text.matches('\n').count() + 1;
            if let crate::config::ConfigError::Syntax { line: Some(l), .. }
            | crate::config::ConfigError::Invalid { line: Some(l), .. } = e
            {
                assert!((1..=lines).contains(&l), "line {l} of {lines}: {shown}");
            }
            false
        }
    }
}

fn url_ok(u: &url::Url) -> bool {
    u.scheme() == "https"
        || (u.scheme() == "http"
            && match u.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            })
}

fn holds_its_promises(c: &Config) {
    let min = |m: u64| Duration::from_secs(m * 60);
    let day = |d: u64| Duration::from_secs(d * 86_400);
    let m = &c.module;
    assert!(m.state_dir.is_absolute() && m.run_dir.is_absolute());
    assert!(m.audit_file.as_ref().is_none_or(|p| p.is_absolute()));
    assert!(m.fail_delay <= Duration::from_secs(60));
    for (i, s) in c.scopes.iter().enumerate() {
        assert_eq!(s.index, i + 1);
        for p in [&s.policy, &s.pin_policy] {
            assert!(p.failed_logon <= 100 && p.min_length <= 64 && p.history <= 25);
            assert!((min(1)..=min(120)).contains(&p.reset_failed_after));
            assert!(
                p.lockout_duration
                    .is_none_or(|d| !d.is_zero() && d <= min(1440))
            );
            assert!(p.min_change_interval <= min(129_600));
            assert!(
                p.expires_after
                    .is_none_or(|d| !d.is_zero() && d <= day(365))
            );
            assert!(p.expiry_warning <= day(90));
            assert!(
                p.inactive_after
                    .is_none_or(|d| !d.is_zero() && d <= day(5000))
            );
        }
        for name in s.users.iter().chain(&s.groups).chain(&s.services) {
            assert!(!name.is_empty() && !name.chars().any(char::is_control));
        }
        assert!(!s.ticket || c.ticket.is_some());
        assert!(!s.login_protect || c.login_protect.is_some());
        assert!(
            s.protect_service_id
                .as_ref()
                .is_none_or(|id| !id.is_empty())
        );
    }
    if let Some(t) = &c.ticket {
        assert!((Duration::from_secs(1)..=Duration::from_secs(30)).contains(&t.timeout));
        assert!(t.cache <= Duration::from_secs(3600));
        let p = t.id_pattern.as_str();
        assert!(p.starts_with('^') && p.ends_with('$'), "unanchored {p}");
        assert!(t.base_url.as_ref().is_none_or(url_ok));
        assert!(t.token_url.as_ref().is_none_or(url_ok));
        match t.system.name() {
            "http" => assert!(t.url.as_ref().is_some_and(|u| u.contains("{id}"))),
            _ => assert!(t.base_url.is_some()),
        }
        assert!(matches!(t.api_version, 2 | 3));
        for cond in &t.conditions {
            condition_ok(cond, t.system.name());
        }
    }
    if let Some(p) = &c.login_protect {
        assert!((Duration::from_secs(1)..=Duration::from_secs(30)).contains(&p.timeout));
        assert!(!p.service_id.is_empty() && url_ok(&p.url));
    }
    let o = &c.offline;
    assert!(!o.ticket.is_empty());
    assert!(o.cached_for <= day(30) && o.retry_after <= Duration::from_secs(3600));
}

fn condition_ok(c: &Condition, system: &str) {
    let pointer = |p: &str| p.is_empty() || p.starts_with('/');
    assert!(pointer(&c.field));
    assert!(c.doc == ConditionDoc::Main || system == "jsm");
    assert!(c.skew <= Duration::from_secs(3600));
    match c.op {
        Op::Within => {
            assert!(c.start.as_deref().is_some_and(pointer));
            assert!(c.end.as_deref().is_some_and(pointer));
        }
        Op::In | Op::NotIn => {
            assert!(matches!(&c.expected, Expected::Values(v) if !v.is_empty()));
        }
        Op::Matches => assert!(matches!(c.expected, Expected::Pattern(_))),
        Op::Eq | Op::Ne | Op::Contains => {
            assert!(matches!(c.expected, Expected::Value(_) | Expected::From(_)));
        }
        Op::Exists | Op::Absent | Op::All | Op::Any | Op::None => {
            assert!(matches!(c.expected, Expected::Nothing));
        }
    }
    let takes_where = matches!(c.op, Op::All | Op::Any | Op::None);
    assert_eq!(takes_where, c.where_.is_some(), "where with {:?}", c.op);
    if let Some(inner) = &c.where_ {
        condition_ok(inner, system);
    }
}
