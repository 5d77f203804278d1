//! An account's config for a workflow, checked against the workflow's config fields.

use serde_json::{Map, Value};

use super::{ConfigType, Definition};
use crate::error::{Error, FieldError, Result};

/// The config an account gives, checked against the workflow's fields, defaults applied.
pub(crate) fn check_config(definition: &Definition, config: &Value) -> Result<Value> {
    let given = match config {
        Value::Null => Map::new(),
        Value::Object(map) => map.clone(),
        _ => {
            return Err(Error::invalid(
                "config",
                "must be an object of the workflow's config fields",
            ))
        }
    };
    let mut problems = Vec::new();
    for name in given.keys() {
        if !definition.config.contains_key(name) {
            let known: Vec<&str> = definition.config.keys().map(String::as_str).collect();
            problems.push(FieldError::new(
                format!("config.{name}"),
                format!(
                    "is not a config field of this workflow (its fields: {})",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
    }
    let mut config = Map::new();
    for (name, field) in &definition.config {
        let value = given.get(name).cloned().or_else(|| field.default.clone());
        match value {
            None | Some(Value::Null) if field.required => {
                problems.push(FieldError::new(format!("config.{name}"), "is required"))
            }
            None | Some(Value::Null) => {}
            Some(value) => {
                if field.kind.fits(&value) {
                    config.insert(name.clone(), value);
                } else {
                    problems.push(FieldError::new(
                        format!("config.{name}"),
                        format!("must be {}", type_name(field.kind)),
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(Value::Object(config))
    } else {
        Err(Error::InvalidInput(problems))
    }
}

fn type_name(kind: ConfigType) -> &'static str {
    match kind {
        ConfigType::String => "a string",
        ConfigType::Number => "a number",
        ConfigType::Integer => "an integer",
        ConfigType::Boolean => "true or false",
        ConfigType::Array => "a list",
        ConfigType::Object => "an object",
    }
}
