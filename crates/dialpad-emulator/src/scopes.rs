//! The OAuth scopes Dialpad documents, with what each unlocks (for the consent page), and the
//! parsing of a space-separated `scope` parameter.

pub const OFFLINE_ACCESS: &str = "offline_access";

/// Every scope the emulator accepts, with a description for people.
pub const KNOWN: &[(&str, &str)] = &[
    (
        OFFLINE_ACCESS,
        "Keep access when you are not using the app (a refresh token)",
    ),
    ("calls:list", "List your calls"),
    ("recordings_export", "Read call recording links"),
    (
        "message_content_export",
        "Read the text of your SMS messages",
    ),
    (
        "message_content_export:all",
        "Read the text of SMS messages company-wide",
    ),
    ("screen_pop", "Trigger screen pops"),
    ("change_log", "Subscribe to change-log events"),
    ("conference:read", "Read meeting data"),
    ("conference:all", "Receive Dialpad Meetings call events"),
    ("fax_message", "Read fax messages"),
];

pub fn description(scope: &str) -> Option<&'static str> {
    KNOWN.iter().find(|(s, _)| *s == scope).map(|(_, d)| *d)
}

/// Splits a `scope` parameter into distinct scopes, in order; `Err` lists the unknown ones.
pub fn parse(scope: &str) -> Result<Vec<String>, Vec<String>> {
    let mut scopes: Vec<String> = Vec::new();
    let mut unknown = Vec::new();
    for s in scope.split_whitespace() {
        if description(s).is_none() {
            unknown.push(s.to_owned());
        } else if !scopes.iter().any(|known| known == s) {
            scopes.push(s.to_owned());
        }
    }
    if unknown.is_empty() {
        Ok(scopes)
    } else {
        Err(unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_scopes_and_names_unknown_ones() {
        assert_eq!(
            parse("offline_access  calls:list offline_access"),
            Ok(vec!["offline_access".to_owned(), "calls:list".to_owned()])
        );
        assert_eq!(parse(""), Ok(vec![]));
        assert_eq!(
            parse("calls:list settings:write"),
            Err(vec!["settings:write".to_owned()])
        );
    }
}
