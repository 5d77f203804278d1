//! Required fields given as `null`. Dialpad's spec marks nearly every field `nullable`, its
//! required ones too (`name` of a channel, `phone_number` of a call), so `null` passes the
//! schema; but a required field with no value is semantically missing, and Dialpad answers
//! 400 naming it. This finds the first such field against the operation's normalised
//! request schema, following the alternative (`anyOf`) the value takes.

use serde_json::{Map, Value};

/// The location (`body.participant.number`) of the first required field whose value is
/// `null`, if any.
pub fn null_required_field(schema: &Value, value: &Value) -> Option<String> {
    find(schema, value, "body")
}

fn find(schema: &Value, value: &Value, at: &str) -> Option<String> {
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
        return in_alternatives(branches, value, at);
    }
    match value {
        Value::Object(fields) => in_object(schema, fields, at),
        Value::Array(items) => {
            let item_schema = schema.get("items")?;
            items
                .iter()
                .enumerate()
                .find_map(|(i, item)| find(item_schema, item, &format!("{at}.{i}")))
        }
        _ => None,
    }
}

fn in_object(schema: &Value, fields: &Map<String, Value>, at: &str) -> Option<String> {
    let properties = schema.get("properties").and_then(Value::as_object)?;
    let required = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    for name in required {
        if fields.get(name) == Some(&Value::Null) {
            return Some(format!("{at}.{name}"));
        }
    }
    fields.iter().find_map(|(name, field)| {
        let field_schema = properties.get(name)?;
        find(field_schema, field, &format!("{at}.{name}"))
    })
}

/// The value already matched one of the alternatives (the spec check ran): look inside those
/// whose fields it fits. Only when every fitting one lacks a required value is it missing.
fn in_alternatives(branches: &[Value], value: &Value, at: &str) -> Option<String> {
    let mut found = None;
    for branch in branches.iter().filter(|b| fits(b, value)) {
        match find(branch, value, at) {
            None => return None,
            Some(location) => found = found.or(Some(location)),
        }
    }
    found
}

/// Whether `value` could be of `branch`'s shape: an object whose fields the branch declares
/// (objects are closed), or anything for a branch that is not an object schema.
fn fits(branch: &Value, value: &Value) -> bool {
    if branch.get("type") == Some(&Value::String("null".into())) {
        return value.is_null();
    }
    match (branch.get("properties").and_then(Value::as_object), value) {
        (Some(properties), Value::Object(fields)) => {
            fields.keys().all(|k| properties.contains_key(k))
        }
        (Some(_), _) => false,
        (None, _) => true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::null_required_field;

    fn schema(operation_id: &str) -> serde_json::Value {
        dialpad_spec::spec()
            .operation(operation_id)
            .and_then(|op| op.request_body_schema())
            .expect("a request body")
    }

    #[test]
    fn names_required_fields_given_as_null() {
        let channels = schema("channels.post");
        let body = json!({ "name": null, "description": "d", "privacy_type": "public" });
        assert_eq!(
            null_required_field(&channels, &body).as_deref(),
            Some("body.name")
        );
        let body =
            json!({ "name": "n", "description": "d", "privacy_type": "public", "user_id": null });
        assert_eq!(
            null_required_field(&channels, &body),
            None,
            "optional nulls are absent"
        );

        let ring = schema("call.call");
        let body = json!({ "phone_number": null, "user_id": "1" });
        assert_eq!(
            null_required_field(&ring, &body).as_deref(),
            Some("body.phone_number")
        );
    }

    #[test]
    fn follows_the_alternative_the_value_takes() {
        let add = schema("call.participants.add");
        assert_eq!(
            null_required_field(&add, &json!({ "participant": null })).as_deref(),
            Some("body.participant")
        );
        assert_eq!(
            null_required_field(&add, &json!({ "participant": { "number": null } })).as_deref(),
            Some("body.participant.number")
        );
        let target = json!({ "participant": { "target_id": "5", "target_type": null } });
        assert_eq!(
            null_required_field(&add, &target).as_deref(),
            Some("body.participant.target_type")
        );
        let fine = json!({ "participant": { "number": "+14155550150" } });
        assert_eq!(null_required_field(&add, &fine), None);
    }
}
