//! Validation on save: the trigger and its params, config fields, the walk over the steps (ids,
//! retry, each kind's own checks through `StepCheck`), every template and expression, and what
//! they refer to (`steps.<id>` only for steps that ran before, `config.<name>` only when
//! declared). JSON Schema problems are phrased here too (`schema_problems`).

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;
use std::time::Duration;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use jsonschema::{Draft, JsonType};
use regex::Regex;
use serde_json::Value;

use super::definition::{duration_text, Definition, Step};
use super::parse::{describe, index, join};
use super::template;
use crate::error::FieldError;
use crate::suggest::{close_matches, did_you_mean};

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

static STEP_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-z0-9_]{1,64}$").unwrap());
static NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$").unwrap());
/// `steps['id']` / `config["name"]`: references by subscript, which attribute chains miss. The
/// character before, if any, is captured and checked in code (`preceded_by_name`): written in
/// the pattern as Unicode's `[^\w.]`, it made the compiled pattern 0.8 MB of heap for the life
/// of the process, against 0.01 MB.
static SUBSCRIPT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:^|(?s:(.)))(steps|config)\s*\[\s*['"]([^'"]+)['"]\s*\]"#).unwrap()
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

/// A `for_each` around the current step: its id, loop variable, and how many times its body
/// may run in one execution (its `max_iterations` times those of the loops around it).
#[derive(Clone)]
pub(crate) struct Loop {
    pub id: String,
    pub as_name: String,
    pub body_runs: u64,
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
            let known = crate::triggers::trigger_key_names();
            let hint = did_you_mean(&spec.key, &known);
            self.error(
                "trigger.type",
                format!(
                    "unknown trigger '{}'; {hint}expected one of: {}",
                    spec.key,
                    known.join(", ")
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
            let mut inner_loops = loops.to_vec();
            if step.kind.is_loop() {
                inner_loops.push(step.id.clone());
            }
            for (key, inner) in step.kind.children() {
                self.index_steps(inner, &join(&step_path, key), &inner_loops);
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
                    format!("must be at most {}", duration_text(MAX_BACKOFF)),
                );
            }
        }
        let mut check = StepCheck {
            validator: self,
            id: &step.id,
            path,
            visible,
            loops,
        };
        step.kind.validate(&mut check);
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
            // `mysteps['a']` or `x.steps['a']` is another name, or an attribute of one.
            let preceded_by_name = captures
                .get(1)
                .and_then(|before| before.as_str().chars().next())
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.');
            if !preceded_by_name {
                references.push((captures[2].to_owned(), Some(captures[3].to_owned())));
            }
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

/// One step being checked, as its kind's `validate` sees it: where it is (fields are named
/// relative to the step: `input.text`, `http.url`) and what its expressions may refer to.
pub(crate) struct StepCheck<'c, 'd> {
    validator: &'c mut Validator<'d>,
    /// The step's id.
    pub id: &'c str,
    path: &'c str,
    /// The steps whose output is there when this one runs; a container adds what runs inside
    /// it and stays visible after it.
    pub visible: &'c mut Vec<String>,
    /// The loops around the step, outermost first.
    pub loops: &'c [Loop],
}

impl StepCheck<'_, '_> {
    /// The full path of `field` (`steps[2].input.text` for `input.text`).
    pub fn field(&self, field: &str) -> String {
        join(self.path, field)
    }

    pub fn error(&mut self, field: impl AsRef<str>, message: impl Into<String>) {
        let field = self.field(field.as_ref());
        self.validator.error(field, message);
    }

    /// Problems already at their full paths.
    pub fn problems(&mut self, problems: Vec<FieldError>) {
        self.validator.errors.extend(problems);
    }

    /// Whether `name` at `field` can be a name in templates (a `set` value, a loop's `as`);
    /// reports it if not.
    pub fn name(&mut self, name: &str, field: &str) -> bool {
        let usable = NAME.is_match(name);
        if !usable {
            self.error(
                field,
                format!("'{name}' is not a usable name: letters, digits and _, not starting with a digit"),
            );
        }
        usable
    }

    pub fn expression(&mut self, source: &str, field: &str) {
        let path = self.field(field);
        self.in_scope(|v, scope| v.expression(source, &path, scope));
    }

    /// A string known to hold a template.
    pub fn template(&mut self, source: &str, field: &str) {
        let path = self.field(field);
        self.in_scope(|v, scope| v.template(source, &path, scope));
    }

    /// Every template string inside `value`.
    pub fn templates(&mut self, value: &Value, field: &str) {
        let path = self.field(field);
        self.in_scope(|v, scope| v.templates(value, &path, scope));
    }

    /// Checks steps inside this one, under `key`, seeing `visible` and inside `loops`.
    pub fn steps(&mut self, steps: &[Step], key: &str, visible: &mut Vec<String>, loops: &[Loop]) {
        let path = self.field(key);
        self.validator.steps(steps, &path, visible, loops);
    }

    /// Runs `check` with what an expression of this step may refer to.
    fn in_scope(&mut self, check: impl FnOnce(&mut Validator<'_>, &Scope<'_>)) {
        let scope = Scope {
            step: Some(self.id),
            visible: self.visible.as_slice(),
            loops: self.loops,
        };
        check(self.validator, &scope);
    }
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
