//! The step kinds, one module each owning its parsing, its stored (normalised) form, its checks
//! on save and its execution: `action`, `branch` (`if`/`then`/`else`), `for_each`, `delay`,
//! `http`, `set`. What every step shares (id, retry, on_error, templates, the walk over a list
//! of steps, the journal) stays in `parse.rs`, `definition.rs`, `validate.rs` and the
//! interpreter, which reach the kinds only through `StepKind`, declared once by `step_kinds!`.

mod action;
mod branch;
mod delay;
mod for_each;
mod http;
mod set;

use serde_json::{Map, Value};

use super::definition::Step;
use super::parse::Reader;
use super::validate::StepCheck;
use crate::error::Error;
use crate::executions::{Flow, StepRun};
use crate::store::StepRecord;

pub use action::ActionStep;
pub use branch::IfStep;
pub use delay::DelayStep;
pub use for_each::ForEachStep;
pub use http::HttpStep;
pub use set::SetStep;

/// What a step kind is and does. A new kind is a module implementing this for its model, plus
/// one line in `step_kinds!`.
pub(crate) trait Kind: Sized {
    /// The key that selects this kind in a step (`action`, `if`, …).
    const KEY: &'static str;
    /// The other keys a step of this kind may have, besides `id`, `retry` and `on_error`.
    const OTHER_KEYS: &'static [&'static str] = &[];
    /// Whether its inner steps run once per item: they are inside a loop, and their output is
    /// visible only there.
    const LOOP: bool = false;
    /// Whether it runs within dialbridge and at once: it reaches nothing outside, never waits
    /// and never retries, so what it does is decided by what templates see, and its work is
    /// bounded by its templates' budget. Its inner steps are judged on their own.
    const SELF_CONTAINED: bool = false;

    /// Reads the kind from its step's object at `path`; every structural problem goes to `read`.
    fn parse(read: &mut Reader, step: &Map<String, Value>, path: &str) -> Option<Self>;

    /// Writes its stored form into the step's object (beside `id`, `retry` and `on_error`).
    fn write(&self, step: &mut Map<String, Value>);

    /// The step lists inside it, each with the key it is under.
    fn children(&self) -> Vec<(&'static str, &[Step])> {
        Vec::new()
    }

    /// The checks on save: catalogs, bounds, and the templates and expressions it holds.
    fn validate(&self, check: &mut StepCheck<'_, '_>);

    /// Runs it; its journal entry, if any, says it has not finished.
    async fn run(&self, run: &mut StepRun<'_, '_>) -> Result<Flow, Error>;

    /// Meets it again after it finished (`done` is its journal entry), as a resumed execution
    /// does: nothing runs again, but a container walks the steps it ran, which find their own
    /// journal entries.
    async fn replay(&self, _run: &mut StepRun<'_, '_>, _done: &StepRecord) -> Result<Flow, Error> {
        Ok(Flow::Done)
    }
}

/// Declares the step kinds once: the `StepKind` enum, and its dispatch to each kind's `Kind`.
macro_rules! step_kinds {
    ($($(#[$doc:meta])* $variant:ident($kind:ty),)+) => {
        /// What a step does; chosen by which kind's key the step has.
        #[derive(Debug, Clone, PartialEq)]
        pub enum StepKind {
            $($(#[$doc])* $variant($kind),)+
        }

        impl StepKind {
            /// The keys that select the kinds.
            pub(crate) const KEYS: &[&str] = &[$(<$kind as Kind>::KEY,)+];

            /// The key that selects this kind in YAML/JSON.
            pub fn key(&self) -> &'static str {
                match self {
                    $(StepKind::$variant(_) => <$kind as Kind>::KEY,)+
                }
            }

            /// The other keys a step of the kind `key` may have.
            pub(crate) fn other_keys(key: &str) -> &'static [&'static str] {
                $(if key == <$kind as Kind>::KEY {
                    return <$kind as Kind>::OTHER_KEYS;
                })+
                &[]
            }

            /// Reads a step of the kind `key` (one of `KEYS`).
            pub(crate) fn parse(
                key: &str,
                read: &mut Reader,
                step: &Map<String, Value>,
                path: &str,
            ) -> Option<StepKind> {
                $(if key == <$kind as Kind>::KEY {
                    return <$kind as Kind>::parse(read, step, path).map(StepKind::$variant);
                })+
                None
            }

            pub(crate) fn write(&self, step: &mut Map<String, Value>) {
                match self {
                    $(StepKind::$variant(kind) => kind.write(step),)+
                }
            }

            pub(crate) fn is_loop(&self) -> bool {
                match self {
                    $(StepKind::$variant(_) => <$kind as Kind>::LOOP,)+
                }
            }

            pub(crate) fn is_self_contained(&self) -> bool {
                match self {
                    $(StepKind::$variant(_) => <$kind as Kind>::SELF_CONTAINED,)+
                }
            }

            pub(crate) fn children(&self) -> Vec<(&'static str, &[Step])> {
                match self {
                    $(StepKind::$variant(kind) => kind.children(),)+
                }
            }

            pub(crate) fn validate(&self, check: &mut StepCheck<'_, '_>) {
                match self {
                    $(StepKind::$variant(kind) => kind.validate(check),)+
                }
            }

            pub(crate) async fn run(&self, run: &mut StepRun<'_, '_>) -> Result<Flow, Error> {
                match self {
                    $(StepKind::$variant(kind) => kind.run(run).await,)+
                }
            }

            pub(crate) async fn replay(
                &self,
                run: &mut StepRun<'_, '_>,
                done: &StepRecord,
            ) -> Result<Flow, Error> {
                match self {
                    $(StepKind::$variant(kind) => kind.replay(run, done).await,)+
                }
            }
        }
    };
}

step_kinds! {
    /// `action`, `input`: runs a catalog action.
    Action(ActionStep),
    /// `if`, `then`, `else`: runs one branch.
    If(IfStep),
    /// `for_each`, `as`, `max_iterations`, `steps`: runs its steps once per item.
    ForEach(ForEachStep),
    /// `delay`: a durable pause.
    Delay(DelayStep),
    /// `http`: a request to a vendor-allowed host.
    Http(HttpStep),
    /// `set`: named values, the step's output.
    Set(SetStep),
}
