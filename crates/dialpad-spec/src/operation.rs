//! [`Operation`]: one documented method + path, with what it accepts and answers, and the
//! request/response validation built on its normalised schemas (compiled on first use, then reused).

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use crate::components::Components;
use crate::description::{self, RateLimit, RateLimitPattern};
use crate::error::SpecError;
use crate::normalise::normalise;
use crate::problem::{Part, Problem};
use crate::validate::{parameters_instance, parameters_schema, Checker};

/// Where a parameter is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamLocation {
    Path,
    Query,
}

/// A path or query parameter of an operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub name: String,
    pub location: ParamLocation,
    pub required: bool,
    pub description: String,
    /// The parameter's schema, normalised (see the `normalise` module): int64 accepts digit strings.
    pub schema: Value,
}

/// One documented operation (method + path template).
pub struct Operation {
    /// The `operationId`, e.g. `contacts.create`.
    pub id: String,
    /// Upper case, e.g. `GET`.
    pub method: String,
    /// The path template, e.g. `/api/v2/contacts/{id}`.
    pub path: String,
    pub summary: String,
    pub description: String,
    pub tags: Vec<String>,
    pub deprecated: bool,
    /// Path and query parameters (the spec declares no header or cookie parameters).
    pub parameters: Vec<Parameter>,
    /// OAuth scopes from the operation's `security` requirements, e.g. `["calls:list"]`; empty when
    /// the operation states none (it then falls under the document's default API key / bearer).
    pub scopes: Vec<String>,
    /// The operation-wide limit in requests per minute (see [`RateLimit::per_minute`]): the lowest
    /// tier's, ignoring per-target limits. `None` when the description states no limit.
    pub rate_limit_per_minute: Option<u32>,
    /// Every rate limit the description states, exactly (windows, tiers, per-target limits).
    pub rate_limits: Vec<RateLimit>,
    /// The description says "Requires a company admin API key".
    pub requires_company_admin: bool,
    /// The operation documents a request body.
    pub has_request_body: bool,
    body_required: bool,
    request_body: Option<Schema>,
    responses: Vec<Response>,
    request_checkers: OnceLock<RequestCheckers>,
}

struct Response {
    status: String,
    schema: Option<Schema>,
    checker: OnceLock<Checker>,
}

/// A body schema as the spec writes it (mostly a `$ref`), normalised on first use: inlined, the
/// spec's body schemas take megabytes, and a process uses a few of its 193 operations.
struct Schema {
    raw: Value,
    components: Arc<Components>,
    normalised: OnceLock<Value>,
}

impl Schema {
    /// Normalises `raw` against the parsed schemas once to prove it can be (errors show when
    /// the spec is parsed, not when the schema is first used), then keeps only `raw` and the
    /// compact schemas it will be normalised against when first used.
    fn new(raw: &Value, reading: &Reading<'_>) -> Result<Schema, SpecError> {
        normalise(raw, reading.parsed)?;
        Ok(Schema {
            raw: raw.clone(),
            components: Arc::clone(&reading.components),
            normalised: OnceLock::new(),
        })
    }

    fn normalised(&self) -> &Value {
        self.normalised.get_or_init(|| {
            normalise(&self.raw, self.components.as_ref())
                .expect("normalised once in Schema::new, and normalising is deterministic")
        })
    }
}

/// What building the operations of one document shares: its schemas as parsed (to prove each
/// body schema normalises), their compact copy the body schemas keep, and the rate-limit
/// pattern. Dropped once the operations are built, with the pattern's search caches.
pub(crate) struct Reading<'a> {
    pub(crate) parsed: &'a Map<String, Value>,
    pub(crate) components: Arc<Components>,
    pub(crate) rate_limits: RateLimitPattern,
}

struct RequestCheckers {
    path: Checker,
    query: Checker,
    body: Option<Checker>,
}

impl Operation {
    /// Builds the operation at `method` of the path item `path` from its OpenAPI object.
    pub(crate) fn from_openapi(
        method: &str,
        path: &str,
        operation: &Value,
        shared_parameters: &[Value],
        reading: &Reading<'_>,
    ) -> Result<Self, SpecError> {
        let at = format!("{} {path}", method.to_ascii_uppercase());
        let text = |key: &str| {
            operation
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let id = operation
            .get("operationId")
            .and_then(Value::as_str)
            .ok_or_else(|| SpecError::malformed(&at, "no operationId"))?
            .to_owned();
        let description = text("description");
        let rate_limits = reading.rate_limits.read(&description);

        let own_parameters = operation
            .get("parameters")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut parameters = Vec::new();
        for raw in shared_parameters.iter().chain(own_parameters) {
            if let Some(parameter) = parameter(raw, reading.parsed, &at)? {
                // An operation's own parameter overrides a path-level one of the same name.
                parameters.retain(|p: &Parameter| {
                    !(p.name == parameter.name && p.location == parameter.location)
                });
                parameters.push(parameter);
            }
        }

        let request_body = operation.get("requestBody");
        let body_schema = request_body
            .and_then(|body| body.pointer("/content/application~1json/schema"))
            .map(|schema| Schema::new(schema, reading))
            .transpose()?;

        let declared = operation.get("responses").and_then(Value::as_object);
        let mut responses = Vec::with_capacity(declared.map_or(0, Map::len));
        if let Some(declared) = declared {
            for (status, response) in declared {
                let schema = response
                    .pointer("/content/application~1json/schema")
                    .map(|schema| Schema::new(schema, reading))
                    .transpose()?;
                responses.push(Response {
                    status: status.clone(),
                    schema,
                    checker: OnceLock::new(),
                });
            }
        }

        Ok(Operation {
            rate_limit_per_minute: description::primary_rate_limit(&rate_limits)
                .map(RateLimit::per_minute),
            requires_company_admin: description::requires_company_admin(&description),
            scopes: scopes(operation),
            tags: operation
                .get("tags")
                .and_then(Value::as_array)
                .map(|tags| {
                    tags.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            deprecated: operation
                .get("deprecated")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            has_request_body: request_body.is_some(),
            body_required: request_body
                .and_then(|body| body.get("required"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            request_body: body_schema,
            summary: text("summary"),
            id,
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            description,
            parameters,
            rate_limits,
            responses,
            request_checkers: OnceLock::new(),
        })
    }

    /// Validates path parameters, query pairs (as received, strings) and the JSON body.
    ///
    /// Query and path values are coerced by declared type (integers, `true`/`false`, numbers;
    /// arrays from repeated keys) before validation; undeclared query parameters (like `apikey`)
    /// are ignored. Missing required parameters or body fields, wrong types, unknown enum values
    /// and unknown body fields are problems. A missing body is a problem when the body has
    /// required fields; a non-empty body sent to an operation documenting none is a problem too.
    pub fn validate_request(
        &self,
        path_params: &[(String, String)],
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<(), Vec<Problem>> {
        let checkers = self.request_checkers();
        let mut problems = checkers.path.check(&parameters_instance(
            &self.parameters,
            ParamLocation::Path,
            path_params,
        ));
        problems.extend(checkers.query.check(&parameters_instance(
            &self.parameters,
            ParamLocation::Query,
            query,
        )));
        match (&checkers.body, body) {
            (Some(checker), Some(body)) => problems.extend(checker.check(body)),
            (Some(_), None) => {
                let required = self.required_body_fields();
                if self.body_required || !required.is_empty() {
                    problems.push(Problem::new(
                        "body",
                        format!(
                            "a JSON body is required (required fields: {})",
                            required.join(", ")
                        ),
                    ));
                }
            }
            (None, Some(body)) if !is_empty_body(body) && !self.has_request_body => {
                problems.push(Problem::new("body", "this operation takes no request body"));
            }
            (None, _) => {}
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Validates a JSON response body sent with `status` against the schema the spec declares for
    /// that status (else for its class, `2XX`, else `default`). Ok when the spec declares none.
    pub fn validate_response(&self, status: u16, body: &Value) -> Result<(), Vec<Problem>> {
        let Some(response) = self.response_for(status) else {
            return Ok(());
        };
        let Some(schema) = &response.schema else {
            return Ok(());
        };
        let problems = response
            .checker
            .get_or_init(|| Checker::new(Part::Body, schema.normalised().clone()))
            .check(body);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The request body schema, fully resolved and normalised, or `None`.
    pub fn request_body_schema(&self) -> Option<Value> {
        self.request_body
            .as_ref()
            .map(|schema| schema.normalised().clone())
    }

    /// The 200 response schema, fully resolved and normalised, or `None`.
    pub fn response_schema(&self) -> Option<Value> {
        self.responses
            .iter()
            .find(|response| response.status == "200")
            .and_then(|response| response.schema.as_ref())
            .map(|schema| schema.normalised().clone())
    }

    /// The statuses the spec documents for this operation ("200", "204", …).
    pub fn response_statuses(&self) -> impl Iterator<Item = &str> {
        self.responses
            .iter()
            .map(|response| response.status.as_str())
    }

    /// The body's required top-level fields.
    pub fn required_body_fields(&self) -> Vec<&str> {
        self.request_body
            .as_ref()
            .and_then(|schema| schema.normalised().get("required"))
            .and_then(Value::as_array)
            .map(|required| required.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// Compiles every schema of the operation now; the reasons any failed. Used by tests (and
    /// usable at start-up) to prove the embedded spec compiles.
    pub fn compile_all(&self) -> Vec<String> {
        let checkers = self.request_checkers();
        let responses = self.responses.iter().filter_map(|response| {
            let schema = response.schema.as_ref()?;
            Some(
                response
                    .checker
                    .get_or_init(|| Checker::new(Part::Body, schema.normalised().clone())),
            )
        });
        [&checkers.path, &checkers.query]
            .into_iter()
            .chain(checkers.body.as_ref())
            .chain(responses)
            .filter_map(|checker| checker.compile_error().map(str::to_owned))
            .collect()
    }

    fn request_checkers(&self) -> &RequestCheckers {
        self.request_checkers.get_or_init(|| RequestCheckers {
            path: Checker::new(
                Part::Path,
                parameters_schema(&self.parameters, ParamLocation::Path),
            ),
            query: Checker::new(
                Part::Query,
                parameters_schema(&self.parameters, ParamLocation::Query),
            ),
            body: self
                .request_body
                .as_ref()
                .map(|schema| Checker::new(Part::Body, schema.normalised().clone())),
        })
    }

    fn response_for(&self, status: u16) -> Option<&Response> {
        let exact = status.to_string();
        let class = format!("{}XX", status / 100);
        let find = |wanted: &str| {
            self.responses
                .iter()
                .find(|response| response.status.eq_ignore_ascii_case(wanted))
        };
        find(&exact)
            .or_else(|| find(&class))
            .or_else(|| find("default"))
    }
}

impl fmt::Debug for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operation")
            .field("id", &self.id)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("scopes", &self.scopes)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("requires_company_admin", &self.requires_company_admin)
            .field("has_request_body", &self.has_request_body)
            .finish_non_exhaustive()
    }
}

fn is_empty_body(body: &Value) -> bool {
    match body {
        Value::Null => true,
        Value::Object(fields) => fields.is_empty(),
        _ => false,
    }
}

/// Reads one parameter object; `None` for header and cookie parameters.
fn parameter(
    raw: &Value,
    components: &Map<String, Value>,
    at: &str,
) -> Result<Option<Parameter>, SpecError> {
    let location = match raw.get("in").and_then(Value::as_str) {
        Some("path") => ParamLocation::Path,
        Some("query") => ParamLocation::Query,
        Some(_) => return Ok(None),
        None => return Err(SpecError::malformed(at, "a parameter without `in`")),
    };
    let name = raw
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| SpecError::malformed(at, "a parameter without `name`"))?;
    let schema = match raw.get("schema") {
        Some(schema) => normalise(schema, components)?,
        None => Value::Object(Map::new()),
    };
    Ok(Some(Parameter {
        name: name.to_owned(),
        location,
        required: location == ParamLocation::Path
            || raw
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        description: raw
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        schema,
    }))
}

/// The union of the scopes named by the operation's security requirements, in order.
fn scopes(operation: &Value) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    let requirements = operation.get("security").and_then(Value::as_array);
    for requirement in requirements
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
    {
        for scope in requirement.values().filter_map(Value::as_array).flatten() {
            if let Some(scope) = scope.as_str() {
                if !scopes.iter().any(|seen| seen == scope) {
                    scopes.push(scope.to_owned());
                }
            }
        }
    }
    scopes
}
