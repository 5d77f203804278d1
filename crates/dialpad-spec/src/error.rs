//! The crate's one error type: what can go wrong while reading an OpenAPI document.
//! Request and response validation failures are not errors but [`crate::Problem`]s.

/// A reason the OpenAPI document could not be turned into a [`crate::Spec`].
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The text is not JSON.
    #[error("the OpenAPI document is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A required part of the document is missing or has the wrong shape.
    #[error("the OpenAPI document is malformed at {at}: {what}")]
    Malformed { at: String, what: String },
    /// A `$ref` points at a schema that does not exist or is not local.
    #[error("unresolvable $ref `{reference}`")]
    UnknownRef { reference: String },
    /// A schema refers back to itself; this crate inlines references and cannot do that.
    #[error("recursive schema through $ref `{reference}`")]
    RecursiveRef { reference: String },
    /// Two operations share an operationId.
    #[error("duplicate operationId `{0}`")]
    DuplicateOperationId(String),
}

impl SpecError {
    pub(crate) fn malformed(at: impl Into<String>, what: impl Into<String>) -> Self {
        SpecError::Malformed {
            at: at.into(),
            what: what.into(),
        }
    }
}
