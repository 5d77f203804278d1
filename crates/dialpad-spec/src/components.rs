//! [`Components`]: the document's `components.schemas`, kept as compact JSON text between uses.
//!
//! Parsed into `serde_json::Value`s, the spec's 218 schemas take about a megabyte of heap for
//! the life of the process, yet they are read only when an operation's body schema is
//! normalised, which happens once per schema a process uses. As compact text they take the
//! 0.2 MB of their JSON, and each is parsed again when a `$ref` to it is inlined.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::error::SpecError;

/// Where a `$ref`'s name (`X` of `#/components/schemas/X`) is looked up while normalising.
pub(crate) trait Resolve {
    /// The schema named `name`, or `None` when the document has none by that name.
    fn schema(&self, name: &str) -> Option<Cow<'_, Value>>;
}

/// The schemas as parsed, while the document is being read.
impl Resolve for Map<String, Value> {
    fn schema(&self, name: &str) -> Option<Cow<'_, Value>> {
        self.get(name).map(Cow::Borrowed)
    }
}

/// The schemas as compact JSON text, by name.
pub(crate) struct Components {
    schemas: HashMap<String, Box<str>>,
}

impl Components {
    pub(crate) fn new(schemas: &Map<String, Value>) -> Result<Components, SpecError> {
        let schemas = schemas
            .iter()
            .map(|(name, schema)| Ok((name.clone(), serde_json::to_string(schema)?.into())))
            .collect::<Result<_, SpecError>>()?;
        Ok(Components { schemas })
    }
}

impl Resolve for Components {
    fn schema(&self, name: &str) -> Option<Cow<'_, Value>> {
        let text = self.schemas.get(name)?;
        // The text was written by `serde_json` from a `Value` in `new`, so it parses.
        serde_json::from_str(text).ok().map(Cow::Owned)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keeps_each_schema_as_it_was() {
        let parsed = json!({
            "A": {"type": "object", "properties": {"id": {"type": "integer", "format": "int64"}}},
            "B": {"$ref": "#/components/schemas/A", "nullable": true}
        });
        let parsed = parsed.as_object().cloned().unwrap_or_default();
        let components = Components::new(&parsed).expect("serialises");
        for name in ["A", "B"] {
            assert_eq!(
                components.schema(name).as_deref(),
                parsed.schema(name).as_deref()
            );
        }
        assert!(components.schema("C").is_none());
    }
}
