//! serde's words for a body or query that does not fit its route, said the way the rest of the
//! API says it: the field to blame (`rate_limits.per_second`, `steps[1].enabled`) and what it
//! must be ("must be a whole number from 0 to 4294967295, got -3"), not Rust's names for types
//! (`u32`, `struct RateLimits`, `a sequence`). A message in a form not known here is kept as
//! serde wrote it.

use dialbridge_core::FieldError;

/// The part of a request serde read.
#[derive(Clone, Copy)]
pub enum Part {
    Body,
    Query,
}

impl Part {
    /// The field that names the part as a whole.
    fn name(self) -> &'static str {
        match self {
            Part::Body => "body",
            Part::Query => "query",
        }
    }

    /// What the part's entries are called.
    fn entry(self) -> &'static str {
        match self {
            Part::Body => "field",
            Part::Query => "parameter",
        }
    }
}

/// The longest field path and message said back: both can hold what the client sent (an
/// unknown key, an enum value), which may be as long as the body.
const MAX_FIELD: usize = 128;
const MAX_MESSAGE: usize = 512;

/// The problem serde found at `path` of `part` (`.` for the whole of it). `message` is
/// serde's, without serde_json's " at line L column C".
pub fn field_error(part: Part, path: &str, message: &str) -> FieldError {
    let FieldError { field, message } = in_api_words(part, path, message);
    FieldError::new(shortened(field, MAX_FIELD), shortened(message, MAX_MESSAGE))
}

fn in_api_words(part: Part, path: &str, message: &str) -> FieldError {
    let at = |child: Option<&str>| {
        let parent = (path != ".").then_some(path);
        match (parent, child) {
            (Some(parent), Some(child)) => format!("{parent}.{child}"),
            (Some(parent), None) => parent.to_owned(),
            (None, Some(child)) => child.to_owned(),
            (None, None) => part.name().to_owned(),
        }
    };
    if let Some(name) = quoted_after(message, "missing field ") {
        return FieldError::new(at(Some(name)), "is required");
    }
    if let Some(name) = quoted_after(message, "duplicate field ") {
        return FieldError::new(at(Some(name)), "is given more than once");
    }
    FieldError::new(at(None), plain(part, message))
}

/// One of serde's messages about a value, as "must be …".
fn plain(part: Part, message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let entry = part.entry();
        return match after_quoted(rest) {
            Some((_, "there are no fields")) => format!("is not a {entry} here; there are none"),
            Some((_, expected)) => format!("is not a {entry} here; {expected}"),
            None => format!("is not a {entry} here"),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        return match after_quoted(rest) {
            Some((value, expected)) => format!("{value} is not a valid value; {expected}"),
            None => format!("{rest} is not a valid value"),
        };
    }
    if let Some(rest) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
    {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return format!(
                "must be {}, got {}",
                expected_words(expected),
                found_words(found)
            );
        }
    }
    if let Some(rest) = message.strip_prefix("invalid length ") {
        if let Some((_, expected)) = rest.split_once(", expected ") {
            return format!("must be {}", expected_words(expected));
        }
    }
    match message {
        "invalid digit found in string" | "cannot parse integer from empty string" => {
            "must be a whole number".into()
        }
        other => other.into(),
    }
}

/// What serde expected, in JSON's words.
fn expected_words(expected: &str) -> String {
    let whole = |min: i128, max: i128| format!("a whole number from {min} to {max}");
    match expected {
        "a string" | "a borrowed string" | "a character" => "a string".into(),
        "a boolean" => "true or false".into(),
        "a sequence" | "a tuple" => "an array".into(),
        "a map" => "an object".into(),
        "u8" => whole(0, u8::MAX.into()),
        "u16" => whole(0, u16::MAX.into()),
        "u32" => whole(0, u32::MAX.into()),
        "u64" | "usize" => whole(0, u64::MAX.into()),
        "i8" => whole(i8::MIN.into(), i8::MAX.into()),
        "i16" => whole(i16::MIN.into(), i16::MAX.into()),
        "i32" => whole(i32::MIN.into(), i32::MAX.into()),
        "i64" | "isize" => whole(i64::MIN.into(), i64::MAX.into()),
        "f32" | "f64" => "a number".into(),
        other if other.starts_with("struct ") => "an object".into(),
        other => other.into(),
    }
}

/// What serde found, in JSON's words; never the value of a string, which may be long.
fn found_words(found: &str) -> String {
    if let Some(number) = ["integer `", "floating point `", "boolean `"]
        .iter()
        .find_map(|prefix| found.strip_prefix(prefix))
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return number.to_owned();
    }
    match found {
        "sequence" => "an array".into(),
        "map" => "an object".into(),
        "unit" | "null" => "null".into(),
        other if other.starts_with("string ") || other.starts_with("char ") => "a string".into(),
        other => other.into(),
    }
}

/// `text` cut to at most `max` bytes (at a character's boundary), with "…" where it was cut.
fn shortened(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// serde's "`what the client sent`, expected …" (or ", there are no fields") split after the
/// quote. The client's part may hold ", " and backticks; serde's own part holds neither
/// "`, expected " nor "`, there are no ", so the split is at the last of those.
fn after_quoted(rest: &str) -> Option<(&str, &str)> {
    ["`, expected ", "`, there are no "]
        .iter()
        .filter_map(|marker| rest.rfind(marker))
        .max()
        .map(|at| (&rest[..=at], &rest[at + "`, ".len()..]))
}

/// `name` from a message that goes on "`name`…" after `prefix`.
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message
        .strip_prefix(prefix)?
        .strip_prefix('`')?
        .split_once('`')
        .map(|(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(path: &str, message: &str) -> (String, String) {
        let e = field_error(Part::Body, path, message);
        (e.field, e.message)
    }

    #[test]
    fn types_are_named_as_json_names_them() {
        let cases = [
            (
                "name",
                "invalid type: integer `5`, expected a string",
                "name",
                "must be a string, got 5",
            ),
            (
                "rate_limits.per_second",
                "invalid value: integer `-3`, expected u32",
                "rate_limits.per_second",
                "must be a whole number from 0 to 4294967295, got -3",
            ),
            (
                "rate_limits.per_second",
                "invalid type: floating point `1.5`, expected u32",
                "rate_limits.per_second",
                "must be a whole number from 0 to 4294967295, got 1.5",
            ),
            (
                "rate_limits",
                "invalid type: string \"x\", expected struct RateLimits",
                "rate_limits",
                "must be an object, got a string",
            ),
            (
                "scopes",
                "invalid type: map, expected a sequence",
                "scopes",
                "must be an array, got an object",
            ),
            (
                "steps[1].enabled",
                "invalid type: null, expected a boolean",
                "steps[1].enabled",
                "must be true or false, got null",
            ),
            (
                ".",
                "invalid length 0, expected struct AccountPatch with 2 elements",
                "body",
                "must be an object",
            ),
            (
                ".",
                "invalid type: sequence, expected a map",
                "body",
                "must be an object, got an array",
            ),
        ];
        for (path, message, field, expected) in cases {
            assert_eq!(
                said(path, message),
                (field.to_owned(), expected.to_owned()),
                "{message}"
            );
        }
    }

    #[test]
    fn missing_unknown_and_repeated_fields_are_named() {
        assert_eq!(
            said(".", "missing field `url`"),
            ("url".into(), "is required".into())
        );
        assert_eq!(
            said("trigger", "missing field `event`"),
            ("trigger.event".into(), "is required".into())
        );
        assert_eq!(
            said(
                "bogus",
                "unknown field `bogus`, expected `name` or `metadata`"
            ),
            (
                "bogus".into(),
                "is not a field here; expected `name` or `metadata`".into()
            )
        );
        // What the client sent may look like serde's own words.
        assert_eq!(
            said(
                "a, b",
                "unknown field `a, b`, expected `name` or `metadata`"
            )
            .1,
            "is not a field here; expected `name` or `metadata`"
        );
        assert_eq!(
            said(
                "t",
                "unknown variant `x`, y`, expected `event` or `schedule`"
            )
            .1,
            "`x`, y` is not a valid value; expected `event` or `schedule`"
        );
        assert_eq!(
            said("k", "unknown field `k`, there are no fields").1,
            "is not a field here; there are none"
        );
        assert_eq!(
            said(".", "duplicate field `url`"),
            ("url".into(), "is given more than once".into())
        );
        assert_eq!(
            said(
                "trigger.type",
                "unknown variant `bogus`, expected `event` or `schedule`"
            ),
            (
                "trigger.type".into(),
                "`bogus` is not a valid value; expected `event` or `schedule`".into()
            )
        );
    }

    #[test]
    fn a_string_found_is_not_repeated_and_other_words_are_kept() {
        let long = format!(
            "invalid type: string \"{}\", expected a boolean",
            "x".repeat(10_000)
        );
        assert_eq!(said("on", &long).1, "must be true or false, got a string");
        // What the client sent comes back bounded: an unknown key in the path, a value.
        let key = "é".repeat(5_000);
        let (field, message) = said(
            &format!("trigger.{key}"),
            &format!("unknown variant `{key}`, expected `event`"),
        );
        assert!(
            field.len() <= MAX_FIELD + '…'.len_utf8() && field.ends_with('…'),
            "{field}"
        );
        assert!(message.len() <= MAX_MESSAGE + '…'.len_utf8(), "{message}");
        assert_eq!(
            said("at", "input contains invalid characters").1,
            "input contains invalid characters"
        );
        assert_eq!(
            field_error(Part::Query, "limit", "invalid digit found in string").message,
            "must be a whole number"
        );
        assert_eq!(
            field_error(
                Part::Query,
                "since",
                "unknown field `since`, expected `limit`"
            )
            .message,
            "is not a parameter here; expected `limit`"
        );
    }
}
