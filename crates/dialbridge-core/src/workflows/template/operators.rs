//! The operators that make values grow (`*`, `+`, `~`), with a budget. minijinja runs them as
//! single steps whose work has no bound (`[x] * n` is a lazy sequence of any length, and `~`
//! spells it out), so before a template is compiled each of them is rewritten into a call of a
//! function here (`a ~ b` becomes `__concat(a, b)`), which measures its operands, refuses a
//! result over `MAX_OUTPUT` bytes, spends the result's size from the evaluation's byte budget,
//! and only then lets minijinja compute it exactly as it would have.
//!
//! The rewrite reads minijinja's syntax tree (its `unstable_machinery` API, pinned by
//! Cargo.lock) for where each operator and its left operand are, and checks its own work: the
//! rewritten source must parse with none of these operators left, or the template is refused.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use minijinja::machinery::{parse, parse_expr, WhitespaceConfig};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::ValueKind;
use minijinja::{Error, ErrorKind, Expression, Value};
use serde_json::Value as Json;

use super::budget::{metered, size_or_error, spend};
use super::{ENV, MAX_OUTPUT};

/// The operators rewritten, the character that writes each, and the function it becomes.
const OPERATORS: [(&str, char, &str); 3] = [
    ("Mul", '*', "__mul"),
    ("Add", '+', "__add"),
    ("Concat", '~', "__concat"),
];

/// Registers the functions the rewritten operators call.
pub(super) fn register(env: &mut minijinja::Environment<'_>) {
    env.add_function("__mul", mul);
    env.add_function("__add", add);
    env.add_function("__concat", concat);
}

/// The rewrites made so far (reading the syntax tree takes ~40 µs, a workflow's templates
/// are few and run again and again), forgotten all at once when there are `REMEMBERED`.
static REWRITTEN: LazyLock<Mutex<Remembered>> = LazyLock::new(Mutex::default);
/// A rewrite by whether its source is an expression, and the source.
type Remembered = HashMap<(bool, String), Arc<str>>;
const REMEMBERED: usize = 4096;

/// `source` (a template, or a bare expression when `expression`) with every `*`, `+` and `~`
/// turned into a call of its bounded function; borrowed when it has none.
pub(super) fn bounded(source: &str, expression: bool) -> Result<Cow<'_, str>, String> {
    if !source.contains(['*', '+', '~']) {
        return Ok(Cow::Borrowed(source));
    }
    let key = (expression, source.to_owned());
    let remembered = REWRITTEN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .cloned();
    if let Some(rewritten) = remembered {
        return Ok(Cow::Owned(rewritten.to_string()));
    }
    let rewritten = rewrite(source, expression)?;
    if let Cow::Owned(text) = &rewritten {
        let mut remembered = REWRITTEN.lock().unwrap_or_else(|e| e.into_inner());
        if remembered.len() >= REMEMBERED {
            remembered.clear();
        }
        remembered.insert(key, Arc::from(text.as_str()));
    }
    Ok(rewritten)
}

/// `bounded`, without remembering.
fn rewrite(source: &str, expression: bool) -> Result<Cow<'_, str>, String> {
    // A source that does not parse is left to the compiler, which says what is wrong with it.
    let operators = match found(source, expression)? {
        Some(operators) if !operators.is_empty() => operators,
        _ => return Ok(Cow::Borrowed(source)),
    };
    let rewritten = spell(source, &operators, 0, source.len())?;
    // The rewrite must have left none of these operators behind.
    match found(&rewritten, expression) {
        Ok(Some(left)) if left.is_empty() => Ok(Cow::Owned(rewritten)),
        _ => Err(
            "its operators could not be given a budget; write them with parentheses \
                  around each operand"
                .to_owned(),
        ),
    }
}

/// One operator in a source: the byte range of the whole operation, and where the operator
/// itself is.
#[derive(Debug)]
struct Operation {
    start: usize,
    end: usize,
    at: usize,
    function: &'static str,
}

/// The rewritten operators in `source`, outermost first among those that start together;
/// `None` when the source does not parse.
fn found(source: &str, expression: bool) -> Result<Option<Vec<Operation>>, String> {
    let tree = if expression {
        parse_expr(source).map(|ast| serde_json::to_value(&ast))
    } else {
        parse(
            source,
            "<template>",
            SyntaxConfig,
            WhitespaceConfig::default(),
        )
        .map(|ast| serde_json::to_value(&ast))
    };
    let Ok(tree) = tree else {
        return Ok(None);
    };
    let tree = tree.map_err(|_| "its syntax tree could not be read".to_owned())?;
    let mut operations = Vec::new();
    collect(&tree, source, &mut operations)?;
    operations.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    Ok(Some(operations))
}

/// Walks the syntax tree (as JSON: `{"expr": "BinOp", "inner": [{op, left, right}, span]}`)
/// for the operations to rewrite.
fn collect(node: &Json, source: &str, out: &mut Vec<Operation>) -> Result<(), String> {
    match node {
        Json::Array(items) => items.iter().try_for_each(|item| collect(item, source, out)),
        Json::Object(map) => {
            if map.get("expr").and_then(Json::as_str) == Some("BinOp") {
                if let Some(operation) = operation(node, source)? {
                    out.push(operation);
                }
            }
            map.values()
                .try_for_each(|value| collect(value, source, out))
        }
        _ => Ok(()),
    }
}

/// The operation of a `BinOp` node, when it is one of `OPERATORS`.
fn operation(node: &Json, source: &str) -> Result<Option<Operation>, String> {
    let op = node.pointer("/inner/0/op").and_then(Json::as_str);
    let Some(&(_, symbol, function)) = OPERATORS.iter().find(|(name, ..)| Some(*name) == op) else {
        return Ok(None);
    };
    let offset = |pointer: &str| {
        node.pointer(pointer)
            .and_then(Json::as_u64)
            .and_then(|n| usize::try_from(n).ok())
    };
    let (Some(start), Some(end), Some(left_end)) = (
        offset("/inner/1/start_offset"),
        offset("/inner/1/end_offset"),
        offset("/inner/0/left/inner/1/end_offset"),
    ) else {
        return Err("its syntax tree could not be read".to_owned());
    };
    // Between the left operand and the operator there is only whitespace and the closing
    // parentheses of the left operand.
    let between = source
        .get(left_end..end)
        .ok_or("its syntax tree could not be read")?;
    let gap = between
        .find(|c: char| !(c.is_whitespace() || c == ')'))
        .filter(|&i| between[i..].starts_with(symbol))
        .ok_or_else(|| format!("the operator `{symbol}` could not be found"))?;
    Ok(Some(Operation {
        start,
        end,
        at: left_end + gap,
        function,
    }))
}

/// `source[from..to]` with the operations inside it spelled as calls.
fn spell(source: &str, operations: &[Operation], from: usize, to: usize) -> Result<String, String> {
    let mut out = String::with_capacity(to - from + 16);
    let mut cursor = from;
    let mut rest = operations
        .iter()
        .filter(|op| op.start >= from && op.end <= to)
        .peekable();
    while let Some(op) = rest.next() {
        let piece = |a, b| source.get(a..b).ok_or("its syntax tree could not be read");
        out.push_str(piece(cursor, op.start)?);
        out.push_str(op.function);
        out.push('(');
        out.push_str(&spell(source, operations, op.start, op.at)?);
        out.push_str(", ");
        out.push_str(&spell(source, operations, op.at + 1, op.end)?);
        out.push(')');
        cursor = op.end;
        while rest.peek().is_some_and(|next| next.start < cursor) {
            rest.next();
        }
    }
    out.push_str(
        source
            .get(cursor..to)
            .ok_or("its syntax tree could not be read")?,
    );
    Ok(out)
}

/// minijinja's own operator, run on two values already measured.
fn exactly(
    expression: &'static LazyLock<Expression<'static, 'static>>,
    a: Value,
    b: Value,
) -> Result<Value, Error> {
    expression
        .eval(minijinja::context! { a, b })
        // Its location is in `a * b`, not in the template: the caller's call is located.
        .map_err(|e| Error::new(e.kind(), e.detail().unwrap_or_default().to_owned()))
}

static MUL: LazyLock<Expression<'static, 'static>> = LazyLock::new(|| compiled("a * b"));
static ADD: LazyLock<Expression<'static, 'static>> = LazyLock::new(|| compiled("a + b"));
static CONCAT: LazyLock<Expression<'static, 'static>> = LazyLock::new(|| compiled("a ~ b"));

fn compiled(source: &'static str) -> Expression<'static, 'static> {
    ENV.compile_expression(source).expect("a valid expression")
}

/// Whether a value is text or a sequence (what `*` repeats and `+` joins).
fn grows(value: &Value) -> bool {
    matches!(
        value.kind(),
        ValueKind::String | ValueKind::Seq | ValueKind::Iterable | ValueKind::Bytes
    )
}

fn over(what: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("{what} would be over the output budget of {MAX_OUTPUT} bytes"),
    )
}

/// `a * b`: a repetition (text or a sequence times a count) is measured before it is made. A
/// repeated sequence is made at once (minijinja's is lazy: a trillion repeats of `[]` look
/// empty, yet walking them never ends).
fn mul(a: Value, b: Value) -> Result<Value, Error> {
    let repeated = if grows(&a) {
        Some((&a, &b))
    } else if grows(&b) {
        Some((&b, &a))
    } else {
        None
    };
    if let Some((unit, count)) = repeated.and_then(|(u, c)| Some((u, c.as_usize()?))) {
        // An empty unit counts as one byte: each repeat is a turn of the walk.
        let unit_size = size_or_error(unit, "the repeated value")?.max(1);
        let total = unit_size
            .checked_mul(count)
            .filter(|total| *total <= MAX_OUTPUT)
            .ok_or_else(|| over("the repetition"))?;
        spend(total)?;
        if unit.kind() != ValueKind::String {
            let items: Vec<Value> = unit.try_iter()?.collect();
            let mut repeated = Vec::with_capacity(items.len().saturating_mul(count));
            for _ in 0..count {
                repeated.extend(items.iter().cloned());
            }
            return Ok(metered(Value::from(repeated)));
        }
    }
    computed(&MUL, a, b, "the repetition")
}

/// `a + b`: two texts or two sequences are measured before they are joined.
fn add(a: Value, b: Value) -> Result<Value, Error> {
    if grows(&a) && grows(&b) {
        within_together(&a, &b, '+', "the sum")?;
    }
    computed(&ADD, a, b, "the sum")
}

/// `a ~ b`: both sides are measured before they are spelled out as text.
fn concat(a: Value, b: Value) -> Result<Value, Error> {
    within_together(&a, &b, '~', "the concatenation")?;
    computed(&CONCAT, a, b, "the concatenation")
}

/// Refuses two operands of `symbol` whose sizes together are over the output budget.
fn within_together(a: &Value, b: &Value, symbol: char, what: &str) -> Result<(), Error> {
    let total = size_or_error(a, &format!("the left operand of `{symbol}`"))?.saturating_add(
        size_or_error(b, &format!("the right operand of `{symbol}`"))?,
    );
    if total > MAX_OUTPUT {
        return Err(over(what));
    }
    Ok(())
}

/// minijinja's operator on two measured operands; its result (`what`) is measured, spent
/// from the byte budget and metered.
fn computed(
    expression: &'static LazyLock<Expression<'static, 'static>>,
    a: Value,
    b: Value,
    what: &str,
) -> Result<Value, Error> {
    let result = exactly(expression, a, b)?;
    spend(size_or_error(&result, what)?)?;
    Ok(metered(result))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{eval, render};
    use super::*;

    fn context() -> Arc<Json> {
        Arc::new(json!({
            "event": { "labels": ["vip", "support"], "n": 3, "text": "ab\ncd" },
            "items": [1, 2, 3],
        }))
    }

    /// Operators keep minijinja's meaning once they are rewritten into bounded calls.
    #[test]
    fn rewritten_operators_compute_what_minijinja_does() {
        let ctx = context();
        for (expression, expected) in [
            ("'-' * 3", json!("---")),
            ("3 * '-'", json!("---")),
            ("1 + 2 * 3", json!(7)),
            ("(1 + 2) * 3", json!(9)),
            ("2 * 3 * 4", json!(24)),
            ("1.5 * 2", json!(3.0)),
            ("'a' ~ 1 ~ none", json!("a1None")),
            ("[1] + [2] * 2", json!([1, 2, 2])),
            ("event.labels + ['x']", json!(["vip", "support", "x"])),
            (
                "(event.labels | join(',') | upper) * (2) ~ '!'",
                json!("VIP,SUPPORTVIP,SUPPORT!"),
            ),
            ("'a*b' ~ \"c+d\" ~ '~'", json!("a*bc+d~")),
            ("event.n * -2 + 1", json!(-5)),
            ("([1, 2] * 3) | length", json!(6)),
            ("items | map('string') | join('+')", json!("1+2+3")),
            ("'x' if event.n * 2 > 5 else 'y'", json!("x")),
            ("(((2)) * ((3 + 1)))", json!(8)),
            ("'%s-%s' | format(1, 'a' ~ 'b')", json!("1-ab")),
            ("[1, 2, 3] | batch(2, 0) | list", json!([[1, 2], [3, 0]])),
            ("event.text | indent(2, true)", json!("  ab\n  cd")),
            ("'abc' | replace('', '-')", json!("-a-b-c-")),
            // Sequences and maps of the context are metered, and read as before.
            ("event.labels[-1]", json!("support")),
            ("event.labels | reverse | list", json!(["support", "vip"])),
            ("event.labels == ['vip', 'support']", json!(true)),
            ("event.labels is sequence and event is mapping", json!(true)),
            (
                "(event | items | list | length, event.labels | first)",
                json!([3, "vip"]),
            ),
            ("'vip' in event.labels and 'n' in event", json!(true)),
            ("event.labels[1:] | list", json!(["support"])),
            ("event.labels[1:] ~ '!'", json!("[\"support\"]!")),
            ("items | sum if items else 0", json!(6)),
            // Repeats are made at once: nothing lazy is left to walk a trillion times.
            ("0 in [] * 10000 * 10000 * 10000", json!(false)),
        ] {
            assert_eq!(eval(expression, &ctx).unwrap(), expected, "{expression}");
        }
        let text = json!("{% for i in items %}{{ i * 2 ~ '+' }}{% endfor %}={{ items | sum + 1 }}");
        assert_eq!(render(&text, &ctx).unwrap(), json!("2+4+6+=7"));
        // A mistake is still reported as the operator's.
        let error = eval("'a' * 'b'", &ctx).unwrap_err().to_string();
        assert!(error.contains("multiplied with integers"), "{error}");
        let error = eval("items + 1", &ctx).unwrap_err().to_string();
        assert!(error.contains("unsupported"), "{error}");
    }

    /// Found by libFuzzer: a repeat count computed from literals (531 * 62) passed the check of
    /// literal counts, and `~` spelled the repeated sequence out (3 GB). Each of these made
    /// gigabytes before the operators were bounded.
    #[test]
    fn growing_operators_and_filters_stop_at_the_budget() {
        let ctx = context();
        for expression in [
            "33~531*62*[63~531*62*[2]]",
            "event.labels * 9999 * 9999 ~ 1",
            "('x' * 10000 * 100) ~ ('x' * 10000 * 100)",
            "0 in [1] * 10000 * 10000 * 10000",
            "(event.labels * 1000) | join('x' * 1000)",
            "('x' * 10000) | replace('', 'y' * 1000)",
            "event.text | indent(10000 * 10000)",
            "'%100000000s' | format(1)",
            "[1] | batch(10000 * 10000, 0) | list",
            "[[[[[[[[[1] * 100] * 100] * 100] * 100]]]]] | pprint",
            "('ab' * 5000) + ('ab' * 5000) * 104",
        ] {
            let text = json!(format!("x{{{{ {expression} }}}}"));
            for result in [eval(expression, &ctx), render(&text, &ctx)] {
                let Err(error) = result else {
                    panic!("{expression}: accepted");
                };
                assert!(
                    error.to_string().contains("budget"),
                    "{expression}: {error}"
                );
            }
        }
    }

    /// Each value stays within the output budget, and the work of the whole evaluation within
    /// the byte budget: a loop making a large value at each turn stops.
    #[test]
    fn the_bytes_an_evaluation_makes_are_bounded_in_all() {
        let mut ctx = context();
        let json = Arc::make_mut(&mut ctx);
        // About 1 MiB as JSON.
        json["event"]["many"] = json!((0..110_000).collect::<Vec<_>>());
        json["event"]["text"] = json!("x".repeat(1 << 20));
        for looping in [
            "{% for i in range(100000) %}{{ ('x' * 10000 * 50) | length }}{% endfor %}",
            "{% for i in range(100000) %}{{ -1 in range(100000) }}{% endfor %}",
            // Walks of a large list of the context (minutes of a core before they counted).
            "{% for i in range(100000) %}{{ -1 in event.many }}{% endfor %}",
            "{% for l in [event.many] %}{% for i in range(100000) %}{{ -1 in l }}{% endfor %}{% endfor %}",
            "{% for i in range(100000) %}{{ event.many == event.many | list }}{% endfor %}",
            // Slices of a metered list are lazy, and walk (and spend) what they slice.
            "{% for l in [event.many[1:]] %}{% for i in range(100000) %}{{ -1 in l }}{% endfor %}{% endfor %}",
            // Reading a text through a filter spends its length.
            "{% for i in range(100000) %}{{ ('x' * 10000 * 100) | length }}{% endfor %}",
            "{% for i in range(100000) %}{{ event.text | length }}{% endfor %}",
            // Reading a text of the context copies it, and spends its length.
            "{% for i in range(1000) %}{{ event.text == 'x' }}{% endfor %}",
        ] {
            let error = render(&json!(looping), &ctx).unwrap_err().to_string();
            assert!(error.contains("walks came to more than"), "{looping}: {error}");
        }
        // Each evaluation starts with its whole budget.
        let once = json!("{% for i in range(10) %}{{ ('x' * 10000 * 50) | length }}{% endfor %}");
        for _ in 0..5 {
            assert!(render(&once, &ctx).is_ok());
        }
    }

    #[test]
    fn the_rewrite_spells_each_operator_as_a_call() {
        let rewritten = bounded("(a|upper) * (2) ~ b", true).unwrap();
        assert_eq!(bounded("(a|upper) * (2) ~ b", true).unwrap(), rewritten);
        assert_eq!(rewritten, "__concat(__mul((a|upper) ,  (2)) ,  b)");
        let rewritten = rewrite(
            "x {{ a + b }} {% for i in c * 2 %}{{ i }}{% endfor %} + y",
            false,
        );
        assert_eq!(
            rewritten.unwrap(),
            "x {{ __add(a ,  b) }} {% for i in __mul(c ,  2) %}{{ i }}{% endfor %} + y"
        );
        assert!(matches!(rewrite("a.b | upper", true), Ok(Cow::Borrowed(_))));
        // What does not parse is left for the compiler to name.
        assert!(matches!(rewrite("a * ", true), Ok(Cow::Borrowed(_))));
    }
}
