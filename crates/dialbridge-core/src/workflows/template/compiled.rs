//! Expressions compiled once. A workflow has a few expressions and evaluates them for every
//! event; checking one against the budget, bounding its operators and compiling it cost more
//! than evaluating it, so each is compiled the first time and kept.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use minijinja::Expression;

/// An expression compiled in one of the template module's environments (which live as long as
/// the process), shared by every evaluation of its source.
pub(super) type Compiled = Arc<Expression<'static, 'static>>;

/// The most expressions kept, and the most bytes of their sources: when either is reached,
/// all are forgotten at once and compiled again as they are next used. A source is at most
/// `MAX_SOURCE` bytes, so what is kept stays within a few MiB.
const REMEMBERED: usize = 4096;
const REMEMBERED_BYTES: usize = 1 << 20;

#[derive(Default)]
struct Remembered {
    /// By the environment an expression was compiled in (`[whole, small]`: each has its own
    /// fuel, which an expression keeps), then by its source.
    by_source: [HashMap<Box<str>, Compiled>; 2],
    bytes: usize,
}

static REMEMBERED_EXPRESSIONS: LazyLock<Mutex<Remembered>> = LazyLock::new(Mutex::default);

/// `source` compiled in the small budget's environment (`small`) or the whole one: kept from
/// an earlier call, or made by `compile` and kept. What fails to compile is not kept.
pub(super) fn remembered<E>(
    small: bool,
    source: &str,
    compile: impl FnOnce() -> Result<Expression<'static, 'static>, E>,
) -> Result<Compiled, E> {
    let found = lock().by_source[usize::from(small)].get(source).cloned();
    if let Some(compiled) = found {
        return Ok(compiled);
    }
    let compiled = Arc::new(compile()?);
    let mut remembered = lock();
    let count: usize = remembered.by_source.iter().map(HashMap::len).sum();
    if count >= REMEMBERED || remembered.bytes + source.len() > REMEMBERED_BYTES {
        *remembered = Remembered::default();
    }
    // Two evaluations may have compiled the same source at once: its bytes count once.
    if remembered.by_source[usize::from(small)]
        .insert(source.into(), compiled.clone())
        .is_none()
    {
        remembered.bytes += source.len();
    }
    Ok(compiled)
}

/// The expressions kept; a panic while it was held (there is none: it only looks up and
/// inserts) leaves nothing half-done.
fn lock() -> std::sync::MutexGuard<'static, Remembered> {
    REMEMBERED_EXPRESSIONS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(source: &str) -> Result<Expression<'static, 'static>, minijinja::Error> {
        super::super::ENV.compile_expression_owned(source.to_owned())
    }

    #[test]
    fn an_expression_is_compiled_once_per_environment_and_failures_are_not_kept() {
        let source = "event.call_id ~ 'kept once'";
        let first = remembered(false, source, || compile(source)).unwrap();
        let again = remembered(false, source, || -> Result<_, minijinja::Error> {
            panic!("compiled twice")
        })
        .unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        // The small environment's copy is its own.
        let small = remembered(true, source, || compile(source)).unwrap();
        assert!(!Arc::ptr_eq(&first, &small));

        let broken = "event.(";
        assert!(remembered(false, broken, || compile(broken)).is_err());
        let mut compiled_again = false;
        let _ = remembered(false, broken, || {
            compiled_again = true;
            compile(broken)
        });
        assert!(compiled_again, "a failure was kept");
    }

    #[test]
    fn what_is_kept_stays_within_its_bounds() {
        for n in 0..REMEMBERED + 10 {
            let source = format!("{n} == {n} and 'bounded'");
            remembered(false, &source, || compile(&source)).unwrap();
            let kept = lock();
            let count: usize = kept.by_source.iter().map(HashMap::len).sum();
            assert!(count <= REMEMBERED, "{count} kept");
            assert!(kept.bytes <= REMEMBERED_BYTES);
        }
        let long = "x".repeat(16 * 1024);
        for n in 0..(REMEMBERED_BYTES / long.len() + 2) {
            let source = format!("'{long}' ~ {n}");
            remembered(true, &source, || compile(&source)).unwrap();
            assert!(lock().bytes <= REMEMBERED_BYTES);
        }
    }
}
