//! Validation on save: the trigger and its params, config fields, every step against the
//! action catalog and its input schema, every template and expression, and what expressions
//! refer to (`steps.<id>` only for steps that ran before, `config.<name>` only when declared).

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;
use std::time::Duration;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use jsonschema::{Draft, JsonType};
use regex::Regex;
use serde_json::Value;

use super::definition::{Definition, Step, StepKind, MAX_ITERATIONS};
use super::parse::{describe, index, join};
use super::template;
use crate::error::FieldError;

/// What step templates and expressions see (besides loop variables inside a `for_each`).
pub const CONTEXT_ROOTS: [&str; 5] = ["event", "account", "config", "steps", "execution"];
/// What a trigger filter sees.
pub const FILTER_ROOTS: [&str; 3] = ["event", "config", "account"];
/// minijinja's global functions, and `loop` (a `for_each`'s position, and a template's own
/// `{% for %}` loop).
const GLOBALS: [&str; 8] = [
    "range",
    "dict",
    "namespace",
    "debug",
    "lipsum",
    "cycler",
    "joiner",
    "loop",
];

pub const MAX_RETRY_ATTEMPTS: u32 = 10;
pub const MAX_BACKOFF: Duration = Duration::from_secs(10 * 60);
pub const MAX_DELAY: Duration = Duration::from_secs(30 * 24 * 3600);
const HTTP_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

static STEP_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-z0-9_]{1,64}$").unwrap());
static NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$").unwrap());
/// `steps['id']` / `config["name"]`: references by subscript, which attribute chains miss.
static SUBSCRIPT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:^|[^\w.])(steps|config)\s*\[\s*['"]([^'"]+)['"]\s*\]"#).unwrap()
});

/// Checks a parsed definition against the catalogs and the reference rules; every problem is
/// reported, each with its path.
pub fn validate(def: &Definition) -> Result<(), Vec<FieldError>> {
    let mut v = Validator {
        def,
        errors: Vec::new(),
        steps: HashMap::new(),
    };
    v.trigger();
    v.config();
    v.index_steps(&def.steps, "steps", &[]);
    let mut visible = Vec::new();
    v.steps(&def.steps, "steps", &mut visible, &[]);
    if v.errors.is_empty() {
        Ok(())
    } else {
        Err(v.errors)
    }
}

/// Where a step is: its path and the `for_each` steps around it (outermost first).
struct StepInfo {
    path: String,
    loops: Vec<String>,
}

/// A `for_each` around the current step: its id and loop variable.
#[derive(Clone)]
struct Loop {
    id: String,
    as_name: String,
}

/// What an expression at some place may refer to.
struct Scope<'s> {
    /// The step the expression belongs to; `None` for the trigger filter.
    step: Option<&'s str>,
    visible: &'s [String],
    loops: &'s [Loop],
}

struct Validator<'d> {
    def: &'d Definition,
    errors: Vec<FieldError>,
    steps: HashMap<String, StepInfo>,
}

impl Validator<'_> {
    fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    fn trigger(&mut self) {
        let spec = &self.def.trigger;
        if crate::triggers::trigger(&spec.key).is_none() {
            self.error(
                "trigger.type",
                format!(
                    "unknown trigger '{}'; expected one of: {}",
                    spec.key,
                    crate::triggers::trigger_key_names().join(", ")
                ),
            );
        } else {
            let problems = crate::triggers::check_params(&spec.key, &spec.params);
            self.errors.extend(problems);
        }
        if let Some(filter) = &spec.filter {
            let scope = Scope {
                step: None,
                visible: &[],
                loops: &[],
            };
            self.expression(filter, "trigger.filter", &scope);
        }
    }

    fn config(&mut self) {
        for (name, field) in &self.def.config {
            let path = join("config", name);
            if !NAME.is_match(name) {
                self.error(
                    &path,
                    format!("'{name}' is not a usable config name: letters, digits and _, not starting with a digit (so templates can say config.{name})"),
                );
            }
            if let Some(default) = &field.default {
                if !field.kind.fits(default) {
                    self.error(
                        join(&path, "default"),
                        format!(
                            "the default must be of the field's type, {}; got {}",
                            field.kind.as_str(),
                            describe(default)
                        ),
                    );
                }
            }
        }
    }

    /// Records every step's path and enclosing loops; reports bad and duplicate ids.
    fn index_steps(&mut self, steps: &[Step], path: &str, loops: &[String]) {
        for (i, step) in steps.iter().enumerate() {
            let step_path = index(path, i);
            if !STEP_ID.is_match(&step.id) {
                self.error(
                    join(&step_path, "id"),
                    format!(
                        "'{}' is not a valid step id: 1 to 64 of a-z, 0-9 and _",
                        step.id
                    ),
                );
            }
            if let Some(first) = self.steps.get(&step.id) {
                let message = format!(
                    "duplicate step id '{}': {} has it already; ids are unique across the workflow",
                    step.id, first.path
                );
                self.error(join(&step_path, "id"), message);
            } else {
                self.steps.insert(
                    step.id.clone(),
                    StepInfo {
                        path: step_path.clone(),
                        loops: loops.to_vec(),
                    },
                );
            }
            match &step.kind {
                StepKind::If {
                    then, otherwise, ..
                } => {
                    self.index_steps(then, &join(&step_path, "then"), loops);
                    self.index_steps(otherwise, &join(&step_path, "else"), loops);
                }
                StepKind::ForEach { steps, .. } => {
                    let mut inner = loops.to_vec();
                    inner.push(step.id.clone());
                    self.index_steps(steps, &join(&step_path, "steps"), &inner);
                }
                _ => {}
            }
        }
    }

    /// Checks `steps` in order; `visible` grows with each step whose output later steps may
    /// read.
    fn steps(&mut self, steps: &[Step], path: &str, visible: &mut Vec<String>, loops: &[Loop]) {
        for (i, step) in steps.iter().enumerate() {
            let step_path = index(path, i);
            self.step(step, &step_path, visible, loops);
            if !visible.contains(&step.id) {
                visible.push(step.id.clone());
            }
        }
    }

    fn step(&mut self, step: &Step, path: &str, visible: &mut Vec<String>, loops: &[Loop]) {
        if let Some(retry) = &step.retry {
            if !(1..=MAX_RETRY_ATTEMPTS).contains(&retry.max_attempts) {
                self.error(
                    format!("{path}.retry.max_attempts"),
                    format!(
                        "must be from 1 to {MAX_RETRY_ATTEMPTS} (counting the first attempt); got {}",
                        retry.max_attempts
                    ),
                );
            }
            if retry.backoff > MAX_BACKOFF {
                self.error(
                    format!("{path}.retry.backoff"),
                    format!(
                        "must be at most {}",
                        super::definition::duration_text(MAX_BACKOFF)
                    ),
                );
            }
        }
        match &step.kind {
            StepKind::Action { action, input } => {
                let scope = Scope {
                    step: Some(&step.id),
                    visible,
                    loops,
                };
                self.templates(input, &join(path, "input"), &scope);
                self.action(action, input, path);
            }
            StepKind::If {
                condition,
                then,
                otherwise,
            } => {
                let scope = Scope {
                    step: Some(&step.id),
                    visible,
                    loops,
                };
                self.expression(condition, &join(path, "if"), &scope);
                // The if step's own output (`branch`) is set before its branches run.
                let mut in_then = visible.clone();
                in_then.push(step.id.clone());
                let mut in_else = in_then.clone();
                self.steps(then, &join(path, "then"), &mut in_then, loops);
                self.steps(otherwise, &join(path, "else"), &mut in_else, loops);
                for id in in_then.into_iter().chain(in_else) {
                    if id != step.id && !visible.contains(&id) {
                        visible.push(id);
                    }
                }
            }
            StepKind::ForEach {
                items,
                as_name,
                steps,
                max_iterations,
            } => {
                let scope = Scope {
                    step: Some(&step.id),
                    visible,
                    loops,
                };
                self.expression(items, &join(path, "for_each"), &scope);
                if !NAME.is_match(as_name) {
                    self.error(
                        join(path, "as"),
                        format!("'{as_name}' is not a usable name: letters, digits and _, not starting with a digit"),
                    );
                } else if CONTEXT_ROOTS.contains(&as_name.as_str()) || as_name == "loop" {
                    self.error(
                        join(path, "as"),
                        format!("'{as_name}' would hide the context's own '{as_name}'; pick another name"),
                    );
                }
                if !(1..=MAX_ITERATIONS).contains(max_iterations) {
                    self.error(
                        join(path, "max_iterations"),
                        format!("must be from 1 to {MAX_ITERATIONS}; got {max_iterations}"),
                    );
                }
                let mut inner_loops = loops.to_vec();
                inner_loops.push(Loop {
                    id: step.id.clone(),
                    as_name: as_name.clone(),
                });
                // The body sees what came before; its own steps stay inside the loop.
                let mut inner = visible.clone();
                self.steps(steps, &join(path, "steps"), &mut inner, &inner_loops);
            }
            StepKind::Delay { duration } => {
                if duration.is_zero() || *duration > MAX_DELAY {
                    self.error(
                        join(path, "delay"),
                        format!(
                            "must be more than 0 and at most {}",
                            super::definition::duration_text(MAX_DELAY)
                        ),
                    );
                }
            }
            StepKind::Http {
                method,
                url,
                headers,
                body,
            } => {
                let http = join(path, "http");
                if !HTTP_METHODS.contains(&method.as_str()) {
                    self.error(
                        join(&http, "method"),
                        format!(
                            "'{method}' is not supported; expected one of: {}",
                            HTTP_METHODS.join(", ")
                        ),
                    );
                }
                let scope = Scope {
                    step: Some(&step.id),
                    visible,
                    loops,
                };
                let url_path = join(&http, "url");
                if template::is_template(url) {
                    self.template(url, &url_path, &scope);
                } else {
                    match url::Url::parse(url) {
                        Ok(parsed)
                            if matches!(parsed.scheme(), "http" | "https")
                                && parsed.host_str().is_some() => {}
                        _ => {
                            self.error(&url_path, format!("'{url}' is not an absolute http(s) URL"))
                        }
                    }
                }
                for (name, value) in headers {
                    if template::is_template(value) {
                        self.template(value, &join(&join(&http, "headers"), name), &scope);
                    }
                }
                if let Some(body) = body {
                    self.templates(body, &join(&http, "body"), &scope);
                }
            }
            StepKind::Set { values } => {
                let set = join(path, "set");
                for name in values.keys() {
                    if !NAME.is_match(name) {
                        self.error(
                            join(&set, name),
                            format!("'{name}' is not a usable name: letters, digits and _, not starting with a digit"),
                        );
                    }
                }
                let scope = Scope {
                    step: Some(&step.id),
                    visible,
                    loops,
                };
                for (name, value) in values {
                    self.templates(value, &join(&set, name), &scope);
                }
            }
        }
    }

    /// An action step: the action exists; input fields are known, required ones present, and
    /// literal values fit the field's schema.
    fn action(&mut self, key: &str, input: &Value, path: &str) {
        let Some(info) = crate::actions::action(key) else {
            let keys: Vec<&str> = crate::actions::catalog().iter().map(|a| a.key).collect();
            let close = close_matches(key, &keys);
            let hint = if close.is_empty() {
                format!("expected one of: {}", keys.join(", "))
            } else {
                format!("did you mean {}?", close.join(" or "))
            };
            self.error(
                join(path, "action"),
                format!("unknown action '{key}'; {hint} (GET /api/v1/actions lists them)"),
            );
            return;
        };
        let input_path = join(path, "input");
        let properties = info
            .input_schema
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let Some(fields) = input.as_object() else {
            self.error(&input_path, "must be an object");
            return;
        };
        for (name, value) in fields {
            let field = join(&input_path, name);
            match properties.get(name) {
                None => {
                    let mut known: Vec<&str> = properties.keys().map(String::as_str).collect();
                    known.sort_unstable();
                    let close = close_matches(name, &known);
                    let hint = if close.is_empty() {
                        format!("{key} takes: {}", known.join(", "))
                    } else {
                        format!(
                            "did you mean {}? {key} takes: {}",
                            close.join(" or "),
                            known.join(", ")
                        )
                    };
                    self.error(field, format!("unknown input field '{name}'; {hint}"));
                }
                Some(schema) => {
                    let problems = schema_problems(schema, value, &field, true);
                    self.errors.extend(problems);
                }
            }
        }
        let required = info.input_schema.get("required").and_then(Value::as_array);
        for name in required.into_iter().flatten().filter_map(Value::as_str) {
            if !fields.contains_key(name) {
                self.error(
                    join(&input_path, name),
                    format!("{key} needs input field '{name}'"),
                );
            }
        }
    }

    /// Every template string inside `value`.
    fn templates(&mut self, value: &Value, path: &str, scope: &Scope<'_>) {
        match value {
            Value::String(text) if template::is_template(text) => self.template(text, path, scope),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.templates(item, &index(path, i), scope);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    self.templates(item, &join(path, key), scope);
                }
            }
            _ => {}
        }
    }

    fn template(&mut self, source: &str, path: &str, scope: &Scope<'_>) {
        match template::check_template(source) {
            Ok(()) => self.references(source, false, path, scope),
            Err(reason) => self.error(path, format!("the template does not parse: {reason}")),
        }
    }

    fn expression(&mut self, source: &str, path: &str, scope: &Scope<'_>) {
        match template::check_expression(source) {
            Ok(()) => self.references(source, true, path, scope),
            Err(reason) => self.error(path, format!("the expression does not parse: {reason}")),
        }
    }

    /// Checks the names an expression reads: known roots, `steps.<id>` visible here,
    /// `config.<name>` declared.
    fn references(&mut self, source: &str, expression: bool, path: &str, scope: &Scope<'_>) {
        let mut references: Vec<(String, Option<String>)> = Vec::new();
        let mut variables: Vec<String> = template::variables(source, expression)
            .unwrap_or_default()
            .into_iter()
            .collect();
        variables.sort();
        for variable in variables {
            let mut parts = variable.splitn(3, '.');
            let root = parts.next().unwrap_or_default().to_owned();
            let second = parts.next().map(str::to_owned);
            references.push((root, second));
        }
        for captures in SUBSCRIPT.captures_iter(source) {
            references.push((captures[1].to_owned(), Some(captures[2].to_owned())));
        }
        let mut reported = HashSet::new();
        for (root, second) in references {
            if !reported.insert((root.clone(), second.clone())) {
                continue;
            }
            if let Some(message) = self.reference_problem(&root, second.as_deref(), scope) {
                self.error(path, message);
            }
        }
    }

    fn reference_problem(
        &self,
        root: &str,
        second: Option<&str>,
        scope: &Scope<'_>,
    ) -> Option<String> {
        let in_filter = scope.step.is_none();
        let roots: &[&str] = if in_filter {
            &FILTER_ROOTS
        } else {
            &CONTEXT_ROOTS
        };
        let is_loop_var = scope.loops.iter().any(|l| l.as_name == root);
        if !roots.contains(&root) && !is_loop_var && !GLOBALS.contains(&root) {
            let mut names: Vec<&str> = roots.to_vec();
            names.extend(scope.loops.iter().map(|l| l.as_name.as_str()));
            return Some(if in_filter && CONTEXT_ROOTS.contains(&root) {
                format!(
                    "a trigger filter sees only {}; '{root}' is not there yet",
                    FILTER_ROOTS.join(", ")
                )
            } else {
                format!(
                    "unknown name '{root}'; expressions here see {}",
                    names.join(", ")
                )
            });
        }
        let name = second?;
        match root {
            "config" if !self.def.config.contains_key(name) => {
                let declared: Vec<&str> = self.def.config.keys().map(String::as_str).collect();
                Some(if declared.is_empty() {
                    format!("refers to config.{name}, but the workflow declares no config fields")
                } else {
                    format!(
                        "refers to config.{name}, which is not declared under config (declared: {})",
                        declared.join(", ")
                    )
                })
            }
            "steps" if !is_loop_var => self.step_reference_problem(name, scope),
            _ => None,
        }
    }

    fn step_reference_problem(&self, id: &str, scope: &Scope<'_>) -> Option<String> {
        if scope.visible.iter().any(|v| v == id) {
            return None;
        }
        let Some(info) = self.steps.get(id) else {
            let ids: Vec<&str> = self.steps.keys().map(String::as_str).collect();
            let close = close_matches(id, &ids);
            let hint = if close.is_empty() {
                String::new()
            } else {
                format!("; did you mean {}?", close.join(" or "))
            };
            return Some(format!(
                "refers to steps.{id}, but no step has the id '{id}'{hint}"
            ));
        };
        if scope.step == Some(id) {
            return Some(format!(
                "refers to steps.{id}, its own step, whose output does not exist yet"
            ));
        }
        if let Some(outside) = info
            .loops
            .iter()
            .find(|l| !scope.loops.iter().any(|s| &s.id == *l))
        {
            return Some(format!(
                "refers to steps.{id}, which is inside the for_each step '{outside}': its output is visible only inside that loop (use steps.{outside}.output after it)"
            ));
        }
        Some(format!(
            "refers to steps.{id} ({}), which has not run yet at this point; a step may refer only to steps that run before it",
            info.path
        ))
    }
}

/// Up to three of `candidates` close to `name`, closest first.
fn close_matches<'c>(name: &str, candidates: &[&'c str]) -> Vec<&'c str> {
    let mut scored: Vec<(f64, &str)> = candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(name, c), *c))
        .filter(|(score, _)| *score >= 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// Checks `value` against a JSON Schema; problems are at `field` plus the path inside the
/// value. With `allow_templates`, template strings are not type-checked: problems at or inside a
/// template, and alternatives/enums over values that hold one, are left out.
pub(crate) fn schema_problems(
    schema: &Value,
    value: &Value,
    field: &str,
    allow_templates: bool,
) -> Vec<FieldError> {
    let mut templated: Vec<Vec<String>> = Vec::new();
    if allow_templates {
        template_paths(value, &mut Vec::new(), &mut templated);
    }
    if templated.iter().any(Vec::is_empty) {
        return Vec::new();
    }
    let validator = match jsonschema::options()
        .with_draft(Draft::Draft7)
        .should_validate_formats(false)
        .build(schema)
    {
        Ok(validator) => validator,
        Err(e) => {
            return vec![FieldError::new(
                field,
                format!("internal error: the field's schema does not compile: {e}"),
            )]
        }
    };
    let mut problems = Vec::new();
    for error in validator.iter_errors(value) {
        let segments: Vec<String> = error
            .instance_path()
            .segments()
            .map(|s| match s {
                LocationSegment::Property(p) => p.to_string(),
                LocationSegment::Index(i) => i.to_string(),
            })
            .collect();
        let at_or_in_template = templated.iter().any(|t| segments.starts_with(t));
        let above_template = templated.iter().any(|t| t.starts_with(&segments));
        let composite = matches!(
            error.kind(),
            ValidationErrorKind::AnyOf { .. }
                | ValidationErrorKind::OneOfNotValid { .. }
                | ValidationErrorKind::OneOfMultipleValid { .. }
                | ValidationErrorKind::Not { .. }
                | ValidationErrorKind::Enum { .. }
                | ValidationErrorKind::Constant { .. }
                | ValidationErrorKind::Contains
                | ValidationErrorKind::UniqueItems
        );
        if at_or_in_template || (above_template && composite) {
            continue;
        }
        let mut at = field.to_owned();
        for segment in error.instance_path().segments() {
            match segment {
                LocationSegment::Property(p) => at = join(&at, &p),
                LocationSegment::Index(i) => at = index(&at, i),
            }
        }
        let got = shown(error.instance());
        match error.kind() {
            ValidationErrorKind::Type { kind } => problems.push(FieldError::new(
                at,
                format!("must be {}; got {got}", expected_types(kind)),
            )),
            ValidationErrorKind::Enum { options } => {
                let options: Vec<String> = options
                    .as_array()
                    .map(|o| o.iter().filter(|v| !v.is_null()).map(shown).collect())
                    .unwrap_or_default();
                problems.push(FieldError::new(
                    at,
                    format!("must be one of: {}; got {got}", options.join(", ")),
                ));
            }
            ValidationErrorKind::Required { property } => {
                let name = property
                    .as_str()
                    .map_or_else(|| property.to_string(), str::to_owned);
                problems.push(FieldError::new(
                    join(&at, &name),
                    format!("'{name}' is required"),
                ));
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for name in unexpected {
                    problems.push(FieldError::new(
                        join(&at, name),
                        format!("unknown field '{name}'"),
                    ));
                }
            }
            ValidationErrorKind::Pattern { pattern } if pattern == "^-?[0-9]+$" => {
                problems.push(FieldError::new(
                    at,
                    format!("must be an integer or a string of digits; got {got}"),
                ))
            }
            _ => problems.push(FieldError::new(at, error.to_string())),
        }
    }
    problems.dedup();
    problems
}

/// The paths (as segments) of the template strings inside `value`.
fn template_paths(value: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::String(text) if template::is_template(text) => out.push(at.clone()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                at.push(i.to_string());
                template_paths(item, at, out);
                at.pop();
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                at.push(key.clone());
                template_paths(item, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn type_name(kind: JsonType) -> &'static str {
    match kind {
        JsonType::Array => "a list",
        JsonType::Boolean => "true or false",
        JsonType::Integer => "an integer",
        JsonType::Null => "null",
        JsonType::Number => "a number",
        JsonType::Object => "an object",
        JsonType::String => "a string",
    }
}

fn expected_types(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(kind) => type_name(*kind).to_owned(),
        TypeKind::Multiple(kinds) => {
            // Null last: "a list or null".
            let mut kinds: Vec<JsonType> = kinds.iter().collect();
            kinds.sort_by_key(|k| *k == JsonType::Null);
            let names: Vec<&str> = kinds.into_iter().map(type_name).collect();
            names.join(" or ")
        }
    }
}

/// A value for a message, shortened.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        let short: String = text.chars().take(60).collect();
        format!("{short}…")
    } else {
        text
    }
}
