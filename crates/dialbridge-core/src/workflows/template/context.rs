//! The context a template sees, made of the execution's JSON where a template reads it. The
//! JSON is shared, not copied: a map or list of it is a minijinja map or sequence that looks
//! its elements up in the JSON when they are read, and a string, number, boolean or null
//! becomes minijinja's value only then. Turning the whole context into minijinja's values
//! before each evaluation cost more than evaluating a small template (BENCHMARKS.md, *Ingest's
//! own work, counted by instructions*).
//!
//! Reading a string copies it, so each read spends its bytes of the evaluation's byte budget
//! (`budget::spend`): a loop that reads a large string of the context at every turn stops at
//! the budget, like any other value a template makes.

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr};
use serde_json::Value as Json;

use super::budget;

/// `root` as a template's context (see the module's comment).
pub(super) fn of(root: Arc<Json>) -> minijinja::Value {
    let json = root.clone();
    read(&json, || Node {
        root,
        path: Vec::new(),
    })
}

/// `json` as minijinja sees it: a map or list as its `node`, anything else as minijinja's
/// value, or undefined once the byte budget is spent.
fn read(json: &Json, node: impl FnOnce() -> Node) -> minijinja::Value {
    match json {
        Json::Object(_) | Json::Array(_) => minijinja::Value::from_object(node()),
        Json::String(text) if budget::spend(text.len()).is_err() => minijinja::Value::UNDEFINED,
        scalar => minijinja::Value::from_serialize(scalar),
    }
}

/// Where a map or list is within the context's JSON.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// The JSON at `path` in `root`. A `Node`'s path was read from its root, which never
/// changes, so every step of it is there.
fn at<'j>(root: &'j Json, path: &[Step]) -> &'j Json {
    path.iter().fold(root, |json, step| match step {
        Step::Key(key) => &json[key.as_str()],
        Step::Index(index) => &json[*index],
    })
}

/// A map or list of the context's JSON.
#[derive(Debug)]
struct Node {
    root: Arc<Json>,
    path: Vec<Step>,
}

impl Node {
    fn json(&self) -> &Json {
        at(&self.root, &self.path)
    }

    /// The element `json` of this map or list, found at `step`.
    fn child(&self, json: &Json, step: impl FnOnce() -> Step) -> minijinja::Value {
        read(json, || {
            let mut path = Vec::with_capacity(self.path.len() + 1);
            path.extend_from_slice(&self.path);
            path.push(step());
            Node {
                root: self.root.clone(),
                path,
            }
        })
    }

    fn field(&self, key: &str) -> Option<minijinja::Value> {
        let json = self.json().as_object()?.get(key)?;
        Some(self.child(json, || Step::Key(key.to_owned())))
    }
}

impl Object for Node {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        if self.json().is_array() {
            ObjectRepr::Seq
        } else {
            ObjectRepr::Map
        }
    }

    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        // As minijinja's own maps and sequences (made from the same JSON) answer: a map by
        // string keys, a list by index (minijinja turns a negative one around first).
        match self.json() {
            Json::Array(items) => {
                let index = key.as_usize()?;
                Some(self.child(items.get(index)?, || Step::Index(index)))
            }
            _ => self.field(key.as_str()?),
        }
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<minijinja::Value> {
        self.field(key)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.json() {
            Json::Array(items) => Enumerator::Seq(items.len()),
            Json::Object(map) => Enumerator::Values(
                map.keys()
                    .map(|key| minijinja::Value::from(key.as_str()))
                    .collect(),
            ),
            _ => Enumerator::Empty,
        }
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        match self.json() {
            Json::Array(items) => Some(items.len()),
            Json::Object(map) => Some(map.len()),
            _ => Some(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The context as it was made before: all of it turned into minijinja's values.
    fn converted(json: &Json) -> minijinja::Value {
        minijinja::Value::from_serialize(json)
    }

    #[test]
    fn reads_as_the_converted_json_does() {
        let json = json!({
            "event": { "call_id": "7", "duration": 12.5, "n": -3, "big": 18446744073709551615u64,
                       "tags": ["a", "b", null, true], "empty": {}, "none": [] },
            "steps": { "x": { "output": [[1, 2], { "k": "v" }] } },
        });
        let env = minijinja::Environment::new();
        let lazy = of(Arc::new(json.clone()));
        let whole = converted(&json);
        for expression in [
            "event",
            "event.call_id",
            "event['duration'] * 2",
            "event.n + event.big",
            "event.tags",
            "event.tags[-1]",
            "event.tags[1:]",
            "event.tags | length",
            "event.tags | join(',')",
            "event.missing is defined",
            "event.empty",
            "event.empty or 'falsy'",
            "event.none or 'falsy'",
            "event | list",
            "event | dictsort",
            "event.items() | list",
            "steps.x.output[0][1]",
            "steps.x.output[1].k",
            "steps.x.output[5] is defined",
            "'b' in event.tags",
            "'call_id' in event",
            "event == event",
            "event.tags == ['a', 'b', none, true]",
            "steps | tojson",
            "event.tags[0] ~ event.call_id",
        ] {
            budget::start();
            let compiled = env.compile_expression(expression).unwrap();
            let read = compiled.eval(&lazy).map(|v| v.to_string());
            let expected = compiled.eval(&whole).map(|v| v.to_string());
            assert_eq!(
                read.map_err(|e| e.kind()),
                expected.map_err(|e| e.kind()),
                "{expression}"
            );
        }
        let template = "{% for k in event %}{{ k }}={{ event[k] }};{% endfor %}{{ event }}";
        assert_eq!(
            env.render_str(template, &lazy).unwrap(),
            env.render_str(template, &whole).unwrap()
        );
    }

    #[test]
    fn each_read_of_a_string_spends_its_bytes() {
        let text = "x".repeat(1000);
        let node = of(Arc::new(json!({ "text": text })));
        budget::start();
        for _ in 0..budget::BYTE_BUDGET / 1000 {
            assert!(!node.get_attr("text").unwrap().is_undefined());
        }
        assert!(node.get_attr("text").unwrap().is_undefined());
        assert!(budget::exhausted());
    }
}
