//! What one evaluation may spend besides minijinja's fuel: the size of each value (as JSON, at
//! most `MAX_OUTPUT` bytes) and the bytes its operators and filters produce in all
//! (`BYTE_BUDGET`). Fuel counts minijinja's steps, but one step can do unbounded work (`~`
//! spells out a sequence repeated a billion times); every step that makes or copies a value
//! goes through here instead (see `operators` and `filters`), so the work of one evaluation is
//! bounded by `FUEL` steps and `BYTE_BUDGET` bytes.

use std::cell::Cell;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, ValueKind};
use minijinja::{Error, ErrorKind, Value};

use super::MAX_OUTPUT;

/// The bytes the operators and filters of one evaluation may produce in all.
pub const BYTE_BUDGET: usize = 16 * MAX_OUTPUT;

/// How deep a template's value may nest.
pub(super) const MAX_DEPTH: usize = 128;

/// What walking one element of a sequence or map spends.
const ELEMENT: usize = 8;

/// The bytes an evaluation tried within the small budget may produce (see `within_small`).
const SMALL_BYTE_BUDGET: usize = 64 * 1024;

thread_local! {
    /// What the evaluation running on this thread has spent (evaluation is synchronous: it
    /// starts and ends on one thread).
    static SPENT: Cell<usize> = const { Cell::new(0) };
    /// Whether evaluations on this thread run within the small budget.
    static SMALL: Cell<bool> = const { Cell::new(false) };
}

/// Runs `work` with this thread's evaluations held to the small budget (`SMALL_FUEL` steps,
/// `SMALL_BYTE_BUDGET` bytes); the whole budget again after it, even if it panics.
pub(super) fn within_small<T>(work: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            SMALL.set(self.0);
        }
    }
    let _restore = Restore(SMALL.replace(true));
    work()
}

/// Whether this thread's evaluations run within the small budget.
pub(super) fn small() -> bool {
    SMALL.get()
}

/// The bytes this thread's evaluations may spend.
fn byte_budget() -> usize {
    if small() {
        SMALL_BYTE_BUDGET
    } else {
        BYTE_BUDGET
    }
}

/// Starts an evaluation: nothing spent yet.
pub(super) fn start() {
    SPENT.set(0);
}

/// Spends `bytes` of the evaluation's byte budget; an error once it is gone.
pub(super) fn spend(bytes: usize) -> Result<(), Error> {
    let spent = SPENT.get().saturating_add(bytes);
    SPENT.set(spent);
    if spent > byte_budget() {
        return Err(exhausted_error());
    }
    Ok(())
}

/// Whether the evaluation on this thread has spent its whole byte budget. A walk that ran out
/// of it ended early (minijinja's walks cannot fail), so the result of such an evaluation is
/// refused with `exhausted_error`.
pub(super) fn exhausted() -> bool {
    SPENT.get() > byte_budget()
}

pub(super) fn exhausted_error() -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "its operators, filters and walks came to more than {} bytes, the template budget",
            byte_budget()
        ),
    )
}

/// A sequence or map of the context, or one an operator, filter or `range()` made, whose walks
/// spend the byte budget (`ELEMENT` bytes an element): minijinja's `in`, comparisons and loops
/// walk it in one step of its machine, so a loop testing `x in` a 100,000-element list at each
/// turn took minutes of a core within the fuel. Its elements that are sequences or maps are
/// metered too.
#[derive(Debug)]
pub(super) struct Metered(Value);

/// `value`, metered when it is a sequence or map.
pub(super) fn metered(value: Value) -> Value {
    let walkable = matches!(
        value.kind(),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable
    );
    if walkable && value.downcast_object_ref::<Metered>().is_none() {
        Value::from_object(Metered(value))
    } else {
        value
    }
}

/// A walk of a metered value: each element spends `ELEMENT` bytes, and the walk ends when the
/// budget is gone. Its length is the value's, so minijinja still prints and slices it as a list.
struct Walk(Box<dyn Iterator<Item = Value> + Send + Sync>);

impl Iterator for Walk {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        spend(ELEMENT).ok()?;
        self.0.next().map(metered)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl Object for Metered {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        match self.0.kind() {
            ValueKind::Map => ObjectRepr::Map,
            ValueKind::Seq => ObjectRepr::Seq,
            _ => ObjectRepr::Iterable,
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let value = self.0.get_item(key).ok().filter(|v| !v.is_undefined())?;
        Some(metered(value))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let Ok(items) = self.0.try_iter() else {
            return Enumerator::NonEnumerable;
        };
        Enumerator::Iter(Box::new(Walk(Box::new(items))))
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        self.0.len()
    }

    fn is_true(self: &Arc<Self>) -> bool {
        self.0.is_true()
    }
}

/// Whether a value fits the budget, and if not, why.
pub(super) enum Fits {
    Yes,
    TooLarge,
    TooDeep,
}

impl Fits {
    /// The error of a value that does not fit (`what` says where it was found).
    pub(super) fn problem(&self, what: &str) -> Option<String> {
        match self {
            Fits::Yes => None,
            Fits::TooLarge => Some(format!(
                "{what} is over the output budget of {MAX_OUTPUT} bytes"
            )),
            Fits::TooDeep => Some(format!("{what} nests more than {MAX_DEPTH} levels deep")),
        }
    }

    /// `Ok` when it fits, minijinja's error otherwise.
    pub(super) fn or_error(self, what: &str) -> Result<(), Error> {
        match self.problem(what) {
            None => Ok(()),
            Some(problem) => Err(Error::new(ErrorKind::InvalidOperation, problem)),
        }
    }
}

/// The size of a value as JSON (approximately: a number counts 8 bytes, each element a byte),
/// if it is within `MAX_OUTPUT` bytes and `MAX_DEPTH` levels.
pub(super) fn size(value: &Value) -> Result<usize, Fits> {
    let mut left = MAX_OUTPUT;
    match fits(value, &mut left, 0) {
        Fits::Yes => Ok(MAX_OUTPUT - left),
        other => Err(other),
    }
}

/// `size`, as minijinja's error when the value does not fit (`what` names it).
pub(super) fn size_or_error(value: &Value, what: &str) -> Result<usize, Error> {
    size(value).map_err(|problem| {
        Error::new(
            ErrorKind::InvalidOperation,
            problem.problem(what).unwrap_or_default(),
        )
    })
}

/// Whether a value's JSON stays within `budget` bytes, counting a byte for each element (its
/// comma) and the bytes of its strings: stops at the first element past the budget, so a lazy
/// sequence repeated a trillion times costs no more than the budget to refuse.
pub(super) fn fits(value: &Value, budget: &mut usize, depth: usize) -> Fits {
    fn take(budget: &mut usize, bytes: usize) -> bool {
        match budget.checked_sub(bytes) {
            Some(left) => {
                *budget = left;
                true
            }
            None => false,
        }
    }
    if depth > MAX_DEPTH {
        return Fits::TooDeep;
    }
    let kind = value.kind();
    if !matches!(kind, ValueKind::Seq | ValueKind::Map | ValueKind::Iterable) {
        let bytes = value.as_str().map_or(8, |text| text.len() + 2);
        return if take(budget, bytes) {
            Fits::Yes
        } else {
            Fits::TooLarge
        };
    }
    // The brackets; an empty sequence repeated a trillion times is walked through all its
    // (empty) repeats, so it is not taken as free.
    if !take(budget, 2) {
        return Fits::TooLarge;
    }
    match value.len() {
        Some(len) if len > *budget => return Fits::TooLarge,
        Some(0) => return Fits::Yes,
        _ => {}
    }
    let Ok(items) = value.try_iter() else {
        return Fits::Yes;
    };
    for item in items {
        if !take(budget, 1) {
            return Fits::TooLarge;
        }
        let item = if kind == ValueKind::Map {
            match fits(&item, budget, depth + 1) {
                Fits::Yes => value.get_item(&item).unwrap_or_default(),
                other => return other,
            }
        } else {
            item
        };
        match fits(&item, budget, depth + 1) {
            Fits::Yes => {}
            other => return other,
        }
    }
    Fits::Yes
}

/// Where a rendered template is written: refuses to grow past `MAX_OUTPUT` bytes, so a render
/// stops there instead of filling memory.
#[derive(Default)]
pub(super) struct BoundedOutput {
    pub(super) bytes: Vec<u8>,
    pub(super) over: bool,
}

impl std::io::Write for BoundedOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_OUTPUT {
            self.over = true;
            return Err(std::io::Error::other("over the output budget"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
