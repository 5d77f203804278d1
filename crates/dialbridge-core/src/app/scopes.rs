//! Dialpad's documented OAuth scopes and the rules for the app's selection: `offline_access`
//! is always in, catalog names are checked, custom scopes are kept apart and flagged.

use serde::{Deserialize, Serialize};

use crate::error::{Error, FieldError};

pub struct ScopeInfo {
    pub name: &'static str,
    pub description: &'static str,
    /// What the scope lets the vendor do, in words for the vendor's customers (the connect
    /// page shows these).
    pub plain: &'static str,
}

/// Dialpad's documented scopes (shared/dialpad/DIALPAD.md), described in our words.
pub const CATALOG: &[ScopeInfo] = &[
    ScopeInfo {
        name: "offline_access",
        description: "A refresh token, so access survives the access token's expiry",
        plain: "Stay connected without asking you to sign in again",
    },
    ScopeInfo {
        name: "calls:list",
        description: "List calls (GET /api/v2/call)",
        plain: "See your call history",
    },
    ScopeInfo {
        name: "recordings_export",
        description: "Recording URLs inside call events and call data",
        plain: "Access your call recordings",
    },
    ScopeInfo {
        name: "message_content_export",
        description: "The text of SMS messages in SMS events",
        plain: "Read the text of your SMS messages",
    },
    ScopeInfo {
        name: "message_content_export:all",
        description: "SMS message text for the whole company, not just the user",
        plain: "Read the text of SMS messages across your company",
    },
    ScopeInfo {
        name: "screen_pop",
        description: "Trigger screen pops (POST /api/v2/users/{id}/screenpop)",
        plain: "Show caller details on your screen",
    },
    ScopeInfo {
        name: "change_log",
        description: "Change-log event subscriptions",
        plain: "Be told about changes in your Dialpad account",
    },
    ScopeInfo {
        name: "conference:read",
        description: "Meeting (conference) data",
        plain: "See your meetings",
    },
    ScopeInfo {
        name: "conference:all",
        description: "Dialpad Meetings call events",
        plain: "Be told about your meetings as they happen",
    },
    ScopeInfo {
        name: "fax_message",
        description: "Fax messages",
        plain: "Access your fax messages",
    },
];

/// Scopes every connection gets, whatever the app selects.
pub const MANDATORY_SCOPES: &[&str] = &["offline_access"];

/// A scope in words for the vendor's customers; `None` outside the catalog.
pub fn plain_words(name: &str) -> Option<&'static str> {
    CATALOG.iter().find(|s| s.name == name).map(|s| s.plain)
}

pub(crate) fn describe(name: &str) -> Option<&'static str> {
    CATALOG
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.description)
}

/// The app's chosen scopes, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeSelection {
    pub scopes: Vec<String>,
    #[serde(default)]
    pub custom_scopes: Vec<String>,
}

impl ScopeSelection {
    /// Checks every name, drops duplicates and keeps the order given.
    pub fn validated(scopes: Vec<String>, custom_scopes: Vec<String>) -> Result<Self, Error> {
        let mut selection = ScopeSelection::default();
        for scope in scopes {
            let scope = scope.trim().to_owned();
            if describe(&scope).is_none() {
                return Err(Error::InvalidScope { scope });
            }
            push_unique(&mut selection.scopes, scope);
        }
        let mut problems = Vec::new();
        for (i, scope) in custom_scopes.into_iter().enumerate() {
            let scope = scope.trim().to_owned();
            if !well_formed(&scope) {
                problems.push(FieldError::new(
                    format!("custom_scopes[{i}]"),
                    "a scope is 1 to 64 characters of a-z, A-Z, 0-9, ':', '_', '.', '-'",
                ));
            } else if describe(&scope).is_some() {
                // A catalog scope given as custom is simply selected.
                push_unique(&mut selection.scopes, scope);
            } else {
                push_unique(&mut selection.custom_scopes, scope);
            }
        }
        if !problems.is_empty() {
            return Err(Error::InvalidInput(problems));
        }
        Ok(selection)
    }

    /// What connect flows ask Dialpad for: the mandatory scopes, the selection, the custom ones.
    pub fn effective(&self) -> Vec<String> {
        let mut all: Vec<String> = MANDATORY_SCOPES.iter().map(|s| s.to_string()).collect();
        for scope in self.scopes.iter().chain(&self.custom_scopes) {
            push_unique(&mut all, scope.clone());
        }
        all
    }
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

fn well_formed(scope: &str) -> bool {
    (1..=64).contains(&scope.len())
        && scope
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn offline_access_is_always_effective() {
        let sel = ScopeSelection::validated(vec![], vec![]).unwrap();
        assert_eq!(sel.effective(), strings(&["offline_access"]));
        let sel =
            ScopeSelection::validated(strings(&["calls:list", "offline_access"]), vec![]).unwrap();
        assert_eq!(sel.effective(), strings(&["offline_access", "calls:list"]));
    }

    #[test]
    fn unknown_scope_is_named() {
        match ScopeSelection::validated(strings(&["calls:list", "calls:write"]), vec![]) {
            Err(Error::InvalidScope { scope }) => assert_eq!(scope, "calls:write"),
            other => panic!("expected invalid_scope, got {other:?}"),
        }
    }

    #[test]
    fn custom_scopes_are_kept_apart_and_checked() {
        let sel = ScopeSelection::validated(
            strings(&["calls:list"]),
            strings(&["settings:write", "calls:list"]),
        )
        .unwrap();
        assert_eq!(sel.custom_scopes, strings(&["settings:write"]));
        assert_eq!(
            sel.effective(),
            strings(&["offline_access", "calls:list", "settings:write"])
        );
        assert!(ScopeSelection::validated(vec![], strings(&["bad scope"])).is_err());
    }
}
