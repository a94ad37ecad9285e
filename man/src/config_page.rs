//! ticketgate.toml(5): one entry per key of `pam_ticketgate::config::keys::KEYS`, grouped by
//! `TABLES`; the library's tests hold that table to the parser.

use pam_ticketgate::config::keys::{self, DefaultValue, Key, Range, TABLES};
use roff::{Inline, bold, italic, roman};

use crate::cli_page::see_also;
use crate::page::Page;

pub(crate) fn render() -> String {
    let mut page = Page::new("TICKETGATE.TOML", "5");
    page.sh("NAME")
        .text("ticketgate.toml - configuration of pam_ticketgate");
    page.sh("SYNOPSIS")
        .tp(vec![bold(pam_ticketgate::config::DEFAULT_PATH)], "");
    page.sh("DESCRIPTION")
        .text(
            "The configuration of **pam_ticketgate**(8) and **ticketgate**(8), in TOML. Another file \
             can be named with the module argument config= and the command's --config.",
        )
        .para(
            "The file must be owned by root and not writable by group or others; it holds no \
             secrets, so a caller that is not root (a screen locker) may read it. Every directory \
             leading to it must be owned by root and not writable by group or others, as \
             OpenSSH's StrictModes wants; a directory others may write passes only with the \
             sticky bit (as /tmp), and then only root's entries below it count. The file itself \
             is named directly: a symbolic link, a FIFO or anything but a regular file is \
             refused at once. Tokens and passwords live in the files the *_file keys name: \
             root-owned, mode 0600 or stricter, in directories held to the same rule, checked \
             before each use and by **ticketgate check-config**, which checks ca_file too.",
        )
        .para(
            "Unknown keys, wrong types, out-of-range values and references to undefined policies are \
             errors that name the key and line, for example:",
        )
        .example(
            "config /etc/security/ticketgate.toml: line 9: policy.default.lockout_duration: \"2000m\" is out of range (0m-1440m; \"0m\" = until an administrator unlocks)",
        )
        .para(
            "A broken configuration fails closed: every login it governs gets PAM_SERVICE_ERR and \
             syslog one config_error line. The file is parsed once per version per process.",
        );
    page.sh("VALUES")
        .tp(
            vec![bold("duration")],
            "A whole number and a unit, no space: s, m, h or d (\"30s\", \"30m\", \"8h\", \"180d\").",
        )
        .tp(vec![bold("path")], "An absolute path.")
        .tp(
            vec![bold("URL")],
            "https://; plain http:// only for loopback hosts (127.0.0.0/8, ::1, localhost).",
        )
        .tp(
            vec![bold("regex")],
            "regex-lite syntax (Rust regex with less Unicode: \\d, \\w, \\s and ci case folding \
             are ASCII-only, \\p{..} classes are refused); id_pattern must be anchored (^...$).",
        )
        .tp(
            vec![bold("JSON Pointer")],
            "RFC 6901, into the fetched document: \"/result/0/approval\", \"/fields/status/name\".",
        );
    for table in TABLES {
        page.sh(&section_title(table.header));
        page.text(table.doc);
        for key in keys::of(table.name) {
            entry(&mut page, key);
        }
    }
    page.sh("EXAMPLE").example(EXAMPLE);
    page.para(
        "Every ticket system has a complete, commented example in the source tree's conf/ \
         directory, conf/ticketgate-SYSTEM.toml.",
    );
    see_also(
        &mut page,
        &[
            ("pam_ticketgate", "8"),
            ("ticketgate", "8"),
            ("ticketgate-server", "8"),
        ],
    );
    page.finish()
}

/// `.SH` titles are upper case by convention; table headers keep their spelling.
fn section_title(header: &str) -> String {
    if header.starts_with('[') {
        format!("TABLE {header}")
    } else {
        header.to_uppercase()
    }
}

fn entry(page: &mut Page, key: &Key) {
    let mut term: Vec<Inline> = vec![bold(key.key), roman(" ("), italic(key.ty)];
    match key.range {
        Range::Any => {}
        Range::Int(lo, hi) if lo == hi => term.push(roman(format!(", {lo}"))),
        Range::Int(lo, hi) => term.push(roman(format!(", {lo} to {hi}"))),
        Range::Duration(lo, hi) => term.push(roman(format!(", {lo} to {hi}"))),
    }
    term.push(roman(")"));
    let default = match key.default {
        DefaultValue::Value(v) => format!("Default: {v}."),
        DefaultValue::Text(t) => format!("Default: {t}."),
    };
    page.tp(term, key.doc);
    page.br().text(&default);
    page.br()
        .text(&format!("Example: {} = {}", key.key, key.example));
    if !key.words.is_empty() {
        page.indent();
        for w in key.words {
            page.tp(vec![bold(w.word)], w.doc);
        }
        page.outdent();
    }
}

/// An annotated example: the shape of docs/design.md §3 (the unit tests parse every file in conf/).
const EXAMPLE: &str = r#"version = 1

[module]
state_dir = "/var/lib/ticketgate"
fail_delay = "2s"

[[scope]]
users    = ["root"]
groups   = ["wheel", "sre"]
services = ["sshd", "su", "sudo"]
hosts    = "*.prod.example.com;db01"
policy   = "admins"
ticket   = true
login_protect = true

[policy.admins]
failed_logon       = 3
reset_failed_after = "30m"
lockout_duration   = "30m"
min_length         = 12

[ticket]
system      = "servicenow"
base_url    = "https://acme.service-now.com"
auth        = "basic"
username    = "svc_ticketgate"
secret_file = "/etc/security/ticketgate.d/servicenow.secret"

[[ticket.condition]]
field = "/result/0/approval"
op    = "eq"
value = "approved"

[[ticket.condition]]
field = "/result/0/requested_by.user_name"
op    = "eq"
from  = "user"

[[ticket.condition]]
op    = "within"
start = "/result/0/start_date"
end   = "/result/0/end_date"
time_format = "servicenow"
skew  = "5m"

[login_protect]
url         = "https://protect.example.com:8443"
service_id  = "web-prod-01"
secret_file = "/etc/security/ticketgate.d/protect.secret"

[offline]
ticket        = ["cached", "deny"]
login_protect = "hybrid"
cached_for    = "8h"
retry_after   = "30s""#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses() {
        pam_ticketgate::config::Config::parse(std::path::Path::new("/x.toml"), EXAMPLE).unwrap();
    }
}
