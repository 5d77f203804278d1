//! The `if` step (`if: <expression>`, `then: [steps]`, `else: [steps]`): evaluates the
//! condition, journals which branch it took (its output, `branch`), and runs that branch; a
//! resumed execution walks the journaled branch again rather than evaluating anew.

use serde_json::{json, Map, Value};

use super::Kind;
use crate::error::Error;
use crate::executions::{template_error, Flow, StepRun};
use crate::store::{StepRecord, StepStatus};
use crate::workflows::definition::{steps_value, Step};
use crate::workflows::parse::{join, Reader};
use crate::workflows::validate::StepCheck;

/// `if: <expression>`, `then: [steps]`, `else: [steps]`.
#[derive(Debug, Clone, PartialEq)]
pub struct IfStep {
    pub condition: String,
    pub then: Vec<Step>,
    /// `else`; empty when not given.
    pub otherwise: Vec<Step>,
}

impl IfStep {
    fn branch(&self, then: bool) -> &[Step] {
        if then {
            &self.then
        } else {
            &self.otherwise
        }
    }
}

impl Kind for IfStep {
    const KEY: &'static str = "if";
    const OTHER_KEYS: &'static [&'static str] = &["then", "else"];
    const SELF_CONTAINED: bool = true;

    fn parse(read: &mut Reader, step: &Map<String, Value>, path: &str) -> Option<Self> {
        let condition = read.required_string(step, path, "if");
        let then = read
            .required(
                step,
                path,
                "then",
                "an if step needs 'then': the steps to run when the condition holds",
            )
            .and_then(|then| read.steps(then, &join(path, "then")));
        let otherwise = match step.get("else") {
            None | Some(Value::Null) => Some(Vec::new()),
            Some(steps) => read.steps(steps, &join(path, "else")),
        };
        Some(IfStep {
            condition: condition?,
            then: then?,
            otherwise: otherwise?,
        })
    }

    fn write(&self, step: &mut Map<String, Value>) {
        step.insert("if".into(), json!(self.condition));
        step.insert("then".into(), steps_value(&self.then));
        if !self.otherwise.is_empty() {
            step.insert("else".into(), steps_value(&self.otherwise));
        }
    }

    fn children(&self) -> Vec<(&'static str, &[Step])> {
        vec![("then", &self.then), ("else", &self.otherwise)]
    }

    fn validate(&self, check: &mut StepCheck<'_, '_>) {
        check.expression(&self.condition, "if");
        // The if step's own output (`branch`) is set before its branches run.
        let mut in_then = check.visible.clone();
        in_then.push(check.id.to_owned());
        let mut in_else = in_then.clone();
        let loops = check.loops;
        check.steps(&self.then, "then", &mut in_then, loops);
        check.steps(&self.otherwise, "else", &mut in_else, loops);
        // After the if, the steps of either branch may have run.
        for id in in_then.into_iter().chain(in_else) {
            if id != check.id && !check.visible.contains(&id) {
                check.visible.push(id);
            }
        }
    }

    async fn run(&self, run: &mut StepRun<'_, '_>) -> Result<Flow, Error> {
        let truth = match run.eval_bool(&self.condition) {
            Ok(truth) => truth,
            Err(e) => return run.fail(None, 1, template_error(&e)).await,
        };
        let branch = if truth { "then" } else { "else" };
        let output = json!({ "branch": branch, "condition": truth });
        run.succeed(Some(json!({ "condition": self.condition })), output, 1)
            .await?;
        run.walk(self.branch(truth), "").await
    }

    async fn replay(&self, run: &mut StepRun<'_, '_>, done: &StepRecord) -> Result<Flow, Error> {
        if done.status != StepStatus::Succeeded {
            return Ok(Flow::Done);
        }
        let branch = done
            .output
            .as_ref()
            .and_then(|o| o.get("branch"))
            .and_then(Value::as_str)
            .unwrap_or("else");
        run.walk(self.branch(branch == "then"), "").await
    }
}
