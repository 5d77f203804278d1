//! An action's input: one JSON object with the operation's path parameters, query parameters
//! and body fields side by side. Its JSON Schema is derived from the spec; `prepare` checks an
//! input against the spec and splits it into the request Dialpad receives, with values in the
//! spec's types (int64 ids given as strings are sent as numbers where the spec says integer).

use dialpad::{RawBody, RawRequest};
use dialpad_spec::{Operation, ParamLocation};
use serde_json::{json, Map, Value};

use super::catalog::ActionDef;
use crate::error::FieldError;

/// Fields every list action takes besides the operation's own.
pub const LIST_FIELDS: [&str; 4] = ["limit", "cursor", "all", "max_items"];
/// `max_items` when `all` is set without it.
pub const DEFAULT_MAX_ITEMS: u64 = 1000;
const MAX_LIMIT: u64 = 1000;

/// The input schema of an operation-backed action.
pub fn schema(def: &ActionDef, operation: &Operation) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for parameter in &operation.parameters {
        let mut schema = parameter.schema.clone();
        if parameter.location == ParamLocation::Path {
            // Path ids may be given as strings or numbers.
            if schema.get("type") == Some(&json!("string")) {
                schema["type"] = json!(["string", "integer"]);
            }
        }
        if !parameter.description.is_empty() {
            schema["description"] = json!(parameter.description);
        }
        if parameter.required {
            required.push(json!(parameter.name));
        }
        properties.insert(parameter.name.clone(), schema);
    }
    if let Some(body) = operation.request_body_schema() {
        if let Some(fields) = body.get("properties").and_then(Value::as_object) {
            for (name, schema) in fields {
                properties.insert(name.clone(), schema.clone());
            }
        }
        if let Some(fields) = body.get("required").and_then(Value::as_array) {
            required.extend(fields.iter().cloned());
        }
    }
    if def.list {
        properties.insert("limit".into(), json!({ "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "description": "Page size." }));
        properties.insert(
            "cursor".into(),
            json!({ "type": "string", "description": "The cursor of the previous page." }),
        );
        properties.insert("all".into(), json!({ "type": "boolean", "description": "Follow cursors and answer every item, up to max_items." }));
        properties.insert("max_items".into(), json!({ "type": "integer", "minimum": 1, "description": format!("With all: stop after this many items (default {DEFAULT_MAX_ITEMS}).") }));
    }
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// How to page a list action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    pub all: bool,
    pub max_items: u64,
}

/// A checked input: the request to send, and the paging of a list action.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub request: RawRequest,
    pub paging: Option<Paging>,
}

/// Checks `input` against the operation and builds the request; every problem is reported with
/// its field.
pub fn prepare(
    def: &ActionDef,
    operation: &Operation,
    input: &Value,
) -> Result<Prepared, Vec<FieldError>> {
    let Some(fields) = input.as_object() else {
        return Err(vec![FieldError::new("input", "must be a JSON object")]);
    };
    let mut problems = Vec::new();
    let body_schema = operation.request_body_schema();
    let body_fields: Vec<&str> = body_schema
        .as_ref()
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();

    let mut path = Vec::new();
    let mut query = Vec::new();
    let mut body = Map::new();
    let mut paging = def.list.then_some(Paging {
        all: false,
        max_items: DEFAULT_MAX_ITEMS,
    });
    for (name, value) in fields {
        if let Some(parameter) = operation.parameters.iter().find(|p| &p.name == name) {
            match scalar_text(value) {
                Some(texts) if parameter.location == ParamLocation::Path => {
                    match texts.as_slice() {
                        [one] => path.push((name.clone(), one.clone())),
                        _ => problems.push(FieldError::new(name, "must be a single value")),
                    }
                }
                Some(texts) => query.extend(texts.into_iter().map(|t| (name.clone(), t))),
                None => problems.push(FieldError::new(
                    name,
                    "must be a string, a number, a boolean or a list of them",
                )),
            }
        } else if body_fields.contains(&name.as_str()) {
            let mut value = value.clone();
            if let Some(schema) = body_schema
                .as_ref()
                .and_then(|s| s.get("properties"))
                .and_then(|p| p.get(name))
            {
                coerce_int64(&mut value, schema);
            }
            body.insert(name.clone(), value);
        } else if def.list && LIST_FIELDS.contains(&name.as_str()) {
            list_field(name, value, &mut query, paging.as_mut(), &mut problems);
        } else {
            let mut known: Vec<&str> = operation
                .parameters
                .iter()
                .map(|p| p.name.as_str())
                .chain(body_fields.iter().copied())
                .collect();
            if def.list {
                known.extend(LIST_FIELDS);
            }
            known.sort_unstable();
            problems.push(FieldError::new(
                name,
                format!("unknown field; expected one of: {}", known.join(", ")),
            ));
        }
    }
    let body = (operation.has_request_body).then_some(Value::Object(body));
    if let Err(spec_problems) = operation.validate_request(&path, &query, body.as_ref()) {
        problems.extend(spec_problems.into_iter().map(|p| {
            let field = p
                .location
                .split_once('.')
                .map_or(p.location.as_str(), |(_, field)| field)
                .to_owned();
            FieldError::new(field, p.message)
        }));
    }
    if !problems.is_empty() {
        problems.dedup();
        return Err(problems);
    }
    let mut url_path = operation.path.clone();
    for (name, value) in &path {
        let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        url_path = url_path.replace(&format!("{{{name}}}"), &encoded.replace('+', "%20"));
    }
    Ok(Prepared {
        request: RawRequest {
            method: operation.method.parse().unwrap_or(reqwest::Method::GET),
            path: url_path,
            query,
            body: body.map(RawBody::Json),
        },
        paging,
    })
}

/// `limit` and `cursor` go to Dialpad; `all` and `max_items` steer paging here.
fn list_field(
    name: &str,
    value: &Value,
    query: &mut Vec<(String, String)>,
    paging: Option<&mut Paging>,
    problems: &mut Vec<FieldError>,
) {
    let Some(paging) = paging else { return };
    match name {
        "limit" => match value.as_u64().filter(|n| (1..=MAX_LIMIT).contains(n)) {
            Some(n) => query.push(("limit".into(), n.to_string())),
            None => problems.push(FieldError::new(
                name,
                format!("must be a whole number from 1 to {MAX_LIMIT}"),
            )),
        },
        "cursor" => match value.as_str() {
            Some(c) if !c.is_empty() => query.push(("cursor".into(), c.to_owned())),
            Some(_) => {}
            None => problems.push(FieldError::new(
                name,
                "must be the cursor string of the previous page",
            )),
        },
        "all" => match value.as_bool() {
            Some(all) => paging.all = all,
            None => problems.push(FieldError::new(name, "must be true or false")),
        },
        _ => match value.as_u64().filter(|n| *n >= 1) {
            Some(n) => paging.max_items = n,
            None => problems.push(FieldError::new(
                name,
                "must be a whole number of at least 1",
            )),
        },
    }
}

/// A parameter value as the text(s) a URL carries; `None` for objects and nulls.
fn scalar_text(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Number(n) => Some(vec![n.to_string()]),
        Value::Bool(b) => Some(vec![b.to_string()]),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Array(_) => None,
                other => scalar_text(other).and_then(|mut v| v.pop()),
            })
            .collect(),
        Value::Object(_) | Value::Null => None,
    }
}

/// Where the (normalised) spec schema says int64, a string of digits becomes a number.
fn coerce_int64(value: &mut Value, schema: &Value) {
    match value {
        Value::String(text) if schema.get("format") == Some(&json!("int64")) => {
            if let Ok(n) = text.parse::<i64>() {
                *value = json!(n);
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    coerce_int64(item, item_schema);
                }
            }
        }
        Value::Object(fields) => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, field) in fields.iter_mut() {
                    if let Some(field_schema) = properties.get(name) {
                        coerce_int64(field, field_schema);
                    }
                }
            }
            for alternative in ["anyOf", "oneOf"] {
                if let Some(options) = schema.get(alternative).and_then(Value::as_array) {
                    for option in options {
                        coerce_int64(value, option);
                    }
                    return;
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::catalog::find;

    fn prepare_for(key: &str, input: Value) -> Result<Prepared, Vec<FieldError>> {
        let def = find(key).unwrap();
        let operation = dialpad_spec::spec()
            .operation(def.operation_id.unwrap())
            .unwrap();
        prepare(def, operation, &input)
    }

    #[test]
    fn splits_path_query_and_body_and_sends_spec_types() {
        let prepared = prepare_for(
            "create_channel",
            json!({ "name": "n", "description": "d", "privacy_type": "public", "user_id": "5910974510923776" }),
        )
        .unwrap();
        assert_eq!(prepared.request.path, "/api/v2/channels");
        assert_eq!(
            prepared.request.body,
            Some(RawBody::Json(json!({
                "name": "n", "description": "d", "privacy_type": "public",
                "user_id": 5910974510923776_i64
            })))
        );

        let prepared = prepare_for("get_call", json!({ "id": 42 })).unwrap();
        assert_eq!(prepared.request.path, "/api/v2/call/42");
        assert_eq!(prepared.request.body, None);

        let prepared = prepare_for(
            "list_calls",
            json!({ "started_after": 1700000000000_i64, "limit": 5, "all": true, "max_items": 7 }),
        )
        .unwrap();
        assert_eq!(
            prepared.request.query,
            vec![
                ("limit".to_owned(), "5".to_owned()),
                ("started_after".to_owned(), "1700000000000".to_owned())
            ]
        );
        assert_eq!(
            prepared.paging,
            Some(Paging {
                all: true,
                max_items: 7
            })
        );
    }

    #[test]
    fn update_sends_only_the_fields_given() {
        let prepared =
            prepare_for("update_contact", json!({ "id": "9", "last_name": "King" })).unwrap();
        assert_eq!(
            prepared.request.body,
            Some(RawBody::Json(json!({ "last_name": "King" })))
        );
        assert_eq!(prepared.request.path, "/api/v2/contacts/9");
    }

    #[test]
    fn every_problem_is_named_with_its_field() {
        let problems = prepare_for(
            "create_contact",
            json!({ "first_name": 5, "nickname": "x" }),
        )
        .unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert!(fields.contains(&"first_name"), "{problems:?}");
        assert!(fields.contains(&"last_name"), "{problems:?}");
        assert!(fields.contains(&"nickname"), "{problems:?}");
        let problems = prepare_for("get_contact", json!({})).unwrap_err();
        assert_eq!(problems[0].field, "id");
        let problems = prepare_for("list_users", json!({ "limit": 0 })).unwrap_err();
        assert_eq!(problems[0].field, "limit");
    }

    #[test]
    fn schemas_put_path_query_and_body_side_by_side() {
        let def = find("update_contact").unwrap();
        let operation = dialpad_spec::spec().operation("contacts.update").unwrap();
        let schema = schema(def, operation);
        assert!(schema["properties"]["id"].is_object());
        assert!(schema["properties"]["last_name"].is_object());
        assert_eq!(schema["required"], json!(["id"]));
        let def = find("list_calls").unwrap();
        let schema = super::schema(def, dialpad_spec::spec().operation("call.list").unwrap());
        for field in [
            "started_after",
            "target_type",
            "limit",
            "cursor",
            "all",
            "max_items",
        ] {
            assert!(schema["properties"][field].is_object(), "{field}");
        }
    }
}
