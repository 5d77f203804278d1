//! Turns the spec's OpenAPI 3.0 schemas into self-contained, strict JSON Schema (draft 7):
//! `$ref`s inlined, `nullable` spelled as a `null` type, int64 accepting digit strings, objects closed.
//!
//! The rules, in the order they apply to each schema node:
//! - `$ref: "#/components/schemas/X"` is replaced by X (normalised). OpenAPI 3.0 ignores a `$ref`'s
//!   siblings, but this spec writes `{"$ref", "nullable": true, "description"}` to mean "a nullable
//!   X", so a sibling `nullable: true` and `description` are honoured. The spec has no recursive
//!   schemas; a recursive one is reported as [`SpecError::RecursiveRef`] rather than looping.
//! - `oneOf` becomes `anyOf`: the spec's alternatives overlap (`swap_details: {"type": "auto"}`
//!   fits all three swap shapes), which `oneOf` would reject.
//! - `type: integer, format: int64` accepts an integer or a string of decimal digits with an
//!   optional leading `-` (Dialpad writes int64 values as JSON strings; clients send either).
//! - An object schema with `properties` and no `additionalProperties` gets
//!   `additionalProperties: false`: unknown fields are errors, in requests and in responses.
//! - `nullable: true` adds `"null"` to `type` (and `null` to `enum`, and a `{"type": "null"}`
//!   branch to `anyOf`); the `nullable` keyword itself is removed.

use serde_json::{json, Map, Value};

use crate::components::Resolve;
use crate::error::SpecError;

/// The pattern an int64 given as a string must match.
pub(crate) const INT64_STRING_PATTERN: &str = "^-?[0-9]+$";

const REF_PREFIX: &str = "#/components/schemas/";

/// Normalises `schema`, resolving references against `components` (the `components.schemas`).
pub(crate) fn normalise(schema: &Value, components: &dyn Resolve) -> Result<Value, SpecError> {
    Normaliser {
        components,
        stack: Vec::new(),
    }
    .node(schema)
}

struct Normaliser<'a> {
    components: &'a dyn Resolve,
    /// The `$ref`s being expanded, outermost first, to detect recursion.
    stack: Vec<String>,
}

impl Normaliser<'_> {
    fn node(&mut self, schema: &Value) -> Result<Value, SpecError> {
        let Some(object) = schema.as_object() else {
            // `true`/`false` schemas and anything odd pass through unchanged.
            return Ok(schema.clone());
        };
        if let Some(reference) = object.get("$ref") {
            return self.reference(reference, object);
        }

        let mut out = Map::with_capacity(object.len() + 1);
        for (key, value) in object {
            let value = match key.as_str() {
                "nullable" => continue,
                "properties" => self.properties(value)?,
                "items" | "not" => self.node(value)?,
                "additionalProperties" if value.is_object() => self.node(value)?,
                "allOf" | "anyOf" => self.list(value)?,
                "oneOf" => {
                    out.insert("anyOf".to_owned(), self.list(value)?);
                    continue;
                }
                _ => value.clone(),
            };
            out.insert(key.clone(), value);
        }

        if is_int64(object) {
            out.insert("type".to_owned(), json!(["integer", "string"]));
            out.insert("pattern".to_owned(), json!(INT64_STRING_PATTERN));
        }
        if out.contains_key("properties") && !out.contains_key("additionalProperties") {
            out.insert("additionalProperties".to_owned(), Value::Bool(false));
        }
        let mut out = Value::Object(out);
        if object.get("nullable") == Some(&Value::Bool(true)) {
            make_nullable(&mut out);
        }
        Ok(out)
    }

    fn reference(
        &mut self,
        reference: &Value,
        siblings: &Map<String, Value>,
    ) -> Result<Value, SpecError> {
        let reference = reference.as_str().unwrap_or_default();
        let unknown = || SpecError::UnknownRef {
            reference: reference.to_owned(),
        };
        let name = reference.strip_prefix(REF_PREFIX).ok_or_else(unknown)?;
        if self.stack.iter().any(|seen| seen == name) {
            return Err(SpecError::RecursiveRef {
                reference: reference.to_owned(),
            });
        }
        let target = self.components.schema(name).ok_or_else(unknown)?;
        self.stack.push(name.to_owned());
        let resolved = self.node(&target);
        self.stack.pop();
        let mut resolved = resolved?;

        if let (Some(description), Some(out)) =
            (siblings.get("description"), resolved.as_object_mut())
        {
            out.insert("description".to_owned(), description.clone());
        }
        if siblings.get("nullable") == Some(&Value::Bool(true)) {
            make_nullable(&mut resolved);
        }
        Ok(resolved)
    }

    fn properties(&mut self, properties: &Value) -> Result<Value, SpecError> {
        let Some(properties) = properties.as_object() else {
            return Ok(properties.clone());
        };
        let mut out = Map::with_capacity(properties.len());
        for (name, schema) in properties {
            out.insert(name.clone(), self.node(schema)?);
        }
        Ok(Value::Object(out))
    }

    fn list(&mut self, schemas: &Value) -> Result<Value, SpecError> {
        match schemas.as_array() {
            Some(schemas) => schemas
                .iter()
                .map(|s| self.node(s))
                .collect::<Result<_, _>>(),
            None => Ok(schemas.clone()),
        }
    }
}

fn is_int64(schema: &Map<String, Value>) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("integer")
        && schema.get("format").and_then(Value::as_str) == Some("int64")
}

/// Makes an already normalised schema accept `null` as well.
fn make_nullable(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    match object.get_mut("type") {
        Some(Value::String(single)) => {
            let single = std::mem::take(single);
            object.insert("type".to_owned(), json!([single, "null"]));
        }
        Some(Value::Array(types)) => push_unique(types, json!("null")),
        _ => {}
    }
    if let Some(Value::Array(values)) = object.get_mut("enum") {
        push_unique(values, Value::Null);
    }
    if !object.contains_key("type") {
        if let Some(Value::Array(branches)) = object.get_mut("anyOf") {
            push_unique(branches, json!({"type": "null"}));
        }
    }
}

fn push_unique(values: &mut Vec<Value>, value: Value) {
    if !values.contains(&value) {
        values.push(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn components() -> Map<String, Value> {
        json!({
            "A": {"type": "object", "properties": {"id": {"type": "integer", "format": "int64", "nullable": true}}},
            "Loop": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/Loop"}}}
        })
        .as_object()
        .cloned()
        .unwrap_or_default()
    }

    #[test]
    fn inlines_refs_honouring_nullable_siblings() {
        let schema = json!({"$ref": "#/components/schemas/A", "nullable": true, "type": "object"});
        let out = normalise(&schema, &components()).expect("normalises");
        assert_eq!(
            out,
            json!({
                "type": ["object", "null"],
                "additionalProperties": false,
                "properties": {"id": {"type": ["integer", "string", "null"], "format": "int64", "pattern": INT64_STRING_PATTERN}}
            })
        );
    }

    #[test]
    fn nullable_enum_and_one_of() {
        let schema = json!({"type": "string", "enum": ["a"], "nullable": true});
        let out = normalise(&schema, &components()).expect("normalises");
        assert_eq!(
            out,
            json!({"type": ["string", "null"], "enum": ["a", null]})
        );

        let schema = json!({"oneOf": [{"$ref": "#/components/schemas/A"}], "nullable": true});
        let out = normalise(&schema, &components()).expect("normalises");
        assert_eq!(out["anyOf"].as_array().map(Vec::len), Some(2));
        assert_eq!(out["anyOf"][1], json!({"type": "null"}));
        assert!(out.get("oneOf").is_none());
    }

    #[test]
    fn explicit_additional_properties_is_kept() {
        let schema = json!({"type": "object", "properties": {}, "additionalProperties": true});
        let out = normalise(&schema, &components()).expect("normalises");
        assert_eq!(out["additionalProperties"], json!(true));
    }

    #[test]
    fn recursion_and_unknown_refs_are_errors() {
        let looping = json!({"$ref": "#/components/schemas/Loop"});
        assert!(matches!(
            normalise(&looping, &components()),
            Err(SpecError::RecursiveRef { .. })
        ));
        let missing = json!({"$ref": "#/components/schemas/Nope"});
        assert!(matches!(
            normalise(&missing, &components()),
            Err(SpecError::UnknownRef { .. })
        ));
    }
}
