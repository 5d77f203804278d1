//! [`Spec`]: the parsed OpenAPI document, its operations by id, and lookup of a concrete
//! request (method + path) among the documented path templates.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::components::Components;
use crate::description::RateLimitPattern;
use crate::error::SpecError;
use crate::matching::{self, Template, Templates};
use crate::operation::{Operation, Reading};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The Dialpad API as its OpenAPI document describes it.
pub struct Spec {
    operations: Vec<Operation>,
    by_id: HashMap<String, usize>,
    templates: Templates,
}

/// What a concrete request is, according to the spec.
#[derive(Debug)]
pub enum Match<'a> {
    /// A documented operation, with the path parameters taken from the path (percent-decoded).
    Found {
        operation: &'a Operation,
        path_params: Vec<(String, String)>,
    },
    /// The path is documented, but not for this method; the methods it has, sorted.
    MethodNotAllowed { allowed: Vec<&'a str> },
    /// No documented path has this shape.
    NotFound,
}

impl Spec {
    /// Parses an OpenAPI 3.0 document (as JSON text).
    pub fn parse(text: &str) -> Result<Spec, SpecError> {
        Spec::from_document(serde_json::from_str(text)?)
    }

    /// Builds the spec from an OpenAPI 3.0 document, checking that every schema it uses
    /// normalises. What the operations need is kept; the rest of the document is dropped.
    pub fn from_document(mut document: Value) -> Result<Spec, SpecError> {
        let components = match document.pointer_mut("/components/schemas").map(Value::take) {
            Some(Value::Object(schemas)) => schemas,
            _ => Map::new(),
        };
        let reading = Reading {
            parsed: &components,
            components: Arc::new(Components::new(&components)?),
            rate_limits: RateLimitPattern::new(),
        };
        let paths = document
            .get("paths")
            .and_then(Value::as_object)
            .ok_or_else(|| SpecError::malformed("/paths", "missing or not an object"))?;

        let mut operations = Vec::new();
        let mut templates = Vec::new();
        for (path, item) in paths {
            let shared = item
                .get("parameters")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let mut template = Template::new(path);
            for method in METHODS {
                if let Some(operation) = item.get(method) {
                    let operation =
                        Operation::from_openapi(method, path, operation, shared, &reading)?;
                    template
                        .methods
                        .push((operation.method.clone(), operations.len()));
                    operations.push(operation);
                }
            }
            templates.push(template);
        }

        operations.shrink_to_fit();
        templates.shrink_to_fit();
        let mut by_id = HashMap::with_capacity(operations.len());
        for (index, operation) in operations.iter().enumerate() {
            if by_id.insert(operation.id.clone(), index).is_some() {
                return Err(SpecError::DuplicateOperationId(operation.id.clone()));
            }
        }
        Ok(Spec {
            operations,
            by_id,
            templates: Templates::new(templates),
        })
    }

    /// Every operation, grouped by path in the document's order, methods in the order
    /// GET, PUT, POST, DELETE, OPTIONS, HEAD, PATCH, TRACE.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The operation with this `operationId`.
    pub fn operation(&self, operation_id: &str) -> Option<&Operation> {
        self.by_id
            .get(operation_id)
            .map(|&index| &self.operations[index])
    }

    /// Every documented path template.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.templates
            .all()
            .iter()
            .map(|template| template.path.as_str())
    }

    /// Matches a concrete request path (e.g. `/api/v2/contacts/123`, a query string is ignored)
    /// and method (any case) against the documented templates.
    ///
    /// Literal segments win over parameters: among the templates the path fits, the most specific
    /// one offering the method is chosen (`GET /api/v2/numbers/swap` is `numbers.get` with
    /// `number=swap`, since `/api/v2/numbers/swap` only has POST). When none offers the method, the
    /// answer is `MethodNotAllowed` with every method those templates have.
    pub fn find(&self, method: &str, path: &str) -> Match<'_> {
        let candidates = self.templates.candidates(path);
        if candidates.is_empty() {
            return Match::NotFound;
        }
        let mut allowed: Vec<&str> = Vec::new();
        for (template, path_params) in candidates {
            for (offered, index) in &template.methods {
                if offered.eq_ignore_ascii_case(method) {
                    return Match::Found {
                        operation: &self.operations[*index],
                        path_params,
                    };
                }
                allowed.push(self.operations[*index].method.as_str());
            }
        }
        allowed.sort_unstable();
        allowed.dedup();
        Match::MethodNotAllowed { allowed }
    }

    /// The documented path template closest to `path`, for "did you mean" messages; `None` when
    /// nothing is reasonably close. See `matching::nearest` for the distance used.
    pub fn nearest_path(&self, path: &str) -> Option<&str> {
        matching::nearest(self.templates.all(), path)
    }
}
