//! Dialpad writes int64 ids as JSON strings, but not always: this accepts either form and
//! keeps the id as a string.

use serde::{Deserialize, Deserializer};

pub(crate) fn int64_as_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(i64),
    }
    Ok(match Id::deserialize(d)? {
        Id::Text(s) => s,
        Id::Number(n) => n.to_string(),
    })
}

pub(crate) fn opt_int64_as_string<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "int64_as_string")] String);
    Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
}
