//! The config file exactly as written: serde structs that reject unknown keys and wrong types.
//! Every value that is checked later keeps its span so its error can name the line.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub version: S<i64>,
    #[serde(default)]
    pub module: RawModule,
    #[serde(default)]
    pub scope: Vec<S<RawScope>>,
    #[serde(default)]
    pub policy: BTreeMap<String, S<RawPolicy>>,
    pub ticket: Option<S<RawTicket>>,
    pub login_protect: Option<S<RawProtect>>,
    pub fleet: Option<S<RawFleet>>,
    pub agent: Option<S<RawAgent>>,
    #[serde(default)]
    pub offline: RawOffline,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModule {
    pub state_dir: Option<S<String>>,
    pub run_dir: Option<S<String>>,
    pub fail_delay: Option<S<String>>,
    pub unprivileged: Option<S<String>>,
    pub state_unwritable: Option<S<String>>,
    pub audit_file: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScope {
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub services: Vec<String>,
    pub hosts: Option<S<String>>,
    pub policy: Option<S<String>>,
    pub pin_policy: Option<S<String>>,
    #[serde(default)]
    pub ticket: bool,
    #[serde(default)]
    pub login_protect: bool,
    pub protect_service_id: Option<S<String>>,
    #[serde(default)]
    pub fleet: bool,
    pub mode: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub failed_logon: Option<S<i64>>,
    pub reset_failed_after: Option<S<String>>,
    pub lockout_duration: Option<S<String>>,
    pub min_length: Option<S<i64>>,
    pub min_change_interval: Option<S<String>>,
    pub expires_after: Option<S<String>>,
    pub expiry_warning: Option<S<String>>,
    pub inactive_after: Option<S<String>>,
    pub history: Option<S<i64>>,
    pub check_trivial: Option<bool>,
    pub lock_root: Option<bool>,
    pub local_users_only: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTicket {
    pub system: S<String>,
    pub base_url: Option<S<String>>,
    pub auth: Option<S<String>>,
    pub username: Option<S<String>>,
    pub secret_file: Option<S<String>>,
    pub token_url: Option<S<String>>,
    pub client_id: Option<S<String>>,
    pub client_secret_file: Option<S<String>>,
    pub refresh_token_file: Option<S<String>>,
    pub table: Option<S<String>>,
    pub id_pattern: Option<S<String>>,
    pub prompt: Option<S<String>>,
    pub timeout: Option<S<String>>,
    pub cache: Option<S<String>>,
    pub ca_file: Option<S<String>>,
    pub user_map: Option<S<String>>,
    pub api_version: Option<S<i64>>,
    pub module: Option<S<String>>,
    pub portal: Option<S<String>>,
    pub url: Option<S<String>>,
    #[serde(default)]
    pub condition: Vec<S<RawCondition>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    pub field: Option<S<String>>,
    pub doc: Option<S<String>>,
    pub op: S<String>,
    pub value: Option<S<toml::Value>>,
    pub values: Option<S<Vec<toml::Value>>>,
    pub from: Option<S<String>>,
    #[serde(default)]
    pub ci: bool,
    pub start: Option<S<String>>,
    pub end: Option<S<String>>,
    pub time_format: Option<S<String>>,
    pub skew: Option<S<String>>,
    #[serde(rename = "where")]
    pub where_: Option<Box<S<RawCondition>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProtect {
    pub url: S<String>,
    pub service_id: S<String>,
    pub secret_file: S<String>,
    pub timeout: Option<S<String>>,
    #[serde(default)]
    pub wait_for_unlock: bool,
    #[serde(default)]
    pub disabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFleet {
    pub url: S<String>,
    pub secret_file: S<String>,
    pub timeout: Option<S<String>>,
    pub ca_file: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgent {
    pub url: S<String>,
    pub secret_file: S<String>,
    pub interval: Option<S<String>>,
    pub ca_file: Option<S<String>>,
    pub tasks: Option<S<Vec<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOffline {
    pub ticket: Option<S<Vec<String>>>,
    pub login_protect: Option<S<String>>,
    pub fleet: Option<S<String>>,
    pub cached_for: Option<S<String>>,
    pub retry_after: Option<S<String>>,
}
