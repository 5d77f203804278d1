//! The `for_each` step (`for_each: <expression giving a list>`, `as`, `max_iterations`,
//! `steps`): runs its steps once per item with the item and `loop` in scope. The items are
//! evaluated once and journaled, so a resumed loop sees the same list.

use serde_json::{json, Map, Value};

use super::Kind;
use crate::error::Error;
use crate::executions::{template_error, Flow, JournalEntry, StepRun};
use crate::workflows::definition::{steps_value, Step};
use crate::workflows::parse::{join, Reader};
use crate::workflows::validate::{Loop, StepCheck, CONTEXT_ROOTS};

/// `max_iterations` when not given, and its ceiling.
pub const DEFAULT_MAX_ITERATIONS: u32 = 100;
pub const MAX_ITERATIONS: u32 = 1000;
/// The most times the body of loops nested in each other may run in one execution: their
/// `max_iterations` multiply.
pub const MAX_NESTED_ITERATIONS: u64 = 10_000;
/// The `as` name when not given.
pub const DEFAULT_AS: &str = "item";

/// `for_each: <expression>`, `as: <name>`, `max_iterations: <n>`, `steps: [...]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ForEachStep {
    /// An expression giving a list.
    pub items: String,
    /// The name the item has inside the loop.
    pub as_name: String,
    pub steps: Vec<Step>,
    pub max_iterations: u32,
}

impl Kind for ForEachStep {
    const KEY: &'static str = "for_each";
    const OTHER_KEYS: &'static [&'static str] = &["as", "steps", "max_iterations"];
    const LOOP: bool = true;

    fn parse(read: &mut Reader, step: &Map<String, Value>, path: &str) -> Option<Self> {
        let items = read.required_string(step, path, "for_each");
        let as_name = match step.get("as") {
            None | Some(Value::Null) => Some(DEFAULT_AS.to_owned()),
            Some(value) => read.string(value, &join(path, "as")),
        };
        let max_iterations = match step.get("max_iterations") {
            None | Some(Value::Null) => Some(DEFAULT_MAX_ITERATIONS),
            Some(value) => read.whole_number(value, &join(path, "max_iterations")),
        };
        let steps = read
            .required(
                step,
                path,
                "steps",
                "a for_each step needs 'steps': the steps to run for each item",
            )
            .and_then(|steps| {
                let path = join(path, "steps");
                read.some_steps(steps, &path, "a for_each step needs at least one step")
            });
        Some(ForEachStep {
            items: items?,
            as_name: as_name?,
            steps: steps?,
            max_iterations: max_iterations?,
        })
    }

    fn write(&self, step: &mut Map<String, Value>) {
        step.insert("for_each".into(), json!(self.items));
        step.insert("as".into(), json!(self.as_name));
        step.insert("max_iterations".into(), json!(self.max_iterations));
        step.insert("steps".into(), steps_value(&self.steps));
    }

    fn children(&self) -> Vec<(&'static str, &[Step])> {
        vec![("steps", &self.steps)]
    }

    fn validate(&self, check: &mut StepCheck<'_, '_>) {
        check.expression(&self.items, "for_each");
        let as_name = &self.as_name;
        if check.name(as_name, "as")
            && (CONTEXT_ROOTS.contains(&as_name.as_str()) || as_name == "loop")
        {
            check.error(
                "as",
                format!("'{as_name}' would hide the context's own '{as_name}'; pick another name"),
            );
        }
        if !(1..=MAX_ITERATIONS).contains(&self.max_iterations) {
            check.error(
                "max_iterations",
                format!(
                    "must be from 1 to {MAX_ITERATIONS}; got {}",
                    self.max_iterations
                ),
            );
        }
        let outer_runs = check.loops.last().map_or(1, |outer| outer.body_runs);
        let body_runs = outer_runs.saturating_mul(u64::from(self.max_iterations));
        if outer_runs > 1 && body_runs > MAX_NESTED_ITERATIONS {
            check.error(
                "max_iterations",
                format!(
                    "inside its loops this loop's steps may run {outer_runs} × {} = {body_runs} \
                     times in one execution; nested loops may run at most \
                     {MAX_NESTED_ITERATIONS} times in all: lower max_iterations here or around",
                    self.max_iterations
                ),
            );
        }
        let mut loops = check.loops.to_vec();
        loops.push(Loop {
            id: check.id.to_owned(),
            as_name: as_name.clone(),
            body_runs,
        });
        // The body sees what came before; its own steps stay inside the loop.
        let mut inner = check.visible.clone();
        check.steps(&self.steps, "steps", &mut inner, &loops);
    }

    async fn run(&self, run: &mut StepRun<'_, '_>) -> Result<Flow, Error> {
        let expr = &self.items;
        let items = match run.journaled().and_then(|r| r.input.clone()) {
            Some(recorded) => recorded,
            None => match run.eval(expr) {
                Ok(Value::Array(items)) => Value::Array(items),
                Ok(other) => {
                    let error = json!({ "code": "invalid_items", "message": format!("for_each items must be a list; `{expr}` gave {other}") });
                    return run.fail(None, 1, error).await;
                }
                Err(e) => return run.fail(None, 1, template_error(&e)).await,
            },
        };
        let list = items.as_array().cloned().unwrap_or_default();
        let max_iterations = self.max_iterations;
        if list.len() > max_iterations as usize {
            let error = json!({ "code": "too_many_items", "message": format!("for_each got {} items; max_iterations is {max_iterations}", list.len()) });
            return run.fail(Some(items), 1, error).await;
        }
        run.record(JournalEntry::running(1, Some(items.clone())))
            .await?;
        let count = list.len();
        for (index, item) in list.into_iter().enumerate() {
            let ctx = run.ctx_mut();
            ctx[&self.as_name] = item;
            ctx["loop"] =
                json!({ "index": index, "first": index == 0, "last": index + 1 == count });
            match run.walk(&self.steps, &format!("[{index}]")).await? {
                Flow::Done => {}
                other => return Ok(other),
            }
        }
        if let Some(ctx) = run.ctx_mut().as_object_mut() {
            ctx.remove(&self.as_name);
            ctx.remove("loop");
        }
        run.succeed(Some(items), json!({ "count": count }), 1)
            .await?;
        Ok(Flow::Done)
    }
}

#[cfg(test)]
mod tests {
    use crate::workflows::tests::{invalid, problem_at, with_steps};

    #[test]
    fn a_for_each_body_is_visible_only_inside_it() {
        let problems = invalid(&with_steps(
            "  - id: each\n    for_each: event.items\n    steps:\n      - id: inner\n        set: {v: '{{ item }}'}\n      - id: inner2\n        set: {w: '{{ steps.inner.output.v }} {{ loop.index }}'}\n  - id: after\n    set: {x: '{{ steps.inner.output.v }}', n: '{{ steps.each.output.count }}', i: '{{ item }}'}\n",
        ));
        assert_eq!(problems.len(), 2, "{problems:#?}");
        let problem = problem_at(&problems, "steps[1].set.x");
        assert!(
            problem.message.contains("inside the for_each step 'each'"),
            "{problem:?}"
        );
        // The loop variable exists only in the loop.
        assert!(problem_at(&problems, "steps[1].set.i")
            .message
            .contains("unknown name 'item'"));
        // A loop's own output is not there inside its body.
        let problems = invalid(&with_steps(
            "  - id: each\n    for_each: event.items\n    steps:\n      - id: inner\n        set: {v: '{{ steps.each.output }}'}\n",
        ));
        assert!(problem_at(&problems, "steps[0].steps[0].set.v")
            .message
            .contains("has not run yet"));
    }
}
