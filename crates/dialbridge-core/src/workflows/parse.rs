//! From bytes (YAML or JSON) to the model: decoding, then a structural read of the JSON value
//! that names every problem by its path. A step's common keys are read here, its kind's own by
//! the kind's module (`steps/`, through `Reader`). Rules that need the catalogs live in
//! `validate.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use super::definition::{
    ConfigField, ConfigType, Definition, OnError, RetrySpec, Step, TriggerSpec, DEFAULT_BACKOFF,
};
use super::steps::{DelayStep, StepKind};
use crate::error::FieldError;

const YAML_TYPES: [&str; 4] = [
    "application/yaml",
    "application/x-yaml",
    "text/yaml",
    "text/x-yaml",
];

/// Whether a content type names YAML (parameters such as `; charset=utf-8` are ignored).
pub(crate) fn is_yaml(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or_default().trim();
        YAML_TYPES
            .iter()
            .any(|yaml| essence.eq_ignore_ascii_case(yaml))
    })
}

/// Decodes the body as YAML or JSON into a JSON value.
pub(crate) fn decode(body: &[u8], content_type: Option<&str>) -> Result<Value, Vec<FieldError>> {
    if is_yaml(content_type) {
        yaml_serde::from_slice::<Value>(body)
            .map_err(|e| vec![FieldError::new("body", format!("not valid YAML: {e}"))])
    } else {
        serde_json::from_slice::<Value>(body).map_err(|e| {
            vec![FieldError::new(
                "body",
                format!("not valid JSON: {e} (send YAML with Content-Type: application/yaml)"),
            )]
        })
    }
}

/// Reads a definition from JSON, checking its structure.
pub(crate) fn definition(value: &Value) -> Result<Definition, Vec<FieldError>> {
    let partial = partial_definition(value);
    match partial.definition {
        Some(definition) if partial.errors.is_empty() => Ok(definition),
        _ => Err(partial.errors),
    }
}

/// A best-effort read: the structural problems, and a definition in which each part that
/// could not be read is a stand-in (a step becomes a 1s delay with the same id, a config
/// field a string, the trigger an empty key) whose path is listed in `stand_ins`, so the
/// rest can still be validated.
pub(crate) struct Partial {
    pub definition: Option<Definition>,
    pub errors: Vec<FieldError>,
    pub stand_ins: Vec<String>,
}

pub(crate) fn partial_definition(value: &Value) -> Partial {
    let mut reader = Reader::default();
    let definition = reader.definition(value);
    Partial {
        definition,
        errors: reader.errors,
        stand_ins: reader.stand_ins,
    }
}

/// Whether `field` is `path` or inside it.
pub(crate) fn is_within(field: &str, path: &str) -> bool {
    field
        .strip_prefix(path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

/// `path.key`, or `key` at the root.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A JSON type for messages: "a string", "a list", …
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Reads the JSON value, collecting every problem and the paths of the stand-ins; the step
/// kinds read their own keys with it.
#[derive(Default)]
pub(crate) struct Reader {
    errors: Vec<FieldError>,
    stand_ins: Vec<String>,
}

impl Reader {
    pub(crate) fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    pub(crate) fn object<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
    ) -> Option<&'v Map<String, Value>> {
        match value {
            Value::Object(map) => Some(map),
            other => {
                self.error(
                    path,
                    format!("must be an object (a mapping), got {}", describe(other)),
                );
                None
            }
        }
    }

    /// Reports every key of `map` outside `allowed`.
    pub(crate) fn known_keys(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        allowed: &[&str],
        what: &str,
    ) {
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                self.error(
                    join(path, key),
                    format!(
                        "unknown key '{key}' in {what}; expected one of: {}",
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    /// The value of `key`; when there is none, reports `missing` at `path.key`.
    pub(crate) fn required<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        path: &str,
        key: &str,
        missing: &str,
    ) -> Option<&'v Value> {
        let value = map.get(key);
        if value.is_none() {
            self.error(join(path, key), missing);
        }
        value
    }

    pub(crate) fn string(&mut self, value: &Value, path: &str) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            other => {
                self.error(path, format!("must be a string, got {}", describe(other)));
                None
            }
        }
    }

    pub(crate) fn required_string(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<String> {
        match map.get(key) {
            Some(value) => {
                let text = self.string(value, &join(path, key))?;
                if text.trim().is_empty() {
                    self.error(join(path, key), "must not be empty");
                    return None;
                }
                Some(text)
            }
            None => {
                self.error(join(path, key), format!("'{key}' is required"));
                None
            }
        }
    }

    /// An optional string; `null` counts as absent.
    fn optional_string(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<String> {
        match map.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => self.string(value, &join(path, key)),
        }
    }

    pub(crate) fn whole_number(&mut self, value: &Value, path: &str) -> Option<u32> {
        match value.as_u64() {
            Some(n) => match u32::try_from(n) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.error(path, format!("{n} is too large"));
                    None
                }
            },
            None => {
                self.error(path, "must be a whole number of at least 0");
                None
            }
        }
    }

    pub(crate) fn duration(&mut self, value: &Value, path: &str) -> Option<Duration> {
        let parsed = value
            .as_str()
            .map(|s| (s, humantime::parse_duration(s.trim())));
        match parsed {
            Some((_, Ok(duration))) => Some(duration),
            Some((text, Err(e))) => {
                self.error(
                    path,
                    format!("'{text}' is not a duration ({e}); write one such as 30s, 10m, 2h or 1h 30m"),
                );
                None
            }
            None => {
                self.error(
                    path,
                    format!(
                        "must be a duration such as 30s, 10m, 2h or 1h 30m, got {}",
                        describe(value)
                    ),
                );
                None
            }
        }
    }

    fn definition(&mut self, value: &Value) -> Option<Definition> {
        let Some(map) = value.as_object() else {
            self.error(
                "body",
                format!(
                    "a workflow definition must be an object with name, trigger and steps; got {}",
                    describe(value)
                ),
            );
            return None;
        };
        self.known_keys(
            map,
            "",
            &["name", "description", "trigger", "config", "steps"],
            "a workflow",
        );
        let name = self.required_string(map, "", "name");
        let description = self.optional_string(map, "", "description");
        let trigger = self
            .required(
                map,
                "",
                "trigger",
                "'trigger' is required (e.g. {type: call.hangup})",
            )
            .and_then(|trigger| self.trigger(trigger));
        let config = match map.get("config") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(config) => self.config(config),
        };
        let steps = self
            .required(map, "", "steps", "'steps' is required: a list of steps")
            .and_then(|steps| {
                self.some_steps(steps, "steps", "a workflow needs at least one step")
            });
        let trigger = trigger.unwrap_or_else(|| {
            self.stand_ins.push("trigger".into());
            TriggerSpec {
                key: String::new(),
                filter: None,
                params: Map::new(),
            }
        });
        Some(Definition {
            name: name.unwrap_or_default(),
            description,
            trigger,
            config,
            steps: steps.unwrap_or_default(),
        })
    }

    fn trigger(&mut self, value: &Value) -> Option<TriggerSpec> {
        let path = "trigger";
        let map = self.object(value, path)?;
        let key = self.required_string(map, path, "type");
        let filter = self.optional_string(map, path, "filter");
        let inline: Map<String, Value> = map
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "type" | "filter" | "params"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let params = match map.get("params") {
            None | Some(Value::Null) => inline,
            Some(explicit) => {
                let explicit = self.object(explicit, &join(path, "params"))?.clone();
                for key in inline.keys() {
                    self.error(
                        join(path, key),
                        format!("give trigger parameters either beside type or under params, not both; move '{key}' under params"),
                    );
                }
                explicit
            }
        };
        Some(TriggerSpec {
            key: key?,
            filter,
            params,
        })
    }

    fn config(&mut self, value: &Value) -> BTreeMap<String, ConfigField> {
        let mut fields = BTreeMap::new();
        let Some(map) = self.object(value, "config") else {
            self.stand_ins.push("config".into());
            return fields;
        };
        for (name, field) in map {
            let path = join("config", name);
            let field = self.config_field(field, &path).unwrap_or_else(|| {
                self.stand_ins.push(path);
                ConfigField {
                    kind: ConfigType::String,
                    required: false,
                    description: None,
                    default: None,
                }
            });
            fields.insert(name.clone(), field);
        }
        fields
    }

    fn config_field(&mut self, value: &Value, path: &str) -> Option<ConfigField> {
        // Shorthand: `reply_from: string`.
        if let Value::String(kind) = value {
            return Some(ConfigField {
                kind: self.config_type(kind, path)?,
                required: false,
                description: None,
                default: None,
            });
        }
        let map = self.object(value, path)?;
        self.known_keys(
            map,
            path,
            &["type", "required", "description", "default"],
            "a config field",
        );
        let kind = match map.get("type") {
            Some(Value::String(kind)) => self.config_type(kind, &join(path, "type")),
            Some(other) => {
                self.error(
                    join(path, "type"),
                    format!("must be a string, got {}", describe(other)),
                );
                None
            }
            None => {
                self.error(
                    join(path, "type"),
                    format!("'type' is required: one of {}", config_type_names()),
                );
                None
            }
        };
        let required = match map.get("required") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.error(
                    join(path, "required"),
                    format!("must be true or false, got {}", describe(other)),
                );
                false
            }
        };
        let description = self.optional_string(map, path, "description");
        let default = map.get("default").filter(|v| !v.is_null()).cloned();
        Some(ConfigField {
            kind: kind?,
            required,
            description,
            default,
        })
    }

    fn config_type(&mut self, name: &str, path: &str) -> Option<ConfigType> {
        let kind = ConfigType::from_name(name);
        if kind.is_none() {
            self.error(
                path,
                format!(
                    "unknown config type '{name}'; expected one of: {}",
                    config_type_names()
                ),
            );
        }
        kind
    }

    pub(crate) fn steps(&mut self, value: &Value, path: &str) -> Option<Vec<Step>> {
        let Value::Array(items) = value else {
            self.error(
                path,
                format!("must be a list of steps, got {}", describe(value)),
            );
            return None;
        };
        let mut steps = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let step_path = index(path, i);
            let step = self.step(item, &step_path).unwrap_or_else(|| {
                let id = item
                    .get("id")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("#{step_path}"), str::to_owned);
                self.stand_ins.push(step_path);
                Step {
                    id,
                    kind: StepKind::Delay(DelayStep {
                        duration: Duration::from_secs(1),
                    }),
                    retry: None,
                    on_error: OnError::Fail,
                }
            });
            steps.push(step);
        }
        Some(steps)
    }

    /// A list of steps that must not be empty; reports `empty` if it is.
    pub(crate) fn some_steps(
        &mut self,
        value: &Value,
        path: &str,
        empty: &str,
    ) -> Option<Vec<Step>> {
        let steps = self.steps(value, path);
        if steps.as_ref().is_some_and(Vec::is_empty) {
            self.error(path, empty);
        }
        steps
    }

    fn step(&mut self, value: &Value, path: &str) -> Option<Step> {
        let map = self.object(value, path)?;
        let kinds: Vec<&str> = StepKind::KEYS
            .iter()
            .copied()
            .filter(|k| map.contains_key(*k))
            .collect();
        let kind_key = match kinds.as_slice() {
            [one] => Some(*one),
            [] => {
                self.error(
                    path,
                    format!(
                        "a step needs exactly one of: {}; this one has none (its keys: {})",
                        StepKind::KEYS.join(", "),
                        map.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                );
                None
            }
            many => {
                self.error(
                    path,
                    format!(
                        "a step has exactly one of: {}; this one has {}",
                        StepKind::KEYS.join(", "),
                        many.join(" and ")
                    ),
                );
                None
            }
        };
        let id = self.required_string(map, path, "id");
        let retry = match map.get("retry") {
            None | Some(Value::Null) => Some(None),
            Some(retry) => self.retry(retry, &join(path, "retry")).map(Some),
        };
        let on_error = match map.get("on_error") {
            None | Some(Value::Null) => Some(OnError::Fail),
            Some(Value::String(s)) if s == "fail" => Some(OnError::Fail),
            Some(Value::String(s)) if s == "continue" => Some(OnError::Continue),
            Some(other) => {
                self.error(
                    join(path, "on_error"),
                    format!("must be fail or continue, got {other}"),
                );
                None
            }
        };
        let kind_key = kind_key?;
        let allowed: Vec<&str> = ["id", "retry", "on_error"]
            .into_iter()
            .chain([kind_key])
            .chain(StepKind::other_keys(kind_key).iter().copied())
            .collect();
        self.known_keys(map, path, &allowed, &format!("a {kind_key} step"));
        let kind = StepKind::parse(kind_key, self, map, path);
        Some(Step {
            id: id?,
            kind: kind?,
            retry: retry?,
            on_error: on_error?,
        })
    }

    fn retry(&mut self, value: &Value, path: &str) -> Option<RetrySpec> {
        let map = self.object(value, path)?;
        self.known_keys(map, path, &["max_attempts", "backoff"], "retry");
        let max_attempts = self
            .required(
                map,
                path,
                "max_attempts",
                "'max_attempts' is required (1 to 10, counting the first attempt)",
            )
            .and_then(|value| self.whole_number(value, &join(path, "max_attempts")));
        let backoff = match map.get("backoff") {
            None | Some(Value::Null) => Some(DEFAULT_BACKOFF),
            Some(value) => self.duration(value, &join(path, "backoff")),
        };
        Some(RetrySpec {
            max_attempts: max_attempts?,
            backoff: backoff?,
        })
    }
}

fn config_type_names() -> String {
    ConfigType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
