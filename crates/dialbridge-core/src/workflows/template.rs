//! Templates and expressions (minijinja, strict about undefined values, no autoescaping): a
//! string that is exactly one `{{ expr }}` keeps the value's JSON type, other strings with
//! `{{`/`{%` render to text, and bare expressions (`if`, `for_each`, filters) give JSON values.

use std::collections::HashSet;
use std::sync::LazyLock;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::{Map, Value};

/// A template or expression that failed to compile or to evaluate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// Names the template or expression and minijinja's reason.
    pub message: String,
}

impl TemplateError {
    fn new(source: &str, reason: impl std::fmt::Display) -> Self {
        TemplateError {
            message: format!("`{}`: {reason}", shorten(source)),
        }
    }
}

/// The environment every template and expression runs in.
fn environment<'s>() -> Environment<'s> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_recursion_limit(100);
    env
}

static ENV: LazyLock<Environment<'static>> = LazyLock::new(environment);

/// Whether a string holds template syntax (`{{` or `{%`).
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// Whether a JSON value holds a template anywhere inside.
pub fn has_template(value: &Value) -> bool {
    match value {
        Value::String(s) => is_template(s),
        Value::Array(items) => items.iter().any(has_template),
        Value::Object(map) => map.values().any(has_template),
        _ => false,
    }
}

/// The expression of a string that is exactly one `{{ expr }}` (after trimming), with its
/// whitespace-control dashes removed.
pub fn single_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") || inner.contains("{#")
    {
        return None;
    }
    let inner = inner.strip_prefix(['-', '+']).unwrap_or(inner);
    let inner = inner.strip_suffix(['-', '+']).unwrap_or(inner);
    let inner = inner.trim();
    (!inner.is_empty()).then_some(inner)
}

/// A bare expression; a stray `{{ … }}` around it is forgiven.
fn bare(expr: &str) -> &str {
    single_expression(expr).unwrap_or(expr.trim())
}

/// Renders every template inside `value` (objects and arrays are walked; keys are left as
/// they are). A string that is exactly one `{{ expr }}` becomes the expression's value with its
/// type; other template strings become the rendered text; everything else is unchanged.
pub fn render(value: &Value, ctx: &Value) -> Result<Value, TemplateError> {
    if !has_template(value) {
        return Ok(value.clone());
    }
    let ctx = minijinja::Value::from_serialize(ctx);
    render_with(value, &ctx)
}

fn render_with(value: &Value, ctx: &minijinja::Value) -> Result<Value, TemplateError> {
    match value {
        Value::String(text) if is_template(text) => match single_expression(text) {
            Some(expr) => eval_with(expr, ctx),
            None => ENV
                .render_str(text, ctx)
                .map(Value::String)
                .map_err(|e| TemplateError::new(text, located(&e, text))),
        },
        Value::Array(items) => items
            .iter()
            .map(|item| render_with(item, ctx))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), render_with(v, ctx)?)))
            .collect::<Result<Map<_, _>, _>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

/// Evaluates a bare expression (`event.duration > 0`) to a JSON value.
pub fn eval(expr: &str, ctx: &Value) -> Result<Value, TemplateError> {
    eval_with(bare(expr), &minijinja::Value::from_serialize(ctx))
}

/// Evaluates a bare expression for its truth, as Jinja sees it (empty lists, `0`, `""`,
/// `none` and `false` are false).
pub fn eval_bool(expr: &str, ctx: &Value) -> Result<bool, TemplateError> {
    let expr = bare(expr);
    let value = eval_value(expr, &minijinja::Value::from_serialize(ctx))?;
    Ok(value.is_true())
}

fn eval_value(expr: &str, ctx: &minijinja::Value) -> Result<minijinja::Value, TemplateError> {
    let compiled = ENV
        .compile_expression_owned(expr.to_owned())
        .map_err(|e| TemplateError::new(expr, reason(&e)))?;
    let value = compiled
        .eval(ctx)
        .map_err(|e| TemplateError::new(expr, reason(&e)))?;
    if value.is_undefined() {
        return Err(TemplateError::new(expr, "undefined value"));
    }
    Ok(value)
}

fn eval_with(expr: &str, ctx: &minijinja::Value) -> Result<Value, TemplateError> {
    let value = eval_value(expr, ctx)?;
    serde_json::to_value(&value)
        .map_err(|e| TemplateError::new(expr, format!("the value cannot be JSON: {e}")))
}

/// Checks that a template (a string with `{{`/`{%`) compiles.
pub fn check_template(source: &str) -> Result<(), String> {
    match single_expression(source) {
        Some(expr) => check_expression(expr),
        None => environment()
            .template_from_str(source)
            .map(|_| ())
            .map_err(|e| reason(&e)),
    }
}

/// Checks that a bare expression compiles.
pub fn check_expression(expr: &str) -> Result<(), String> {
    environment()
        .compile_expression(bare(expr))
        .map(|_| ())
        .map_err(|e| reason(&e))
}

/// The variables a template or expression reads from its context, as dotted paths where they
/// are attribute chains (`steps.call.output.duration`, `event`); `None` when it does not
/// compile. Variables the template assigns itself are left out.
pub(crate) fn variables(source: &str, expression: bool) -> Option<HashSet<String>> {
    let env = environment();
    let expr = if expression {
        Some(bare(source))
    } else {
        single_expression(source)
    };
    match expr {
        Some(expr) => env
            .compile_expression(expr)
            .ok()
            .map(|e| e.undeclared_variables(true)),
        None => env
            .template_from_str(source)
            .ok()
            .map(|t| t.undeclared_variables(true)),
    }
}

/// minijinja's reason: the error's kind and detail, and where it is when the source has
/// several lines.
fn reason(error: &minijinja::Error) -> String {
    let mut text = error.kind().to_string();
    if let Some(detail) = error.detail() {
        text.push_str(": ");
        text.push_str(detail);
    }
    if let Some(line) = error.line().filter(|l| *l > 1) {
        text.push_str(&format!(" (line {line})"));
    }
    text
}

/// The reason, and the part of a template it concerns when that is not the whole template
/// (`undefined value at \`event.nmae\``).
fn located(error: &minijinja::Error, source: &str) -> String {
    // minijinja's span of an attribute lookup may start at the dot: widen it to the whole
    // attribute chain.
    let part = error
        .range()
        .map(|range| {
            let start = source
                .get(..range.start)
                .map(|before| {
                    before
                        .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
                        .map_or(0, |i| i + 1)
                })
                .unwrap_or(range.start);
            start..range.end
        })
        .and_then(|range| source.get(range))
        .map(str::trim)
        .filter(|part| !part.is_empty() && *part != source.trim());
    match part {
        Some(part) => format!("{} at `{}`", reason(error), shorten(part)),
        None => reason(error),
    }
}

fn shorten(source: &str) -> String {
    const MAX: usize = 120;
    let trimmed = source.trim();
    if trimmed.chars().count() <= MAX {
        trimmed.to_owned()
    } else {
        let mut short: String = trimmed.chars().take(MAX).collect();
        short.push('…');
        short
    }
}
