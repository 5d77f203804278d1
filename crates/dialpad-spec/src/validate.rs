//! Compiled validators and the glue around them: building one JSON Schema for an operation's
//! path or query parameters, coercing received strings by declared type, and running a check.

use jsonschema::{Draft, Validator};
use serde_json::{json, Map, Value};

use crate::operation::{ParamLocation, Parameter};
use crate::problem::{from_validation_error, Part, Problem};

/// A normalised schema and its compiled validator.
pub(crate) struct Checker {
    part: Part,
    schema: Value,
    validator: Result<Validator, String>,
}

impl Checker {
    /// Compiles `schema` (draft 7, formats not asserted: the spec's formats are descriptive —
    /// `int64`, `double`, `byte`, and `date-time` values Dialpad writes without a zone).
    pub(crate) fn new(part: Part, schema: Value) -> Self {
        let validator = jsonschema::options()
            .with_draft(Draft::Draft7)
            .should_validate_formats(false)
            .build(&schema)
            .map_err(|error| error.to_string());
        Checker {
            part,
            schema,
            validator,
        }
    }

    /// Checks `instance`; a schema that failed to compile reports itself as a problem at `schema`
    /// (the crate's tests compile every schema in the spec, so this does not happen in practice).
    pub(crate) fn check(&self, instance: &Value) -> Vec<Problem> {
        match &self.validator {
            Ok(validator) => validator
                .iter_errors(instance)
                .flat_map(|error| from_validation_error(self.part, &self.schema, &error))
                .collect(),
            Err(reason) => vec![Problem::new(
                "schema",
                format!("internal error: the spec's schema does not compile: {reason}"),
            )],
        }
    }

    pub(crate) fn compile_error(&self) -> Option<&str> {
        self.validator.as_ref().err().map(String::as_str)
    }
}

/// One object schema for the parameters of `location`: each declared parameter a property,
/// required ones required, undeclared ones (like `apikey`) allowed and ignored.
pub(crate) fn parameters_schema(parameters: &[Parameter], location: ParamLocation) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for parameter in parameters.iter().filter(|p| p.location == location) {
        properties.insert(parameter.name.clone(), parameter.schema.clone());
        if parameter.required {
            required.push(Value::String(parameter.name.clone()));
        }
    }
    json!({"type": "object", "properties": properties, "required": required})
}

/// The received parameters of `location` as a JSON object, each value coerced by its declared
/// type; a parameter declared as an array collects every occurrence, others take the first.
pub(crate) fn parameters_instance(
    parameters: &[Parameter],
    location: ParamLocation,
    received: &[(String, String)],
) -> Value {
    let mut object = Map::new();
    for parameter in parameters.iter().filter(|p| p.location == location) {
        let mut values = received
            .iter()
            .filter(|(name, _)| *name == parameter.name)
            .map(|(_, value)| value.as_str());
        let value = if has_type(&parameter.schema, "array") {
            let items = parameter.schema.get("items").unwrap_or(&Value::Null);
            Value::Array(values.map(|value| coerce(items, value)).collect())
        } else {
            match values.next() {
                Some(value) => coerce(&parameter.schema, value),
                None => continue,
            }
        };
        object.insert(parameter.name.clone(), value);
    }
    Value::Object(object)
}

/// A received string as the JSON value its schema declares, or the string itself when it does
/// not parse (the validator then explains what was expected).
fn coerce(schema: &Value, text: &str) -> Value {
    if has_type(schema, "boolean") {
        match text {
            "true" => return Value::Bool(true),
            "false" => return Value::Bool(false),
            _ => {}
        }
    }
    if has_type(schema, "integer") {
        if let Ok(integer) = text.parse::<i64>() {
            return Value::from(integer);
        }
    }
    if has_type(schema, "number") {
        if let Some(number) = text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            return Value::Number(number);
        }
    }
    Value::String(text.to_owned())
}

fn has_type(schema: &Value, wanted: &str) -> bool {
    match schema.get("type") {
        Some(Value::String(single)) => single == wanted,
        Some(Value::Array(types)) => types.iter().any(|ty| ty.as_str() == Some(wanted)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coerces_by_declared_type() {
        let int64 = json!({"type": ["integer", "string"], "pattern": "^-?[0-9]+$"});
        assert_eq!(coerce(&int64, "12"), json!(12));
        assert_eq!(
            coerce(&int64, "99999999999999999999"),
            json!("99999999999999999999")
        );
        assert_eq!(coerce(&json!({"type": "boolean"}), "true"), json!(true));
        assert_eq!(coerce(&json!({"type": "boolean"}), "yes"), json!("yes"));
        assert_eq!(coerce(&json!({"type": "number"}), "1.5"), json!(1.5));
        assert_eq!(coerce(&json!({"type": "number"}), "NaN"), json!("NaN"));
        assert_eq!(coerce(&json!({"type": "string"}), "12"), json!("12"));
    }
}
