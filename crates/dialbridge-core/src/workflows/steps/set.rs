//! The `set` step (`set: {name: value-or-template}`): named values, rendered once and journaled
//! as the step's output (`steps.<id>.output.<name>`).

use serde_json::{Map, Value};

use super::Kind;
use crate::error::Error;
use crate::executions::{template_error, Flow, StepRun};
use crate::workflows::parse::{join, Reader};
use crate::workflows::validate::StepCheck;

/// `set: {name: value}`.
#[derive(Debug, Clone, PartialEq)]
pub struct SetStep {
    /// Values that may hold templates, by name.
    pub values: Map<String, Value>,
}

impl Kind for SetStep {
    const KEY: &'static str = "set";
    const SELF_CONTAINED: bool = true;

    fn parse(read: &mut Reader, step: &Map<String, Value>, path: &str) -> Option<Self> {
        let values = read.object(&step["set"], &join(path, "set"))?;
        if values.is_empty() {
            read.error(join(path, "set"), "a set step needs at least one value");
        }
        Some(SetStep {
            values: values.clone(),
        })
    }

    fn write(&self, step: &mut Map<String, Value>) {
        step.insert("set".into(), Value::Object(self.values.clone()));
    }

    fn validate(&self, check: &mut StepCheck<'_, '_>) {
        for name in self.values.keys() {
            check.name(name, &join("set", name));
        }
        for (name, value) in &self.values {
            check.templates(value, &join("set", name));
        }
    }

    async fn run(&self, run: &mut StepRun<'_, '_>) -> Result<Flow, Error> {
        let input = Value::Object(self.values.clone());
        match run.render(&input) {
            Ok(output) => {
                run.succeed(Some(input), output, 1).await?;
                Ok(Flow::Done)
            }
            Err(e) => run.fail(Some(input), 1, template_error(&e)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::workflows::tests::{invalid, problem_at, with_steps};

    #[test]
    fn set_needs_values_with_usable_names() {
        let problems = invalid(&with_steps(
            "  - id: a\n    set: {}\n  - id: b\n    set: {'not ok': 1, fine: 2}\n",
        ));
        assert!(problem_at(&problems, "steps[0].set")
            .message
            .contains("at least one value"));
        assert!(problem_at(&problems, "steps[1].set.not ok")
            .message
            .contains("not a usable name"));
        assert_eq!(problems.len(), 2, "{problems:#?}");
    }
}
