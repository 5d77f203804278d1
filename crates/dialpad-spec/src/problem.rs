//! [`Problem`]: one way a request or response departs from the spec, with a readable location
//! ("body.contact_type", "query.limit", "path.id") and a message naming what is expected.
//! Also the translation of `jsonschema` validation errors into problems.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::{Location, LocationSegment};
use jsonschema::{JsonType, ValidationError};
use serde_json::Value;

use crate::normalise::INT64_STRING_PATTERN;

/// One way a request or response departs from the spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct Problem {
    /// Where: `body`, `body.<field>[.<field or index>…]`, `query.<name>` or `path.<name>`.
    pub location: String,
    /// What is wrong and what is expected, for a human.
    pub message: String,
}

impl Problem {
    pub fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            location: location.into(),
            message: message.into(),
        }
    }
}

/// The part of an HTTP exchange being validated; it prefixes locations and names things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Body,
    Query,
    Path,
}

impl Part {
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Part::Body => "body",
            Part::Query => "query",
            Part::Path => "path",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Part::Body => "field",
            Part::Query => "query parameter",
            Part::Path => "path parameter",
        }
    }
}

/// Translates one validation error against `schema` (the normalised schema the validator was
/// built from) into problems; an unknown-fields error yields one problem per unknown field.
pub(crate) fn from_validation_error(
    part: Part,
    schema: &Value,
    error: &ValidationError<'_>,
) -> Vec<Problem> {
    let path = relative_path(error.instance_path());
    let location = join(part.prefix(), &path);
    let subject = subject(part, &path);
    let got = describe(error.instance());
    let message = match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let known = known_fields(schema, error.schema_path());
            return unexpected
                .iter()
                .map(|field| {
                    let expected = if known.is_empty() {
                        "this object takes none".to_owned()
                    } else {
                        format!("expected one of: {}", known.join(", "))
                    };
                    Problem::new(
                        join(&location, field),
                        format!("unknown {} `{field}`; {expected}", part.noun()),
                    )
                })
                .collect();
        }
        ValidationErrorKind::Required { property } => {
            let name = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_owned);
            return vec![Problem::new(
                join(&location, &name),
                format!("missing required {} `{name}`", part.noun()),
            )];
        }
        ValidationErrorKind::Type { kind } => {
            format!("{subject} must be {}, got {got}", expected_types(kind))
        }
        ValidationErrorKind::Enum { options } => {
            format!(
                "{subject} must be one of: {}; got {got}",
                list_options(options)
            )
        }
        ValidationErrorKind::Pattern { pattern } if pattern == INT64_STRING_PATTERN => {
            format!("{subject} must be an integer or a string of decimal digits; got {got}")
        }
        ValidationErrorKind::Pattern { pattern } => {
            format!("{subject} must match the pattern `{pattern}`; got {got}")
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            closest_alternative(
                part,
                schema,
                error.schema_path(),
                context,
                (&location, &subject),
            )
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            format!("{subject} fits more than one of the allowed shapes")
        }
        _ => format!("{subject}: {error}"),
    };
    vec![Problem::new(location, message)]
}

/// "matches none of the allowed shapes" plus why the closest non-null shape failed.
fn closest_alternative(
    part: Part,
    schema: &Value,
    schema_path: &Location,
    context: &[Vec<ValidationError<'static>>],
    (location, subject): (&str, &str),
) -> String {
    let branches = schema_at(schema, schema_path).and_then(Value::as_array);
    let is_null_branch = |index: usize| {
        branches
            .and_then(|b| b.get(index))
            .is_some_and(|b| b.get("type") == Some(&Value::String("null".to_owned())))
    };
    let closest = context
        .iter()
        .enumerate()
        .filter(|(index, errors)| !is_null_branch(*index) && !errors.is_empty())
        .min_by_key(|(_, errors)| errors.len());
    let Some((index, errors)) = closest else {
        return format!("{subject} matches none of the allowed shapes");
    };
    let title = branches
        .and_then(|b| b.get(index))
        .and_then(|b| b.get("title"))
        .and_then(Value::as_str)
        .map(|t| format!(" ({})", t.trim_end_matches('.')))
        .unwrap_or_default();
    let reasons: Vec<String> = errors
        .iter()
        .flat_map(|error| from_validation_error(part, schema, error))
        .map(|problem| {
            if problem.location == location {
                problem.message
            } else {
                problem.to_string()
            }
        })
        .collect();
    format!(
        "{subject} matches none of the allowed shapes; the closest{title} fails with: {}",
        reasons.join("; ")
    )
}

/// The instance path as dotted segments (`contact.phones.0`), empty at the root.
fn relative_path(location: &Location) -> String {
    location
        .segments()
        .map(|segment| segment.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

fn join(prefix: &str, rest: &str) -> String {
    if rest.is_empty() {
        prefix.to_owned()
    } else {
        format!("{prefix}.{rest}")
    }
}

fn subject(part: Part, path: &str) -> String {
    if path.is_empty() {
        format!("the {}", part.prefix())
    } else {
        format!("`{path}`")
    }
}

/// The property names of the object schema whose `additionalProperties` keyword failed.
fn known_fields(schema: &Value, keyword: &Location) -> Vec<String> {
    let segments: Vec<_> = keyword.segments().collect();
    let parent = &segments[..segments.len().saturating_sub(1)];
    walk(schema, parent)
        .and_then(|object| object.get("properties"))
        .and_then(Value::as_object)
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default()
}

fn schema_at<'s>(schema: &'s Value, location: &Location) -> Option<&'s Value> {
    let segments: Vec<_> = location.segments().collect();
    walk(schema, &segments)
}

fn walk<'s>(mut schema: &'s Value, segments: &[LocationSegment<'_>]) -> Option<&'s Value> {
    for segment in segments {
        schema = match segment {
            LocationSegment::Property(name) => schema.get(name.as_ref())?,
            LocationSegment::Index(index) => match schema {
                Value::Array(items) => items.get(*index)?,
                _ => schema.get(index.to_string())?,
            },
        };
    }
    Some(schema)
}

fn expected_types(kind: &TypeKind) -> String {
    let types: Vec<JsonType> = match kind {
        TypeKind::Single(single) => vec![*single],
        TypeKind::Multiple(set) => set.iter().collect(),
    };
    let int64 = types.contains(&JsonType::Integer) && types.contains(&JsonType::String);
    let mut words: Vec<&str> = Vec::new();
    for ty in &types {
        let word = match ty {
            JsonType::Integer if int64 => "an integer (or a string of decimal digits)",
            JsonType::String if int64 => continue,
            JsonType::Null => "null",
            JsonType::Boolean => "a boolean",
            JsonType::Integer => "an integer",
            JsonType::Number => "a number",
            JsonType::String => "a string",
            JsonType::Array => "an array",
            JsonType::Object => "an object",
        };
        words.push(word);
    }
    // Put null last: "a string or null".
    words.sort_by_key(|word| *word == "null");
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_owned(),
        None => "something else".to_owned(),
    }
}

fn list_options(options: &Value) -> String {
    match options {
        Value::Array(values) => values
            .iter()
            .filter(|value| !value.is_null())
            .map(|value| {
                value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned)
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// A short description of a received value: scalars verbatim (strings shortened), containers by kind.
fn describe(value: &Value) -> String {
    match value {
        Value::String(text) if text.chars().count() > 60 => {
            let short: String = text.chars().take(57).collect();
            format!("\"{short}...\"")
        }
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
        scalar => scalar.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn display_joins_location_and_message() {
        let problem = Problem::new(
            "body.contact_type",
            "`contact_type` must be one of: local, shared",
        );
        assert_eq!(
            problem.to_string(),
            "body.contact_type: `contact_type` must be one of: local, shared"
        );
    }

    #[test]
    fn describes_values_briefly() {
        assert_eq!(describe(&json!("x".repeat(100))).len(), 62);
        assert_eq!(describe(&json!([1])), "an array");
        assert_eq!(describe(&json!(3)), "3");
    }
}
