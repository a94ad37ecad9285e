//! Every configuration key, described once. ticketgate.toml(5) is generated from [`KEYS`], and
//! the tests below hold the table to the parser: a key the raw structs accept but this table
//! does not list (or the other way round), a default, range or word that differs from what the
//! resolver does, fails them.

/// A table of the file, in the order the man page shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    /// The name [`Key::table`] uses: `""` for the top level, `policy.NAME` for every policy.
    pub name: &'static str,
    /// How it is written in the file (`[[scope]]`, `[policy.NAME]`).
    pub header: &'static str,
    /// What the table is for (a paragraph).
    pub doc: &'static str,
}

/// The tables, top level first.
pub const TABLES: &[Table] = &[
    Table {
        name: "",
        header: "top level",
        doc: "The file starts with its format version.",
    },
    Table {
        name: "module",
        header: "[module]",
        doc: "Where the module keeps its files and how it treats failures and callers that are not root.",
    },
    Table {
        name: "scope",
        header: "[[scope]]",
        doc: "Who the gates apply to. The first scope that matches a login decides; a login no scope \
              matches is left alone (PAM_IGNORE). A scope matches when the user is listed in users or \
              is a member of one of groups (both empty: everyone), the PAM service is in services \
              (empty: every service) and this host matches hosts.",
    },
    Table {
        name: "policy.NAME",
        header: "[policy.NAME]",
        doc: "A credential policy (the Cisco Unified CM model). The policies default and pin exist even \
              when not written; every other policy starts from the defaults below and overrides what \
              it sets (pin starts with min_length = 4).",
    },
    Table {
        name: "ticket",
        header: "[ticket]",
        doc: "The ticket system scopes with ticket = true ask. Secrets are never in this file: \
              secret_file, client_secret_file and refresh_token_file name root-owned files of mode 0600 \
              or stricter, checked before each use; the secret is the file's first line without \
              surrounding white space (later lines are ignored; an empty first line is an error).",
    },
    Table {
        name: "ticket.condition",
        header: "[[ticket.condition]]",
        doc: "Conditions the fetched ticket must meet; all must hold. A missing field (or JSON null) \
              fails its condition, except with op = \"absent\". Built-in checks that no condition can \
              switch off run first: the ID matches id_pattern before any request, exactly one record \
              comes back, its own number or key is the ID typed, the vendor's envelope says success, and \
              a closed or cancelled ticket never passes.",
    },
    Table {
        name: "login_protect",
        header: "[login_protect]",
        doc: "The login-protect server scopes with login_protect = true ask (protocol v1, see \
              ticketgate-server(8)).",
    },
    Table {
        name: "fleet",
        header: "[fleet]",
        doc: "The fleet lockout server scopes with fleet = true ask (ticketgate-server(8)): one failure \
              count and lock for a user across every host. preauth asks whether the user is locked \
              fleet-wide, authfail reports each failed logon, the ticket line reports a success only when \
              the fleet had failures on record or events are waiting in the spool, so a login with none \
              makes one round trip. A login is refused when the local or the fleet state says locked. \
              Failures and successes made while the server is unreachable are kept in \
              state_dir/fleet-spool.jsonl (root's, 0600, at most 1000 events: the oldest is dropped with \
              a fleet_spool_dropped event) and sent, oldest first, the next time the server answers.",
    },
    Table {
        name: "agent",
        header: "[agent]",
        doc: "The host agent ticketgate-agent(8): every interval it asks the server (POST \
              /v1/agent/poll with this host's token) for the tasks an administrator queued for this \
              host, runs those its tasks list allows and reports each result in the next request. \
              It only ever calls out; the server never connects to the host. The module itself does \
              not read this table.",
    },
    Table {
        name: "offline",
        header: "[offline]",
        doc: "What happens while a server is unreachable: DNS failure, refused connection, the deadline \
              passing, HTTP 5xx or 429. Every other failure (401, 403, 404, a TLS error, a malformed or \
              oversized answer) denies and never falls back.",
    },
];

/// A key's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// A TOML value: writing it changes nothing (tested).
    Value(&'static str),
    /// Said in words: required, none, or depends on another key.
    Text(&'static str),
}

/// The range the resolver enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Any,
    /// Inclusive integer bounds.
    Int(i64, i64),
    /// Inclusive duration bounds, written as in the file.
    Duration(&'static str, &'static str),
}

/// One word a key accepts, with what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word {
    pub word: &'static str,
    pub doc: &'static str,
}

/// One key of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// A [`Table::name`].
    pub table: &'static str,
    pub key: &'static str,
    /// The type as the man page names it.
    pub ty: &'static str,
    pub default: DefaultValue,
    pub range: Range,
    /// The words a string (or list of strings) key accepts; empty for free text.
    pub words: &'static [Word],
    /// What the lower bound of a duration range means when it is zero and special (`"0m"` =
    /// until an administrator unlocks); the resolver adds it to its out-of-range message.
    pub zero: Option<&'static str>,
    /// A value that parses, as TOML.
    pub example: &'static str,
    /// What it does, in one or two sentences.
    pub doc: &'static str,
}

const fn key(table: &'static str, key: &'static str, ty: &'static str) -> Key {
    Key {
        table,
        key,
        ty,
        default: DefaultValue::Text("none"),
        range: Range::Any,
        words: &[],
        zero: None,
        example: "",
        doc: "",
    }
}

impl Key {
    const fn default(mut self, v: &'static str) -> Self {
        self.default = DefaultValue::Value(v);
        self
    }
    const fn default_text(mut self, v: &'static str) -> Self {
        self.default = DefaultValue::Text(v);
        self
    }
    const fn int(mut self, lo: i64, hi: i64) -> Self {
        self.range = Range::Int(lo, hi);
        self
    }
    const fn dur(mut self, lo: &'static str, hi: &'static str) -> Self {
        self.range = Range::Duration(lo, hi);
        self
    }
    const fn zero(mut self, meaning: &'static str) -> Self {
        self.zero = Some(meaning);
        self
    }
    const fn words(mut self, w: &'static [Word]) -> Self {
        self.words = w;
        self
    }
    const fn ex(mut self, example: &'static str, doc: &'static str) -> Self {
        self.example = example;
        self.doc = doc;
        self
    }
}

const fn w(word: &'static str, doc: &'static str) -> Word {
    Word { word, doc }
}

const REQUIRED: &str = "required";

/// The key `key` of table `table` (a [`Table::name`]: `policy.NAME` for every policy).
pub fn find(table: &str, key: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.table == table && k.key == key)
}

/// The default the table gives `table`.`key` as written in the file (`3`, `"30m"`, `true`),
/// `None` when it has none or says it in words.
pub fn default_value(table: &str, key: &str) -> Option<&'static str> {
    match find(table, key)?.default {
        DefaultValue::Value(v) => Some(v),
        DefaultValue::Text(_) => None,
    }
}

/// Every key, grouped by table in [`TABLES`] order.
pub const KEYS: &[Key] = &[
    key("", "version", "integer")
        .default_text(REQUIRED)
        .int(1, 1)
        .ex("1", "The format version; this module reads version = 1."),
    // [module]
    key("module", "state_dir", "path")
        .default("\"/var/lib/ticketgate\"")
        .ex(
            "\"/var/lib/ticketgate\"",
            "Per-user state (failures, locks, credential history, offline PINs, break-glass codes); \
             persistent, so locks survive reboots. Created 0700 if missing; refused (every login \
             fails closed) unless it and every directory leading to it are root's and not \
             writable by group or others, and it is not a symbolic link.",
        ),
    key("module", "run_dir", "path")
        .default("\"/run/ticketgate\"")
        .ex(
            "\"/run/ticketgate\"",
            "Volatile files: sessions, the ticket verdict cache, breakers, the OAuth access token. \
             Created 0700 if missing; checked as state_dir is, and so are its sessions/ and \
             ticket-cache/: a login that needs one fails closed when it is refused.",
        ),
    key("module", "fail_delay", "duration")
        .default("\"2s\"")
        .dur("0s", "60s")
        .ex(
            "\"2s\"",
            "Delay requested with pam_fail_delay(3) on every auth phase; libpam applies it when \
             authentication fails. \"0s\" = none.",
        ),
    key("module", "unprivileged", "string")
        .default("\"ignore\"")
        .words(&[
            w("ignore", "leave the login to the rest of the stack (logged)"),
            w("deny", "refuse it (PAM_PERM_DENIED)"),
        ])
        .ex(
            "\"deny\"",
            "What a caller that is not root (a screen locker) gets when the module would need state \
             or secrets it cannot reach.",
        ),
    key("module", "state_unwritable", "string")
        .default("\"deny\"")
        .words(&[
            w(
                "deny",
                "refuse covered users whose state cannot be written (PAM_SYSTEM_ERR)",
            ),
            w(
                "allow",
                "let them on, logged: failed logons are then not counted",
            ),
        ])
        .ex(
            "\"deny\"",
            "What preauth does when a covered user's state cannot be written (state_dir full or \
             read-only, a planted link): while failures cannot be counted, lockout cannot hold. \
             Root is exempt unless its policy has lock_root.",
        ),
    key("module", "audit_file", "path").ex(
        "\"/var/log/ticketgate/audit.jsonl\"",
        "Also append every audit event as one JSON object per line (mode 0600).",
    ),
    // [[scope]]
    key("scope", "users", "list of strings")
        .default("[]")
        .ex("[\"root\"]", "User names."),
    key("scope", "groups", "list of strings").default("[]").ex(
        "[\"wheel\", \"sre\"]",
        "Group names, primary or supplementary (asked of NSS only when needed).",
    ),
    key("scope", "services", "list of strings")
        .default("[]")
        .ex(
            "[\"sshd\", \"su\", \"sudo\"]",
            "PAM service names; empty = every service.",
        ),
    key("scope", "hosts", "string")
        .default_text("any host")
        .ex(
            "\"*.prod.example.com;db01\"",
            "This host's short or fully qualified name: ';'-separated patterns, '*' = any characters, \
             case-insensitive. The fully qualified name is the host name if it has a dot, else its \
             name in /etc/hosts; no DNS query is made.",
        ),
    key("scope", "policy", "string")
        .default("\"default\"")
        .ex("\"default\"", "The [policy.NAME] for passwords."),
    key("scope", "pin_policy", "string").default("\"pin\"").ex(
        "\"pin\"",
        "The [policy.NAME] for services whose stack lines say credential=pin.",
    ),
    key("scope", "ticket", "boolean").default("false").ex(
        "true",
        "Require an approved ticket after the password (needs [ticket]).",
    ),
    key("scope", "login_protect", "boolean").default("false").ex(
        "true",
        "Require an unlock from the user's device before the password (needs [login_protect]).",
    ),
    key("scope", "fleet", "boolean").default("false").ex(
        "true",
        "Share failed logons and locks with every host through the fleet server (needs [fleet]).",
    ),
    key("scope", "mode", "string")
        .default("\"enforce\"")
        .words(&[
            w("enforce", "the gates refuse, lock and count"),
            w(
                "report",
                "every gate runs and audits what it would refuse (would_refuse); nothing is \
                 refused or locked and the PAM result is what it would be without the module",
            ),
        ])
        .ex(
            "\"report\"",
            "Try the scope on real logins before enforcing it: see ticketgate report.",
        ),
    key("scope", "protect_service_id", "string")
        .default_text("[login_protect] service_id")
        .ex(
            "\"db-admins\"",
            "This scope's service ID on the login-protect server.",
        ),
    // [policy.NAME]
    key("policy.NAME", "failed_logon", "integer")
        .default("3")
        .int(0, 100)
        .ex(
            "5",
            "Failed logons inside reset_failed_after that hack-lock the account; 0 = never lock \
             (failures are still counted).",
        ),
    key("policy.NAME", "reset_failed_after", "duration")
        .default("\"30m\"")
        .dur("1m", "120m")
        .ex(
            "\"15m\"",
            "A failure counts while it is younger than this (sliding window).",
        ),
    key("policy.NAME", "lockout_duration", "duration")
        .default("\"30m\"")
        .dur("0m", "1440m")
        .zero("until an administrator unlocks")
        .ex(
            "\"0m\"",
            "How long a hack lock lasts; \"0m\" = until ticketgate unlock.",
        ),
    key("policy.NAME", "min_length", "integer")
        .default("8")
        .int(0, 64)
        .ex(
            "12",
            "Shortest new credential, in characters (the built-in pin policy: 4).",
        ),
    key("policy.NAME", "min_change_interval", "duration")
        .default("\"0m\"")
        .dur("0m", "129600m")
        .ex(
            "\"1d\"",
            "Least time between changes the user makes; root changing it is exempt.",
        ),
    key("policy.NAME", "expires_after", "duration")
        .default("\"0d\"")
        .dur("0d", "365d")
        .zero("never")
        .ex(
            "\"180d\"",
            "Credential lifetime, from the last change through the module (or first sight); \
             \"0d\" = never. Once expired, account answers PAM_NEW_AUTHTOK_REQD.",
        ),
    key("policy.NAME", "expiry_warning", "duration")
        .default("\"14d\"")
        .dur("0d", "90d")
        .ex("\"7d\"", "Warn at login this long before expiry."),
    key("policy.NAME", "inactive_after", "duration")
        .default("\"0d\"")
        .dur("0d", "5000d")
        .zero("off")
        .ex(
            "\"90d\"",
            "No successful login for this long locks the account until ticketgate unlock; \"0d\" = off.",
        ),
    key("policy.NAME", "history", "integer")
        .default("0")
        .int(0, 25)
        .ex(
            "12",
            "The last N credentials set through the module may not be reused (salted Argon2id hashes).",
        ),
    key("policy.NAME", "check_trivial", "boolean").default("true").ex(
        "false",
        "Apply the trivial-password or trivial-PIN rules (character classes, repeats, user and \
         GECOS names, keypad lines, repeated groups, consecutive characters; a PIN that contains \
         such a pattern anywhere is refused).",
    ),
    key("policy.NAME", "lock_root", "boolean").default("false").ex(
        "true",
        "Hack-lock root too (root's failures are always counted; an admin lock applies to root).",
    ),
    key("policy.NAME", "local_users_only", "boolean")
        .default("false")
        .ex(
            "true",
            "Users not in /etc/passwd (LDAP, SSSD) are neither counted nor locked.",
        ),
    // [ticket]
    key("ticket", "system", "string")
        .default_text(REQUIRED)
        .words(&[
            w("servicenow", "ServiceNow Table API"),
            w("jira", "Jira Cloud or Data Center"),
            w("jsm", "Jira Service Management: as jira, plus the request's approvals"),
            w("sdp", "ServiceDesk Plus on-premises"),
            w("sdp-msp", "ServiceDesk Plus MSP"),
            w("sdp-cloud", "ServiceDesk Plus Cloud (Zoho OAuth)"),
            w("http", "any HTTP/JSON system: GET url with {id} replaced"),
        ])
        .ex("\"servicenow\"", "The ticket system."),
    key("ticket", "base_url", "URL")
        .default_text("required unless system = \"http\"")
        .ex(
            "\"https://acme.service-now.com\"",
            "The system's address: https://, plain http:// only for loopback.",
        ),
    key("ticket", "auth", "string")
        .default_text("basic (servicenow, jira, jsm), authtoken (sdp, sdp-msp), oauth-refresh (sdp-cloud), bearer (http)")
        .words(&[
            w("basic", "username and the password in secret_file"),
            w("bearer", "Authorization: Bearer with the token in secret_file"),
            w("authtoken", "ServiceDesk Plus technician key in secret_file, as the authtoken header"),
            w("oauth-refresh", "Zoho OAuth: token_url, client_id, client_secret_file, refresh_token_file"),
        ])
        .ex("\"basic\"", "How requests authenticate."),
    key("ticket", "username", "string")
        .default_text("none; required with auth = \"basic\"")
        .ex("\"svc_ticketgate\"", "The account for basic authentication."),
    key("ticket", "secret_file", "path")
        .default_text("none; required except with oauth-refresh")
        .ex(
            "\"/etc/security/ticketgate.d/servicenow.secret\"",
            "File holding the password, token or API key (first line).",
        ),
    key("ticket", "token_url", "URL")
        .default_text("none; required with oauth-refresh")
        .ex(
            "\"https://accounts.zoho.com/oauth/v2/token\"",
            "Where OAuth access tokens are refreshed; the token is cached under run_dir until it expires.",
        ),
    key("ticket", "client_id", "string")
        .default_text("none; required with oauth-refresh")
        .ex("\"1000.ABCDEF\"", "The OAuth client ID."),
    key("ticket", "client_secret_file", "path")
        .default_text("none; required with oauth-refresh")
        .ex(
            "\"/etc/security/ticketgate.d/zoho.client\"",
            "File holding the OAuth client secret (first line).",
        ),
    key("ticket", "refresh_token_file", "path")
        .default_text("none; required with oauth-refresh")
        .ex(
            "\"/etc/security/ticketgate.d/zoho.refresh\"",
            "File holding the OAuth refresh token (first line).",
        ),
    key("ticket", "table", "string")
        .default("\"change_request\"")
        .words(&[
            w("change_request", "change requests (CHG...)"),
            w("incident", "incidents (INC...)"),
            w("sc_req_item", "requested items (RITM...)"),
        ])
        .ex("\"incident\"", "servicenow: the table the ticket is in."),
    key("ticket", "id_pattern", "regex")
        .default_text(
            "per system: ^CHG[0-9]{7,}$ (servicenow; INC, RITM for the other tables), \
             ^[A-Z][A-Z0-9_]{1,9}-[0-9]{1,10}$ (jira, jsm), ^[0-9]{1,12}$ (sdp, sdp-msp, sdp-cloud), \
             ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ (http)",
        )
        .ex(
            "'^CHG[0-9]{7,}$'",
            "Anchored regex the typed ID must match before any request is made.",
        ),
    key("ticket", "prompt", "string")
        .default("\"Ticket ID: \"")
        .ex("\"Change number: \"", "The prompt (echo on)."),
    key("ticket", "timeout", "duration")
        .default("\"3s\"")
        .dur("1s", "30s")
        .ex(
            "\"5s\"",
            "One deadline for DNS, connect, TLS and the whole answer of a line's own request; the \
             spooled events a line sends share another.",
        ),
    key("ticket", "cache", "duration")
        .default("\"2m\"")
        .dur("0s", "1h")
        .ex(
            "\"0s\"",
            "An accepted (user, ticket, host) is accepted again without a request this long; \"0s\" = off.",
        ),
    key("ticket", "ca_file", "path")
        .default_text("the system's CA bundle")
        .ex(
            "\"/etc/ssl/certs/acme-ca.pem\"",
            "CA certificates (PEM) to trust instead of the system's. It (and the system bundle \
             when this is unset) must be root's and not writable by group or others, in \
             directories only root can change (a symbolic link there is followed); otherwise \
             every ticket check is refused.",
        ),
    key("ticket", "user_map", "string").ex(
        "\"{user}@example.com\"",
        "How a login name appears in the ticket, for conditions with from = \"user_map\"; {user} is \
         replaced.",
    ),
    key("ticket", "api_version", "integer")
        .default("3")
        .int(2, 3)
        .ex("2", "jira, jsm: REST API version, 3 (Cloud) or 2 (Data Center)."),
    key("ticket", "module", "string")
        .default("\"request\"")
        .words(&[
            w("request", "requests (/api/v3/requests)"),
            w("change", "changes (/api/v3/changes)"),
        ])
        .ex("\"change\"", "sdp, sdp-msp, sdp-cloud: which module the ticket is in."),
    key("ticket", "portal", "string").ex(
        "\"itdesk\"",
        "sdp-cloud: the portal name in /app/PORTAL/api/v3.",
    ),
    key("ticket", "url", "string")
        .default_text("none; required with system = \"http\"")
        .ex(
            "\"https://tickets.example.com/api/tickets/{id}\"",
            "http: the URL to GET, with {id} replaced by the percent-encoded ID.",
        ),
    // [[ticket.condition]]
    key("ticket.condition", "field", "JSON Pointer")
        .default_text("required, except with op = \"within\"")
        .ex(
            "\"/result/0/approval\"",
            "RFC 6901 pointer into the fetched document, exactly as the vendor returns it.",
        ),
    key("ticket.condition", "doc", "string")
        .default("\"ticket\"")
        .words(&[
            w("ticket", "the ticket itself"),
            w("approvals", "jsm only: the request's approvals page"),
        ])
        .ex("\"ticket\"", "Which fetched document field points into."),
    key("ticket.condition", "op", "string")
        .default_text(REQUIRED)
        .words(&[
            w("eq", "the value equals value or from (scalars compare as text)"),
            w("ne", "the value does not equal value or from"),
            w("in", "the value is one of values"),
            w("not_in", "the value is none of values"),
            w("matches", "the value, as text, matches the regex in value"),
            w("contains", "a list has an element equal to value or from, or a text contains it"),
            w("exists", "the field is there and not null"),
            w("absent", "the field is missing or null"),
            w("within", "now lies in [start - skew, end + skew]"),
            w("all", "where holds for every element of the list at field (not for an empty list)"),
            w("any", "where holds for some element of the list at field"),
            w("none", "where holds for no element of the list at field"),
        ])
        .ex("\"eq\"", "The operator."),
    key("ticket.condition", "value", "any TOML value").ex(
        "\"approved\"",
        "What eq, ne and contains compare with; the regex for matches.",
    ),
    key("ticket.condition", "values", "list").ex(
        "[\"approved\", \"authorized\"]",
        "The list for in and not_in.",
    ),
    key("ticket.condition", "from", "string")
        .words(&[
            w("user", "the login name"),
            w("host", "this host's short name"),
            w("host_fqdn", "this host's fully qualified name"),
            w("rhost", "the remote host (empty on a console: never matches)"),
            w("service", "the PAM service"),
            w("user_map", "[ticket] user_map with {user} replaced"),
        ])
        .ex(
            "\"user\"",
            "Compare with a fact of the login instead of value (eq, ne, contains).",
        ),
    key("ticket.condition", "ci", "boolean")
        .default("false")
        .ex("true", "Compare case-insensitively."),
    key("ticket.condition", "start", "JSON Pointer")
        .default_text("none; required with op = \"within\"")
        .ex("\"/result/0/start_date\"", "within: the window's start."),
    key("ticket.condition", "end", "JSON Pointer")
        .default_text("none; required with op = \"within\"")
        .ex("\"/result/0/end_date\"", "within: the window's end."),
    key("ticket.condition", "time_format", "string")
        .default("\"iso8601\"")
        .words(&[
            w("servicenow", "YYYY-MM-DD HH:MM:SS in UTC, the Table API's raw value"),
            w("iso8601", "RFC 3339 with Z or an offset; fractions ignored"),
            w("epoch_ms", "milliseconds since 1970, a number or text (ServiceDesk Plus)"),
        ])
        .ex(
            "\"servicenow\"",
            "within: how start and end are written; a time that does not parse fails the condition.",
        ),
    key("ticket.condition", "skew", "duration")
        .default("\"0s\"")
        .dur("0s", "1h")
        .ex("\"5m\"", "within: how far the clocks may differ."),
    key("ticket.condition", "where", "inline table")
        .default_text("none; required with all, any, none")
        .ex(
            "{ field = \"/finalDecision\", op = \"eq\", value = \"approved\" }",
            "all, any, none: a condition applied to each element (pointers relative to the element).",
        ),
    // [login_protect]
    key("login_protect", "url", "URL")
        .default_text(REQUIRED)
        .ex(
            "\"https://protect.example.com:8443\"",
            "The server: https://, plain http:// only for loopback. A path is kept.",
        ),
    key("login_protect", "service_id", "string")
        .default_text(REQUIRED)
        .ex("\"web-prod-01\"", "This host's service ID on the server (not \"*\", which the server reserves for unlocks made without one)."),
    key("login_protect", "secret_file", "path")
        .default_text(REQUIRED)
        .ex(
            "\"/etc/security/ticketgate.d/protect.secret\"",
            "File holding this host's token (first line), sent as Authorization: Bearer.",
        ),
    key("login_protect", "timeout", "duration")
        .default("\"2s\"")
        .dur("1s", "30s")
        .ex(
            "\"3s\"",
            "One deadline for DNS, connect, TLS and the whole answer.",
        ),
    key("login_protect", "wait_for_unlock", "boolean")
        .default("false")
        .ex(
            "true",
            "On \"locked\", prompt \"unlock on your device, then press Enter\" and ask once more.",
        ),
    key("login_protect", "disabled", "boolean")
        .default("false")
        .ex(
            "true",
            "Switch login protect off for every host using this file (ticketgate protect disable \
             does it for one host).",
        ),
    // [fleet]
    key("fleet", "url", "URL").default_text(REQUIRED).ex(
        "\"https://ticketgate.example.com:8443\"",
        "The fleet server: https://, plain http:// only for loopback. A path is kept.",
    ),
    key("fleet", "secret_file", "path")
        .default_text(REQUIRED)
        .ex(
            "\"/etc/security/ticketgate.d/fleet.secret\"",
            "File holding this host's token (first line), sent as Authorization: Bearer.",
        ),
    key("fleet", "timeout", "duration")
        .default("\"2s\"")
        .dur("1s", "30s")
        .ex(
            "\"3s\"",
            "One deadline for DNS, connect, TLS and the whole answer of a line's own request; the \
             spooled events a line sends share another.",
        ),
    key("fleet", "ca_file", "path")
        .default_text("none: the system trust roots")
        .ex(
            "\"/etc/ssl/certs/fleet-ca.pem\"",
            "PEM certificates that replace the system roots for this server.",
        ),
    // [agent]
    key("agent", "url", "URL").default_text(REQUIRED).ex(
        "\"https://ticketgate.example.com:8443\"",
        "The server the agent polls: https://, plain http:// only for loopback. A path is kept.",
    ),
    key("agent", "secret_file", "path")
        .default_text(REQUIRED)
        .ex(
            "\"/etc/security/ticketgate.d/fleet.secret\"",
            "File holding this host's token (first line), sent as Authorization: Bearer; the same \
             [[host]] token [fleet] uses.",
        ),
    key("agent", "interval", "duration")
        .default("\"60s\"")
        .dur("1s", "1h")
        .ex(
            "\"30s\"",
            "Time between two polls, give or take 10 % at random; a longer interval the server asks for is \
             honoured up to 10 times this. While the server is unreachable the wait doubles up to \
             10 times this.",
        ),
    key("agent", "ca_file", "path")
        .default_text("none: the system trust roots")
        .ex(
            "\"/etc/ssl/certs/fleet-ca.pem\"",
            "PEM certificates that replace the system roots for this server.",
        ),
    key("agent", "tasks", "list of strings")
        .default(
            "[\"reset_password\", \"verify_password\", \"lock\", \"unlock\", \"must_change\", \"terminate\"]",
        )
        .words(&[
            w("reset_password", "set a new password through chpasswd (the host's password rules apply)"),
            w("verify_password", "compare a password with the shadow hash (no login, nothing counted)"),
            w("lock", "as ticketgate lock"),
            w("unlock", "as ticketgate unlock"),
            w("must_change", "as ticketgate must-change"),
            w("terminate", "as ticketgate terminate"),
        ])
        .ex(
            "[\"verify_password\", \"lock\", \"terminate\"]",
            "The kinds of task this host runs; any other is refused and reported as not_allowed.",
        ),
    // [offline]
    key("offline", "ticket", "list of strings")
        .default("[\"deny\"]")
        .words(&[
            w("cached", "a ticket this user had accepted online on this host within cached_for, while its change window is open"),
            w("breakglass", "a single-use code from ticketgate breakglass generate"),
            w("allow", "let the login on without a ticket"),
            w("deny", "refuse (PAM_AUTHINFO_UNAVAIL)"),
        ])
        .ex(
            "[\"cached\", \"breakglass\", \"deny\"]",
            "Modes tried in order while the ticket system is unreachable; the first that decides wins.",
        ),
    key("offline", "login_protect", "string")
        .default("\"deny\"")
        .words(&[
            w("unlocked", "password only (PassLogic's default)"),
            w("hybrid", "the user's offline PIN (ticketgate offline-pin set), then the password"),
            w("deny", "refuse (PAM_AUTHINFO_UNAVAIL)"),
        ])
        .ex(
            "\"hybrid\"",
            "What happens while the login-protect server is unreachable.",
        ),
    key("offline", "fleet", "string")
        .default("\"local\"")
        .words(&[
            w("local", "the host's own counting and locks go on; events are spooled for the server"),
            w("deny", "refuse the logins of fleet scopes (PAM_AUTHINFO_UNAVAIL)"),
        ])
        .ex(
            "\"deny\"",
            "What happens while the fleet server is unreachable (fleet_offline is logged once per login).",
        ),
    key("offline", "cached_for", "duration")
        .default("\"8h\"")
        .dur("0s", "30d")
        .ex(
            "\"4h\"",
            "How old an online acceptance may be for the cached mode.",
        ),
    key("offline", "retry_after", "duration")
        .default("\"30s\"")
        .dur("0s", "1h")
        .ex(
            "\"1m\"",
            "After a server was unreachable, skip it this long (a breaker shared by all processes).",
        ),
];

/// The keys of one table, in order.
pub fn of(table: &str) -> impl Iterator<Item = &'static Key> + '_ {
    KEYS.iter().filter(move |k| k.table == table)
}

#[cfg(test)]
mod tests;
