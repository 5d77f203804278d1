//! minijinja's filters and the functions that make values, each with a budget: the ones whose result can be many times their input
//! (`replace`, `indent`, `format`, `join`, `batch`, `slice`, `pprint`) are measured before they
//! run, and every result is measured after, refused over `MAX_OUTPUT` bytes and spent from the
//! evaluation's byte budget (so a loop of 60,000 filters over a 1 MB text stops after 16 MB).

use std::fmt::Write;

use minijinja::filters as builtin;
use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Error, ErrorKind, State, Value};

use super::budget::{metered, size_or_error, spend};
use super::MAX_OUTPUT;

/// Registers every builtin filter of minijinja in its bounded form (replacing the builtin).
pub(super) fn register(env: &mut minijinja::Environment<'_>) {
    macro_rules! bounded {
        ($($name:literal => $filter:path),* $(,)?) => {
            $(guard(env, $name, Value::from_function($filter));)*
        };
    }
    bounded! {
        "safe" => builtin::safe, "escape" => builtin::escape, "e" => builtin::escape,
        "lower" => builtin::lower, "upper" => builtin::upper, "title" => builtin::title,
        "capitalize" => builtin::capitalize, "replace" => builtin::replace,
        "length" => builtin::length, "count" => builtin::length,
        "dictsort" => builtin::dictsort, "items" => builtin::items,
        "reverse" => builtin::reverse, "trim" => builtin::trim, "join" => builtin::join,
        "split" => builtin::split, "lines" => builtin::lines, "default" => builtin::default,
        "d" => builtin::default, "round" => builtin::round, "abs" => builtin::abs,
        "int" => builtin::int, "float" => builtin::float, "attr" => builtin::attr,
        "first" => builtin::first, "last" => builtin::last, "min" => builtin::min,
        "max" => builtin::max, "sort" => builtin::sort, "list" => builtin::list,
        "string" => builtin::string, "bool" => builtin::bool, "batch" => builtin::batch,
        "slice" => builtin::slice, "sum" => builtin::sum, "indent" => builtin::indent,
        "select" => builtin::select, "reject" => builtin::reject,
        "selectattr" => builtin::selectattr, "rejectattr" => builtin::rejectattr,
        "map" => builtin::map, "groupby" => builtin::groupby, "unique" => builtin::unique,
        "chain" => builtin::chain, "zip" => builtin::zip, "format" => builtin::format,
    }
    env.add_filter("pprint", |value: &Value| pretty(value, "pprint"));
    // The functions that make values: `range` is lazy, and each walk of it (`x in range(…)`
    // in a loop) costs its length, so making one spends it.
    env.add_function(
        "range",
        |lower: isize, upper: Option<isize>, step: Option<isize>| -> Result<Value, Error> {
            let range = minijinja::functions::range(lower, upper, step)?;
            spend(range.len().unwrap_or(0).saturating_mul(9))?;
            Ok(metered(range))
        },
    );
    env.add_function(
        "debug",
        |state: &State, args: Rest<Value>| match &args[..] {
            [] => pretty(state, "debug"),
            [one] => pretty(one, "debug"),
            all => pretty(&all, "debug"),
        },
    );
}

/// Replaces the filter `name` with `filter` measured before (`before`) and after it runs.
fn guard(env: &mut minijinja::Environment<'_>, name: &'static str, filter: Value) {
    env.add_filter(
        name,
        move |state: &State, args: Rest<Value>| -> Result<Value, Error> {
            // Reading a text costs its length even when little comes out (`length` counts
            // the characters of 1 MiB at each turn of a loop); a sequence spends as it is
            // walked (`budget::Metered`).
            if let Some(text) = args.first().and_then(Value::as_str) {
                spend(text.len())?;
            }
            if let Some(size) = before(name, &args)? {
                if size > MAX_OUTPUT {
                    return Err(over(name));
                }
            }
            let result = filter.call(state, &args)?;
            spend(size_or_error(&result, &format!("the result of `{name}`"))?)?;
            Ok(metered(result))
        },
    );
}

fn over(name: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("`{name}` would produce more than {MAX_OUTPUT} bytes, the output budget"),
    )
}

/// The most a filter can produce, for those that can produce many times their input.
fn before(name: &str, args: &[Value]) -> Result<Option<usize>, Error> {
    let value = args.first().cloned().unwrap_or_default();
    let text_len = || value.as_str().map_or(0, str::len);
    Ok(match name {
        "replace" => {
            let (from, to) = (text(args, 1), text(args, 2));
            let times = if from.is_empty() {
                value.as_str().map_or(0, |t| t.chars().count()) + 1
            } else {
                value
                    .as_str()
                    .map_or(0, |t| t.matches(from.as_str()).count())
            };
            Some(text_len().saturating_add(times.saturating_mul(to.len())))
        }
        "indent" => {
            let width = number(args, 1, "width").unwrap_or(4);
            let lines = value.as_str().map_or(1, |t| t.matches('\n').count() + 1);
            Some(text_len().saturating_add(lines.saturating_mul(width)))
        }
        "join" => {
            let joiner = text(args, 1).len();
            let items = match value.as_str() {
                Some(text) => text.chars().count(),
                None => value.len().unwrap_or(0),
            };
            let size = size_or_error(&value, "the joined value")?;
            Some(size.saturating_add(items.saturating_mul(joiner)))
        }
        "batch" | "slice" => {
            let count = number(args, 1, "").unwrap_or(1);
            let fill = match args.get(2) {
                Some(fill) => size_or_error(fill, "the fill value")?,
                None => 0,
            };
            let size = size_or_error(&value, "the value")?;
            Some(size.saturating_add(count.saturating_mul(fill.max(1))))
        }
        "format" => {
            // Widths and precisions (`%10000s`, `%.500f`) are written into the text.
            let widths: usize = value
                .as_str()
                .unwrap_or_default()
                .split(|c: char| !c.is_ascii_digit())
                .filter(|digits| !digits.is_empty())
                .map(|digits| digits.parse::<usize>().unwrap_or(usize::MAX))
                .fold(0, usize::saturating_add);
            let mut size = text_len().saturating_add(widths);
            for arg in &args[1.min(args.len())..] {
                size = size.saturating_add(size_or_error(arg, "a value formatted")?);
            }
            Some(size)
        }
        _ => None,
    })
}

/// Argument `index` as text (`""` when absent or not text).
fn text(args: &[Value], index: usize) -> String {
    args.get(index)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Argument `index`, or the keyword argument `name`, as a count (`None` when it is absent or
/// not a count: the filter itself then says what is wrong).
fn number(args: &[Value], index: usize, name: &str) -> Option<usize> {
    let is_kwargs =
        |arg: &Value| arg.kind() == ValueKind::Map && Kwargs::try_from(arg.clone()).is_ok();
    match args.get(index) {
        Some(arg) if !is_kwargs(arg) => arg.as_usize(),
        _ => args
            .last()
            .filter(|last| is_kwargs(last))
            .and_then(|last| Kwargs::try_from(last.clone()).ok())
            .and_then(|kwargs| kwargs.peek::<usize>(name).ok()),
    }
}

/// A value pretty-printed (`pprint`, `debug()`) into a text that stops at `MAX_OUTPUT` bytes:
/// pretty printing indents each line by its depth, so its length is not a multiple of the
/// value's.
fn pretty(value: &dyn std::fmt::Debug, name: &str) -> Result<String, Error> {
    struct Bounded(String);
    impl Write for Bounded {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            if self.0.len() + s.len() > MAX_OUTPUT {
                return Err(std::fmt::Error);
            }
            self.0.push_str(s);
            Ok(())
        }
    }
    let mut out = Bounded(String::new());
    write!(out, "{value:#?}").map_err(|_| over(name))?;
    spend(out.0.len())?;
    Ok(out.0)
}
