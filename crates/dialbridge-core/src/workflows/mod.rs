//! Workflows: the definition model (`definition.rs`), reading it from YAML or JSON
//! (`parse.rs`), validating it on save (`validate.rs`) and the template language its steps use
//! (`template.rs`). The executor that runs definitions lives elsewhere.

mod definition;
mod parse;
pub mod template;
#[cfg(test)]
mod tests;
mod validate;

pub use definition::{
    ConfigField, ConfigType, Definition, OnError, RetrySpec, Step, StepKind, TriggerSpec,
};
pub use validate::validate;

pub(crate) use validate::schema_problems;
