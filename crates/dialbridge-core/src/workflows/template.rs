//! Templates and expressions (minijinja, strict about undefined values, no autoescaping): a
//! string that is exactly one `{{ expr }}` keeps the value's JSON type, other strings with
//! `{{`/`{%` render to text, and bare expressions (`if`, `for_each`, filters) give JSON values.
//!
//! Every evaluation has a budget: `FUEL` steps of minijinja's machine (an endless or huge loop
//! stops with an error), an output of at most `MAX_OUTPUT` bytes as JSON, and a template of at most
//! `MAX_SOURCE` bytes. Templates hold no state: `{% set %}`, `{% macro %}`, `{% call %}`,
//! `{% filter %}` and `namespace()` are refused (values that grow with each statement would
//! escape the step budget), as is repeating text more than `MAX_REPEAT` times.

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

/// The steps of minijinja's machine one evaluation may take.
pub const FUEL: u64 = 200_000;
/// The most bytes one evaluation may produce (text, or a value as JSON).
pub const MAX_OUTPUT: usize = 1024 * 1024;
/// The longest template or expression.
pub const MAX_SOURCE: usize = 16 * 1024;
/// The largest literal repeat count (`'-' * 80`).
pub const MAX_REPEAT: u64 = 10_000;

/// The environment every template and expression runs in.
fn environment<'s>() -> Environment<'s> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_recursion_limit(100);
    env.set_fuel(Some(FUEL));
    env.remove_global("namespace");
    env
}

/// Statements that keep state within a template; refused.
static STATEFUL: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"\{%[-+]?\s*(set|macro|call|filter)\b|\bnamespace\s*\(")
        .expect("a valid pattern")
});
/// A repeat with a literal count (`* 100000`, `100000 *`).
static REPEAT: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"\*\s*(\d+)|(\d+)\s*\*").expect("a valid pattern"));

/// What the budget refuses in a template's source, before it runs.
fn check_budget(source: &str) -> Result<(), String> {
    if source.len() > MAX_SOURCE {
        return Err(format!(
            "is {} bytes long; a template may be at most {MAX_SOURCE} bytes",
            source.len()
        ));
    }
    if let Some(found) = STATEFUL.find(source) {
        return Err(format!(
            "`{}` is not allowed: templates hold no state (use a `set` step for named values)",
            found.as_str().trim()
        ));
    }
    for repeat in REPEAT.captures_iter(source) {
        let count = repeat.get(1).or(repeat.get(2)).map(|m| m.as_str());
        if count
            .and_then(|c| c.parse::<u64>().ok())
            .is_none_or(|n| n > MAX_REPEAT)
        {
            return Err(format!(
                "repeats something more than {MAX_REPEAT} times; that is over the template budget"
            ));
        }
    }
    Ok(())
}

/// Refuses a result over `MAX_OUTPUT` bytes as JSON (how it is stored and sent: a control
/// character takes six bytes there, so a string's length alone would let a result six times
/// the budget through).
fn within_output_json(source: &str, value: &Value) -> Result<(), TemplateError> {
    within_output(source, serde_json::to_vec(value).map_or(0, |b| b.len()))
}

/// Refuses a result over `MAX_OUTPUT` bytes.
fn within_output(source: &str, size: usize) -> Result<(), TemplateError> {
    if size > MAX_OUTPUT {
        return Err(TemplateError::new(
            source,
            format!("produced {size} bytes; a template may produce at most {MAX_OUTPUT} bytes"),
        ));
    }
    Ok(())
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
        Value::String(text) if is_template(text) => {
            check_budget(text).map_err(|reason| TemplateError::new(text, reason))?;
            match single_expression(text) {
                Some(expr) => eval_with(expr, ctx),
                None => {
                    let rendered = unpanicked(|| ENV.render_str(text, ctx))
                        .map_err(|e| TemplateError::new(text, located(&e, text)))?;
                    // Longer than the budget is over it as JSON too; no need to encode it.
                    within_output(text, rendered.len())?;
                    let rendered = Value::String(rendered);
                    within_output_json(text, &rendered)?;
                    Ok(rendered)
                }
            }
        }
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
    check_budget(expr).map_err(|reason| TemplateError::new(expr, reason))?;
    let compiled = unpanicked(|| ENV.compile_expression_owned(expr.to_owned()))
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
    if let Some(text) = value.as_str() {
        // Longer than the budget is over it as JSON too; no need to encode it.
        within_output(expr, text.len())?;
    }
    let json = serde_json::to_value(&value)
        .map_err(|e| TemplateError::new(expr, format!("the value cannot be JSON: {e}")))?;
    within_output_json(expr, &json)?;
    Ok(json)
}

/// Checks that a template (a string with `{{`/`{%`) compiles and is within the budget.
pub fn check_template(source: &str) -> Result<(), String> {
    check_budget(source)?;
    match single_expression(source) {
        Some(expr) => check_expression(expr),
        None => unpanicked(|| environment().template_from_str(source).map(|_| ()))
            .map_err(|e| reason(&e)),
    }
}

/// Checks that a bare expression compiles and is within the budget.
pub fn check_expression(expr: &str) -> Result<(), String> {
    check_budget(expr)?;
    unpanicked(|| environment().compile_expression(bare(expr)).map(|_| ())).map_err(|e| reason(&e))
}

/// Runs minijinja's compiler (or a render, which compiles first), turning a panic inside it
/// into an error: some malformed sources (`}}` followed by a NUL) make minijinja 2.24's lexer
/// panic, and a workflow's text must never take a request or a step down with it.
fn unpanicked<T>(
    work: impl FnOnce() -> Result<T, minijinja::Error>,
) -> Result<T, minijinja::Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|_| {
        Err(minijinja::Error::new(
            minijinja::ErrorKind::SyntaxError,
            "the template could not be read",
        ))
    })
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
        Some(expr) => unpanicked(|| env.compile_expression(expr))
            .ok()
            .map(|e| e.undeclared_variables(true)),
        None => unpanicked(|| env.template_from_str(source))
            .ok()
            .map(|t| t.undeclared_variables(true)),
    }
}

/// minijinja's reason: the error's kind and detail, and where it is when the source has
/// several lines.
fn reason(error: &minijinja::Error) -> String {
    if error.kind() == minijinja::ErrorKind::OutOfFuel {
        return format!(
            "took more than {FUEL} steps, the template budget (an endless or very large loop?)"
        );
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_that_make_minijinjas_lexer_panic_are_refused_as_errors() {
        let ctx = serde_json::json!({});
        for source in ["}}\0", "}}"] {
            assert!(check_expression(source).is_err(), "{source:?}");
            assert!(eval(source, &ctx).is_err(), "{source:?}");
            assert!(eval_bool(source, &ctx).is_err(), "{source:?}");
        }
    }

    /// Found by libFuzzer: control characters are 1 byte in a string but 6 in its JSON, so
    /// 360 KB of NULs (within the budget by length) were stored and sent as 2.1 MB.
    #[test]
    fn the_output_budget_counts_the_json_a_result_becomes() {
        let ctx = serde_json::json!({});
        let chunk = "\u{1}".repeat(200);
        // 200,000 characters: a fifth of the budget as text, 1.2 MB as JSON.
        let expression = format!("'{chunk}' * 1000");
        for result in [
            eval(&expression, &ctx),
            render(&serde_json::json!(format!("{{{{ {expression} }}}}")), &ctx),
            render(&serde_json::json!(format!("x{{{{ {expression} }}}}")), &ctx),
        ] {
            let error = result.expect_err("over the budget as JSON");
            assert!(error.to_string().contains("at most"), "{error}");
        }
        // The same text of plain letters is within it.
        let letters = format!("'{}' * 1000", "a".repeat(200));
        assert!(eval(&letters, &ctx).is_ok());
    }
}
