//! The `action` step (`action: send_sms`, `input: {…}`): runs a catalog action for the
//! account, its input rendered from templates, with the step's retries. Checked on save against
//! the action catalog and the action's input schema.

use serde_json::{json, Map, Value};

use super::Kind;
use crate::error::Error;
use crate::executions::{template_error, Flow, StepRun};
use crate::suggest::close_matches;
use crate::workflows::parse::{join, Reader};
use crate::workflows::validate::{schema_problems, StepCheck};

/// `action: <key>`, `input: {field: value}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionStep {
    /// A key of the action catalog.
    pub action: String,
    /// An object whose values may hold templates.
    pub input: Value,
}

impl Kind for ActionStep {
    const KEY: &'static str = "action";
    const OTHER_KEYS: &'static [&'static str] = &["input"];

    fn parse(read: &mut Reader, step: &Map<String, Value>, path: &str) -> Option<Self> {
        let action = read.required_string(step, path, "action");
        let input = match step.get("input") {
            None | Some(Value::Null) => Some(Value::Object(Map::new())),
            Some(input) => read
                .object(input, &join(path, "input"))
                .map(|m| Value::Object(m.clone())),
        };
        Some(ActionStep {
            action: action?,
            input: input?,
        })
    }

    fn write(&self, step: &mut Map<String, Value>) {
        step.insert("action".into(), json!(self.action));
        step.insert("input".into(), self.input.clone());
    }

    fn validate(&self, check: &mut StepCheck<'_, '_>) {
        check.templates(&self.input, "input");
        self.check_input(check);
    }

    async fn run(&self, run: &mut StepRun<'_, '_>) -> Result<Flow, Error> {
        let input = match run.render(&self.input) {
            Ok(input) => input,
            Err(e) => return run.fail(None, 0, template_error(&e)).await,
        };
        let actions = &run.actions();
        let account = &run.account().clone();
        // A `rate_limited` answer hands the execution back until Dialpad's budget allows the
        // request (`StepRun::attempt`), rather than failing the step.
        run.attempt(input, |input| async move {
            actions.run(account, &self.action, &input).await
        })
        .await
    }
}

impl ActionStep {
    /// The action exists; input fields are known, required ones present, and literal values
    /// fit the field's schema.
    fn check_input(&self, check: &mut StepCheck<'_, '_>) {
        let key = self.action.as_str();
        let Some(info) = crate::actions::action(key) else {
            let keys: Vec<&str> = crate::actions::catalog().iter().map(|a| a.key).collect();
            let close = close_matches(key, &keys);
            let hint = if close.is_empty() {
                format!("expected one of: {}", keys.join(", "))
            } else {
                format!("did you mean {}?", close.join(" or "))
            };
            check.error("action", format!("unknown action '{key}'; {hint}"));
            return;
        };
        let properties = info
            .input_schema
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let Some(fields) = self.input.as_object() else {
            check.error("input", "must be an object");
            return;
        };
        for (name, value) in fields {
            let field = join("input", name);
            match properties.get(name) {
                None => {
                    let mut known: Vec<&str> = properties.keys().map(String::as_str).collect();
                    known.sort_unstable();
                    let close = close_matches(name, &known);
                    let hint = if close.is_empty() {
                        format!("{key} takes: {}", known.join(", "))
                    } else {
                        format!(
                            "did you mean {}? {key} takes: {}",
                            close.join(" or "),
                            known.join(", ")
                        )
                    };
                    check.error(&field, format!("unknown input field '{name}'; {hint}"));
                }
                Some(schema) => {
                    let problems = schema_problems(schema, value, &check.field(&field), true);
                    check.problems(problems);
                }
            }
        }
        let required = info.input_schema.get("required").and_then(Value::as_array);
        for name in required.into_iter().flatten().filter_map(Value::as_str) {
            if !fields.contains_key(name) {
                check.error(
                    join("input", name),
                    format!("{key} needs input field '{name}'"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::workflows::tests::{invalid, problem_at, with_steps, yaml};

    #[test]
    fn unknown_actions_suggest_close_matches() {
        let problems = invalid(&with_steps(
            "  - id: a\n    action: send_sm\n    input: {}\n",
        ));
        let problem = problem_at(&problems, "steps[0].action");
        assert!(
            problem.message.contains("unknown action 'send_sm'"),
            "{problem:?}"
        );
        assert!(
            problem.message.contains("did you mean send_sms"),
            "{problem:?}"
        );
    }

    #[test]
    fn literal_inputs_are_type_checked_and_templates_are_not() {
        let problems = invalid(&with_steps(
            "  - id: a\n    action: send_sms\n    input: {to_numbers: '+1415', text: 5, nickname: x}\n",
        ));
        let problem = problem_at(&problems, "steps[0].input.to_numbers");
        assert!(problem.message.contains("must be a list"), "{problem:?}");
        assert!(problem.message.contains("\"+1415\""), "{problem:?}");
        assert!(problem_at(&problems, "steps[0].input.text")
            .message
            .contains("must be a string"));
        let problem = problem_at(&problems, "steps[0].input.nickname");
        assert!(problem.message.contains("unknown input field 'nickname'"));
        assert!(problem.message.contains("to_numbers"));

        let problems = invalid(&with_steps(
            "  - id: a\n    action: send_sms\n    input: {to_numbers: ['+1415', 7]}\n",
        ));
        problem_at(&problems, "steps[0].input.to_numbers[1]");

        // Templated values (whole or inside a list) are not type-checked.
        yaml(&with_steps(
            "  - id: a\n    action: send_sms\n    input: {to_numbers: '{{ event.numbers }}', user_id: '{{ event.target.id }}', text: 'x'}\n  - id: b\n    action: send_sms\n    input: {to_numbers: ['{{ event.external_number }}', '+14155550100']}\n",
        ))
        .unwrap();
        // int64 ids may be strings of digits or numbers, but not words.
        yaml(&with_steps("  - id: a\n    action: get_call\n    input: {id: '123'}\n  - id: b\n    action: get_call\n    input: {id: 123}\n")).unwrap();
        let problems = invalid(&with_steps(
            "  - id: a\n    action: get_call\n    input: {id: abc}\n",
        ));
        assert!(problem_at(&problems, "steps[0].input.id")
            .message
            .contains("digits"));
    }

    #[test]
    fn required_input_fields_must_be_present() {
        let problems = invalid(&with_steps("  - id: a\n    action: get_call\n"));
        assert!(problem_at(&problems, "steps[0].input.id")
            .message
            .contains("get_call needs input field 'id'"));
    }
}
