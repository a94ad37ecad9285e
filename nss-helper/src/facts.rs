//! Everything nss-helper knows about one user, gathered in one call.

use serde::Serialize;

use crate::account::{Account, group_names, lookup_user};
use crate::error::NssError;
use crate::local::{Source, is_local_user};

/// An account with its group names and source; serialises as one flat JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountFacts {
    /// The passwd entry.
    #[serde(flatten)]
    pub account: Account,
    /// Group names, primary first.
    pub groups: Vec<String>,
    /// Local or directory.
    pub source: Source,
}

/// The account, its groups and its source; `Ok(None)` for a user NSS does not know.
///
/// A user listed in /etc/passwd that NSS does not return (passwd not using `files`) is
/// `Ok(None)` here too: without NSS there is no account to describe.
pub fn facts(name: &str) -> Result<Option<AccountFacts>, NssError> {
    let Some(account) = lookup_user(name)? else {
        return Ok(None);
    };
    let groups = group_names(&account)?;
    // Check the name NSS returned: a directory may have folded the case of the one asked for.
    let source = if is_local_user(&account.name)? {
        Source::Local
    } else {
        Source::Directory
    };
    Ok(Some(AccountFacts {
        account,
        groups,
        source,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_facts_are_local_with_root_group() {
        let facts = facts("root").unwrap().expect("root must exist");
        assert_eq!(facts.account.uid, 0);
        assert_eq!(facts.source, Source::Local);
        assert!(
            facts.groups.iter().any(|g| g == "root"),
            "{:?}",
            facts.groups
        );
    }

    #[test]
    fn unknown_user_has_no_facts() {
        assert_eq!(facts("no-such-user-ticketgate-7f3a").unwrap(), None);
    }

    #[test]
    fn facts_serialise_flat() {
        let json = serde_json::to_value(facts("root").unwrap().unwrap()).unwrap();
        assert_eq!(json["name"], "root");
        assert_eq!(json["uid"], 0);
        assert_eq!(json["home"], "/root");
        assert_eq!(json["source"], "local");
        assert!(json["gecos"]["full_name"].is_string());
        assert!(json.get("account").is_none(), "{json}");
    }
}
