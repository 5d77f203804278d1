//! Templates and expressions (minijinja, strict about undefined values, no autoescaping): a
//! string that is exactly one `{{ expr }}` keeps the value's JSON type, other strings with
//! `{{`/`{%` render to text, and bare expressions (`if`, `for_each`, filters) give JSON values.
//!
//! Every evaluation has a budget: `FUEL` steps of minijinja's machine (an endless or huge loop
//! stops with an error), values and an output of at most `MAX_OUTPUT` bytes as JSON, at most
//! `BYTE_BUDGET` bytes made or walked by its operators, filters and walks in all (`budget`,
//! `operators`, `filters`), and a template of at most `MAX_SOURCE` bytes. Templates hold no
//! state: `{% set %}`, `{% macro %}`, `{% call %}`, `{% filter %}` and `namespace()` are
//! refused (values that grow with each statement would escape the step budget), as is a
//! literal repeat count over `MAX_REPEAT`.

mod budget;
mod compiled;
mod context;
mod filters;
mod operators;

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

pub use budget::BYTE_BUDGET;
use budget::{BoundedOutput, Fits, MAX_DEPTH};

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
/// The steps an evaluation tried within the small budget may take (see `within_small_budget`).
const SMALL_FUEL: u64 = 5_000;
/// The largest context (as JSON) an evaluation is tried on within the small budget: listing a
/// map's keys for a walk is work outside the fuel.
const SMALL_CONTEXT: usize = 64 * 1024;
/// The most bytes one evaluation may produce (text, or a value as JSON).
pub const MAX_OUTPUT: usize = 1024 * 1024;
/// The longest template or expression.
pub const MAX_SOURCE: usize = 16 * 1024;
/// The largest literal repeat count (`'-' * 80`).
pub const MAX_REPEAT: u64 = 10_000;

/// The environment every template and expression runs in, with `fuel` steps for each.
fn environment<'s>(fuel: u64) -> Environment<'s> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_recursion_limit(100);
    env.set_fuel(Some(fuel));
    env.remove_global("namespace");
    operators::register(&mut env);
    filters::register(&mut env);
    // What `{{ … }}` writes into a text is measured first, like a value that becomes JSON: a
    // lazily repeated sequence would otherwise be walked to its (huge) end.
    env.set_formatter(|out, state, value| {
        if let Err(problem) = budget::size(value) {
            return problem.or_error("the value");
        }
        minijinja::escape_formatter(out, state, value)
    });
    env
}

/// Statements that keep state within a template; refused.
static STATEFUL: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"\{%[-+]?\s*(set|macro|call|filter)\b|\bnamespace\s*\(")
        .expect("a valid pattern")
});
/// A repeat with a literal count (`* 100000`, `1_000_000 *`, `0xFFFF *`: minijinja reads `_`
/// in numbers and radix prefixes).
static REPEAT: LazyLock<regex::Regex> = LazyLock::new(|| {
    let number = r"(0[xXoObB][0-9a-fA-F_]+|[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][+-]?[0-9_]+)?)";
    regex::Regex::new(&format!(r"\*\s*{number}|{number}\s*\*")).expect("a valid pattern")
});

/// A literal count as minijinja reads it.
fn literal_count(text: &str) -> Option<u64> {
    let digits = text.replace('_', "");
    let radix = match digits.get(..2) {
        Some("0x" | "0X") => 16,
        Some("0o" | "0O") => 8,
        Some("0b" | "0B") => 2,
        // `5e4` and `2.0` count too (minijinja repeats by an integral float).
        _ if digits.contains(['.', 'e', 'E']) => {
            return digits
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .map(|n| n.min(u64::MAX as f64) as u64);
        }
        _ => return digits.parse().ok(),
    };
    u64::from_str_radix(&digits[2..], radix).ok()
}

/// What the budget refuses in a template's source, before it runs.
fn check_budget(source: &str) -> Result<(), String> {
    check_length(source)?;
    if let Some(found) = STATEFUL.find(source) {
        return Err(format!(
            "`{}` is not allowed: templates hold no state (use a `set` step for named values)",
            found.as_str().trim()
        ));
    }
    for repeat in REPEAT.captures_iter(source) {
        let count = repeat.get(1).or(repeat.get(2)).map(|m| m.as_str());
        if count.and_then(literal_count).is_none_or(|n| n > MAX_REPEAT) {
            return Err(format!(
                "repeats something more than {MAX_REPEAT} times; that is over the template budget"
            ));
        }
    }
    Ok(())
}

/// Refuses a source over `MAX_SOURCE` bytes.
fn check_length(source: &str) -> Result<(), String> {
    if source.len() > MAX_SOURCE {
        return Err(format!(
            "is {} bytes long; a template may be at most {MAX_SOURCE} bytes",
            source.len()
        ));
    }
    Ok(())
}

/// Refuses a result over `MAX_OUTPUT` bytes as JSON (how it is stored and sent: a control
/// character takes six bytes there, so a string's length alone would let a result six times
/// the budget through).
fn within_output_json(source: &str, value: &Value) -> Result<(), TemplateError> {
    within_output(source, serde_json::to_vec(value).map_or(0, |b| b.len()))
}

/// The error of a result found over `MAX_OUTPUT` bytes before it was all produced.
fn over_output(source: &str) -> TemplateError {
    TemplateError::new(
        source,
        format!("produced more than {MAX_OUTPUT} bytes; a template may produce at most {MAX_OUTPUT} bytes"),
    )
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

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| environment(FUEL));
static SMALL_ENV: LazyLock<Environment<'static>> = LazyLock::new(|| environment(SMALL_FUEL));

/// The environment of an evaluation on this thread: the small budget's fuel, or the whole.
fn env() -> &'static Environment<'static> {
    if budget::small() {
        &SMALL_ENV
    } else {
        &ENV
    }
}

/// Runs `work` (evaluations of templates) within a small budget (`SMALL_FUEL` steps, 64 KiB
/// made or walked, a context of at most 64 KiB), so that it takes microseconds at most; `None`
/// when it did not succeed within that (it needs more, or it fails). Evaluation changes
/// nothing, so the caller then runs it again with the whole budget, where its result or error
/// is the one to answer. Almost every template of a workflow is small: this lets it run where
/// it is, and only the others be moved off the async workers.
pub fn within_small_budget<T>(work: impl FnOnce() -> Result<T, TemplateError>) -> Option<T> {
    budget::within_small(work).ok()
}

/// Whether `value`'s JSON is at most `room` bytes (roughly: its strings' bytes and a few for
/// each element and key); stops as soon as it is not.
fn json_within(value: &Value, room: &mut usize) -> bool {
    fn take(room: &mut usize, bytes: usize) -> bool {
        match room.checked_sub(bytes) {
            Some(left) => {
                *room = left;
                true
            }
            None => false,
        }
    }
    match value {
        Value::String(s) => take(room, s.len() + 2),
        Value::Array(items) => take(room, 2) && items.iter().all(|item| json_within(item, room)),
        Value::Object(map) => {
            take(room, 2)
                && map
                    .iter()
                    .all(|(k, v)| take(room, k.len() + 4) && json_within(v, room))
        }
        _ => take(room, 8),
    }
}

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
    // Looked for one brace at a time first: almost every expression has none.
    if inner.contains(['{', '}'])
        && ["{{", "}}", "{%", "{#"]
            .iter()
            .any(|tag| inner.contains(tag))
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
pub fn render(value: &Value, ctx: &Arc<Value>) -> Result<Value, TemplateError> {
    if !has_template(value) {
        return Ok(value.clone());
    }
    render_with(value, &context(ctx)?)
}

fn render_with(value: &Value, ctx: &minijinja::Value) -> Result<Value, TemplateError> {
    match value {
        Value::String(text) if is_template(text) => {
            match single_expression(text) {
                // The rest of the budget's check is the expression's, made where it is
                // compiled, once (`eval_value`): the text adds only `{{ }}` to it.
                Some(expr) => {
                    check_length(text).map_err(|reason| TemplateError::new(text, reason))?;
                    eval_with(expr, ctx)
                }
                None => {
                    check_budget(text).map_err(|reason| TemplateError::new(text, reason))?;
                    let source = bounded(text, false).map_err(|r| TemplateError::new(text, r))?;
                    let mut out = BoundedOutput::default();
                    budget::start();
                    let rendered = unpanicked(|| {
                        env()
                            .template_from_str(&source)?
                            .render_captured_to(ctx, &mut out)
                            .map(|_| ())
                    });
                    if out.over {
                        return Err(over_output(text));
                    }
                    within_budget(text)?;
                    rendered.map_err(|e| TemplateError::new(text, located(&e, &source)))?;
                    let rendered = Value::String(String::from_utf8_lossy(&out.bytes).into_owned());
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

/// The context a template sees: `ctx`, read where it is read (`context`), its sequences and
/// maps metered (see `budget::Metered`). Within the small budget, a context over
/// `SMALL_CONTEXT` is refused; that error is never answered (see `within_small_budget`).
fn context(ctx: &Arc<Value>) -> Result<minijinja::Value, TemplateError> {
    let mut room = SMALL_CONTEXT;
    if budget::small() && !json_within(ctx, &mut room) {
        return Err(TemplateError {
            message: "the context is over the small budget".into(),
        });
    }
    Ok(budget::metered(context::of(ctx.clone())))
}

/// Refuses the result of an evaluation that ran out of its byte budget: a walk that ran out
/// ended early, so what it answered may be wrong.
fn within_budget(source: &str) -> Result<(), TemplateError> {
    if budget::exhausted() {
        return Err(TemplateError::new(
            source,
            reason(&budget::exhausted_error()),
        ));
    }
    Ok(())
}

/// Evaluates a bare expression (`event.duration > 0`) to a JSON value.
pub fn eval(expr: &str, ctx: &Arc<Value>) -> Result<Value, TemplateError> {
    eval_with(bare(expr), &context(ctx)?)
}

/// Evaluates a bare expression for its truth, as Jinja sees it (empty lists, `0`, `""`,
/// `none` and `false` are false).
pub fn eval_bool(expr: &str, ctx: &Arc<Value>) -> Result<bool, TemplateError> {
    let expr = bare(expr);
    let value = eval_value(expr, &context(ctx)?)?;
    let truth = walked(expr, || Ok(value.is_true()))?;
    within_budget(expr)?;
    Ok(truth)
}

fn eval_value(expr: &str, ctx: &minijinja::Value) -> Result<minijinja::Value, TemplateError> {
    let compiled = compiled::remembered(budget::small(), expr, || {
        check_budget(expr).map_err(|reason| TemplateError::new(expr, reason))?;
        let source = bounded(expr, true).map_err(|reason| TemplateError::new(expr, reason))?;
        unpanicked(|| env().compile_expression_owned(source.into_owned()))
            .map_err(|e| TemplateError::new(expr, reason(&e)))
    })?;
    budget::start();
    let value = unpanicked(|| compiled.eval(ctx));
    within_budget(expr)?;
    let value = value.map_err(|e| TemplateError::new(expr, reason(&e)))?;
    if value.is_undefined() {
        return Err(TemplateError::new(expr, "undefined value"));
    }
    Ok(value)
}

fn eval_with(expr: &str, ctx: &minijinja::Value) -> Result<Value, TemplateError> {
    let value = eval_value(expr, ctx)?;
    // A lazy value (a slice, a repeat) runs minijinja's code when it is walked.
    let json = walked(expr, || json_of(expr, &value));
    within_budget(expr)?;
    json
}

/// Runs `work`, which walks a value minijinja made, turning a panic inside minijinja into an
/// error on the template (see `unpanicked`).
fn walked<T>(
    expr: &str,
    work: impl FnOnce() -> Result<T, TemplateError>,
) -> Result<T, TemplateError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|_| {
        Err(TemplateError::new(
            expr,
            "the template could not be evaluated",
        ))
    })
}

/// The JSON of an evaluated value, within the output budget.
fn json_of(expr: &str, value: &minijinja::Value) -> Result<Value, TemplateError> {
    // Measured before it becomes JSON: a sequence repeated a trillion times is a small lazy
    // value here, and would only be spelled out (and allocated) by the conversion.
    match budget::size(value) {
        Ok(_) => {}
        Err(Fits::TooDeep) => {
            return Err(TemplateError::new(
                expr,
                format!("nests values more than {MAX_DEPTH} levels deep"),
            ))
        }
        Err(_) => return Err(over_output(expr)),
    }
    let json = serde_json::to_value(value)
        .map_err(|e| TemplateError::new(expr, format!("the value cannot be JSON: {e}")))?;
    within_output_json(expr, &json)?;
    Ok(json)
}

/// Checks that a template (a string with `{{`/`{%`) compiles and is within the budget.
pub fn check_template(source: &str) -> Result<(), String> {
    check_budget(source)?;
    match single_expression(source) {
        Some(expr) => check_expression(expr),
        None => {
            unpanicked(|| ENV.template_from_str(source).map(|_| ())).map_err(|e| reason(&e))?;
            let bounded = bounded(source, false)?;
            unpanicked(|| ENV.template_from_str(&bounded).map(|_| ())).map_err(|e| reason(&e))
        }
    }
}

/// Checks that a bare expression compiles and is within the budget.
pub fn check_expression(expr: &str) -> Result<(), String> {
    check_budget(expr)?;
    let expr = bare(expr);
    unpanicked(|| ENV.compile_expression(expr).map(|_| ())).map_err(|e| reason(&e))?;
    let bounded = bounded(expr, true)?;
    unpanicked(|| ENV.compile_expression(&bounded).map(|_| ())).map_err(|e| reason(&e))
}

/// The source with its operators bounded (see `operators`), or why they cannot be.
fn bounded(source: &str, expression: bool) -> Result<Cow<'_, str>, String> {
    std::panic::catch_unwind(|| operators::bounded(source, expression))
        .unwrap_or_else(|_| Err("the template could not be read".to_owned()))
}

/// Runs minijinja (compiling, rendering or evaluating), turning a panic inside it into an
/// error: some malformed sources (`}}` followed by a NUL) make minijinja 2.24's lexer panic,
/// and so does a reversed slice of an empty list (`[][::-1]`, found by libFuzzer); a
/// workflow's text must never take a request or a step down with it.
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
    let env = &*ENV;
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
        // A part of a rewritten operator (`__concat(…)`) is not in what the author wrote.
        .filter(|part| !part.is_empty() && *part != source.trim() && !part.contains("__"));
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

    /// The small budget only ever says "not within me": what it answers is what the whole
    /// budget answers, and what needs more (steps, bytes, context) or fails is left to the
    /// whole budget, which then still runs on this thread.
    #[test]
    fn the_small_budget_answers_what_the_whole_one_does_or_leaves_it_to_it() {
        let ctx = Arc::new(serde_json::json!({ "event": { "call_id": 7, "items": [1, 2, 3] } }));
        let small = |value: &Value, ctx: &Arc<Value>| within_small_budget(|| render(value, ctx));
        for template in [
            serde_json::json!("{{ event.call_id }}"),
            serde_json::json!({"n": "{{ event.items | length }}", "t": "call {{ event.call_id }}"}),
            serde_json::json!("{% for i in event.items %}{{ i }},{% endfor %}"),
        ] {
            let whole = render(&template, &ctx).unwrap();
            assert_eq!(small(&template, &ctx), Some(whole), "{template}");
        }
        // More steps than the small fuel, more bytes than its byte budget, a context over
        // its size: not within it, and fine with the whole budget.
        let many_steps = serde_json::json!("{% for i in range(3000) %}{% endfor %}done");
        let many_bytes = serde_json::json!("{{ (('x' * 10000) * 8) | length }}");
        for template in [&many_steps, &many_bytes] {
            assert_eq!(small(template, &ctx), None, "{template}");
            assert!(render(template, &ctx).is_ok(), "{template}");
        }
        let large = Arc::new(serde_json::json!({ "event": { "text": "y".repeat(SMALL_CONTEXT) } }));
        let plain = serde_json::json!("{{ event.text | length }}");
        assert_eq!(small(&plain, &large), None);
        assert_eq!(
            render(&plain, &large).unwrap(),
            serde_json::json!(SMALL_CONTEXT)
        );
        // An expression of more steps than the small fuel: each budget keeps its own compiled
        // copy (`compiled`), so the one tried within the small budget first does not hold
        // the whole budget's evaluation to the small fuel.
        let names = Arc::new(serde_json::json!({ "n": 1 }));
        let long = serde_json::json!(format!("{{{{ [{}] | length }}}}", "n,".repeat(6000)));
        for _ in 0..2 {
            assert_eq!(small(&long, &names), None);
            assert_eq!(render(&long, &names).unwrap(), serde_json::json!(6000));
        }
        // An error is the whole budget's to give.
        let undefined = serde_json::json!("{{ event.missing.deeper }}");
        assert_eq!(small(&undefined, &ctx), None);
        // Afterwards this thread has the whole budget again, even after a panic inside.
        let _ = std::panic::catch_unwind(|| budget::within_small::<()>(|| panic!("inside")));
        assert!(!budget::small());
        assert!(render(&many_steps, &ctx).is_ok());
    }

    #[test]
    fn sources_that_make_minijinjas_lexer_panic_are_refused_as_errors() {
        let ctx = Arc::new(serde_json::json!({}));
        for source in ["}}\0", "}}"] {
            assert!(check_expression(source).is_err(), "{source:?}");
            assert!(eval(source, &ctx).is_err(), "{source:?}");
            assert!(eval_bool(source, &ctx).is_err(), "{source:?}");
        }
        // These compile, and made minijinja 2.24 panic when evaluated (found by libFuzzer).
        for source in ["[][::-1]", "[][1.::-3]"] {
            assert!(eval(source, &ctx).is_err(), "{source:?}");
            // Its truth does not walk it: whatever it answers, it answers.
            let _ = eval_bool(source, &ctx);
            let text = serde_json::json!(format!("x{{{{ {source} }}}}"));
            assert!(render(&text, &ctx).is_err(), "{source:?}");
        }
    }

    /// Found by libFuzzer: a sequence repeated 2,222,221,222,222 times (the count written with
    /// a `_`, past the check of literal counts) is lazy in minijinja, and turning it into JSON
    /// asked for 71 TB at once — an abort, not an error. The same count from the event.
    #[test]
    fn a_huge_repeated_sequence_is_refused_before_it_is_spelled_out() {
        let ctx = Arc::new(serde_json::json!({ "event": { "n": 2_222_221_222_222_u64 } }));
        for expression in [
            "2222221222_222*[1*[221]]",
            "[1] * event.n",
            "event.n * 'ab'",
        ] {
            let error = eval(expression, &ctx).expect_err(expression);
            assert!(
                ["at most", "too large", "repeats something", "output budget"]
                    .iter()
                    .any(|words| error.to_string().contains(words)),
                "{expression}: {error}"
            );
            let error = render(&serde_json::json!(format!("x{{{{ {expression} }}}}")), &ctx)
                .expect_err(expression);
            assert!(
                ["at most", "budget", "too large", "repeats something"]
                    .iter()
                    .any(|words| error.to_string().contains(words)),
                "{expression}: {error}"
            );
        }
        assert_eq!(
            eval("[1, 2] * 3", &ctx).unwrap(),
            serde_json::json!([1, 2, 1, 2, 1, 2])
        );
        // Counts written with `_` or a radix are read as minijinja reads them.
        for source in [
            "[1] * 1_000_000",
            "0x10000 * 'a'",
            "'a' * 0b11111111111111111",
        ] {
            let problem = check_expression(source).expect_err(source);
            assert!(problem.contains("repeats something"), "{source}: {problem}");
        }
        assert!(check_expression("[1] * 1_000").is_ok());
        // Found by libFuzzer: a float count (11 s walking 50,000 × 2,000 empty repeats).
        for source in ["5e4*[2e3*[]]", "[] * 2.0e5"] {
            let problem = check_expression(source).expect_err(source);
            assert!(problem.contains("repeats something"), "{source}: {problem}");
        }
        assert_eq!(
            eval("[[] * 1000] * 1000", &ctx).unwrap(),
            serde_json::json!(vec![serde_json::json!([]); 1000])
        );
        // Found by libFuzzer: chained joins multiply a text (2 GB from eight of them).
        let chained = "'abcdefgh' | join('0123456789') | join('0123456789') | join('0123456789') \
                       | join('0123456789') | join('0123456789') | join('0123456789')";
        let error = eval(chained, &ctx).expect_err("over the budget");
        assert!(error.to_string().contains("output budget"), "{error}");
        assert_eq!(
            eval("[1, 'a', none] | join('-')", &ctx).unwrap(),
            serde_json::json!("1-a-None")
        );
    }

    /// Found by libFuzzer: control characters are 1 byte in a string but 6 in its JSON, so
    /// 360 KB of NULs (within the budget by length) were stored and sent as 2.1 MB.
    #[test]
    fn the_output_budget_counts_the_json_a_result_becomes() {
        let ctx = Arc::new(serde_json::json!({}));
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
