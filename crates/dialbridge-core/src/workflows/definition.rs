//! The workflow model: a trigger, per-account config fields and steps, as parsed from YAML or
//! JSON (`parse.rs`) and stored as normalised JSON (`to_value` here, read back by `from_value`).
//! A step's id, retry and on_error are here; what it does is its kind (`steps/`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::steps::StepKind;
use crate::error::FieldError;

/// A workflow definition (one version of it).
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub name: String,
    pub description: Option<String>,
    pub trigger: TriggerSpec,
    /// Fields asked when an account enables the workflow, by name.
    pub config: BTreeMap<String, ConfigField>,
    pub steps: Vec<Step>,
}

/// What starts the workflow: a trigger key (YAML `type`), an optional filter expression over
/// `event` (and `config`, `account`), and the trigger's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerSpec {
    pub key: String,
    pub filter: Option<String>,
    pub params: Map<String, Value>,
}

/// One config field (YAML `{type, required, description, default}`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigField {
    pub kind: ConfigType,
    pub required: bool,
    pub description: Option<String>,
    pub default: Option<Value>,
}

/// The JSON type of a config field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigType {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
}

impl ConfigType {
    pub const ALL: [ConfigType; 6] = [
        ConfigType::String,
        ConfigType::Number,
        ConfigType::Integer,
        ConfigType::Boolean,
        ConfigType::Array,
        ConfigType::Object,
    ];

    /// The name used in YAML/JSON (`string`, `number`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigType::String => "string",
            ConfigType::Number => "number",
            ConfigType::Integer => "integer",
            ConfigType::Boolean => "boolean",
            ConfigType::Array => "array",
            ConfigType::Object => "object",
        }
    }

    pub fn from_name(name: &str) -> Option<ConfigType> {
        ConfigType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether `value` is of this type (an integer is also a number).
    pub fn fits(self, value: &Value) -> bool {
        match self {
            ConfigType::String => value.is_string(),
            ConfigType::Number => value.is_number(),
            ConfigType::Integer => value.is_i64() || value.is_u64(),
            ConfigType::Boolean => value.is_boolean(),
            ConfigType::Array => value.is_array(),
            ConfigType::Object => value.is_object(),
        }
    }
}

/// One step: an id unique across the workflow, what it does, and how failures are handled.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
    pub retry: Option<RetrySpec>,
    pub on_error: OnError,
}

/// `retry: {max_attempts, backoff}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySpec {
    pub max_attempts: u32,
    pub backoff: Duration,
}

/// `on_error: fail|continue`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    #[default]
    Fail,
    Continue,
}

impl OnError {
    pub fn as_str(self) -> &'static str {
        match self {
            OnError::Fail => "fail",
            OnError::Continue => "continue",
        }
    }
}

/// The most steps a workflow may have, nested ones included.
pub const MAX_STEPS: usize = 250;

/// The steps and every step inside them.
fn count_steps(steps: &[Step]) -> usize {
    steps
        .iter()
        .map(|step| {
            1 + step
                .kind
                .children()
                .into_iter()
                .map(|(_, inner)| count_steps(inner))
                .sum::<usize>()
        })
        .sum()
}

/// `retry.backoff` when not given.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);

/// Whether these steps and every step inside them are self-contained (`Kind::SELF_CONTAINED`).
fn all_self_contained(steps: &[Step]) -> bool {
    steps.iter().all(|step| {
        step.kind.is_self_contained()
            && step
                .kind
                .children()
                .into_iter()
                .all(|(_, inner)| all_self_contained(inner))
    })
}

impl Definition {
    /// Parses YAML or JSON (YAML for `application/yaml`, `application/x-yaml`, `text/yaml`,
    /// `text/x-yaml`; JSON otherwise) into the model and validates it, reporting every problem
    /// with its path (`steps[1].then[0].input.to_numbers`).
    pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Definition, Vec<FieldError>> {
        let value = super::parse::decode(body, content_type)?;
        let partial = super::parse::partial_definition(&value);
        let mut problems = partial.errors;
        let Some(definition) = partial.definition else {
            return Err(problems);
        };
        let count = count_steps(&definition.steps);
        if count > MAX_STEPS {
            // Checking every reference of thousands of steps would itself cost seconds.
            return Err(vec![FieldError::new(
                "steps",
                format!("the workflow has {count} steps (nested ones included); a workflow may have at most {MAX_STEPS}: split it"),
            )]);
        }
        if let Err(more) = super::validate::validate(&definition) {
            // What could not be read is reported already; its stand-ins say nothing more.
            problems.extend(more.into_iter().filter(|p| {
                !partial
                    .stand_ins
                    .iter()
                    .any(|s| super::parse::is_within(&p.field, s))
            }));
        }
        if problems.is_empty() {
            Ok(definition)
        } else {
            Err(problems)
        }
    }

    /// Whether every step, nested ones included, runs within dialbridge and at once (`set`,
    /// `if`): a run is then decided by what its templates see (`executions/at_ingest.rs`).
    pub(crate) fn is_self_contained(&self) -> bool {
        all_self_contained(&self.steps)
    }

    /// Reads a definition from its JSON form (the stored normalised JSON, or a decoded request
    /// body). Checks the structure only; `validate` checks the rest.
    pub fn from_value(value: &Value) -> Result<Definition, Vec<FieldError>> {
        super::parse::definition(value)
    }

    /// The normalised JSON that is stored: every key explicit (`trigger.params`, `as`,
    /// `max_iterations`, durations as `10m`), defaults left out where they are defaults.
    pub fn to_value(&self) -> Value {
        let mut out = Map::new();
        out.insert("name".into(), json!(self.name));
        if let Some(description) = &self.description {
            out.insert("description".into(), json!(description));
        }
        let mut trigger = Map::new();
        trigger.insert("type".into(), json!(self.trigger.key));
        if let Some(filter) = &self.trigger.filter {
            trigger.insert("filter".into(), json!(filter));
        }
        if !self.trigger.params.is_empty() {
            trigger.insert("params".into(), Value::Object(self.trigger.params.clone()));
        }
        out.insert("trigger".into(), Value::Object(trigger));
        if !self.config.is_empty() {
            let config: Map<String, Value> = self
                .config
                .iter()
                .map(|(name, field)| (name.clone(), field.to_value()))
                .collect();
            out.insert("config".into(), Value::Object(config));
        }
        out.insert("steps".into(), steps_value(&self.steps));
        Value::Object(out)
    }
}

impl ConfigField {
    fn to_value(&self) -> Value {
        let mut out = Map::new();
        out.insert("type".into(), json!(self.kind.as_str()));
        if self.required {
            out.insert("required".into(), json!(true));
        }
        if let Some(description) = &self.description {
            out.insert("description".into(), json!(description));
        }
        if let Some(default) = &self.default {
            out.insert("default".into(), default.clone());
        }
        Value::Object(out)
    }
}

/// The stored form of a list of steps.
pub(crate) fn steps_value(steps: &[Step]) -> Value {
    Value::Array(steps.iter().map(Step::to_value).collect())
}

/// A duration as humantime writes it (`10m`, `1h 30m`, `500ms`).
pub(crate) fn duration_text(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

impl Step {
    pub fn to_value(&self) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id));
        self.kind.write(&mut out);
        if let Some(retry) = &self.retry {
            out.insert(
                "retry".into(),
                json!({ "max_attempts": retry.max_attempts, "backoff": duration_text(retry.backoff) }),
            );
        }
        if self.on_error != OnError::Fail {
            out.insert("on_error".into(), json!(self.on_error.as_str()));
        }
        Value::Object(out)
    }
}
