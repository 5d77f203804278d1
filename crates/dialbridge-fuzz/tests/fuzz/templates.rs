//! A template or expression as a workflow's steps evaluate it (`template::render` for `set`,
//! `action` and `http` inputs, `eval` for `for_each`, `eval_bool` for `if` and trigger
//! filters), in the one environment with its fuel and output budget, against a context shaped
//! like an execution's. Whatever the source, evaluation ends with a value within the output
//! budget or an error.

use std::sync::{Arc, LazyLock};

use dialbridge_core::template;
use serde_json::{json, Value};

/// A context like an execution's: the event, the account, the config, earlier steps.
static CONTEXT: LazyLock<Arc<Value>> = LazyLock::new(|| {
    Arc::new(json!({
        "event": {
            "call_id": 6_512_123_456_789_u64,
            "state": "hangup",
            "direction": "inbound",
            "duration": 42.5,
            "external_number": "+14155550101",
            "contact": { "name": "Ada", "phone": "+14155550101" },
            "labels": ["vip", "support"],
        },
        "account": { "id": "acme", "name": "Acme Corp" },
        "config": { "channel": "support", "min_duration": 10, "notify": true },
        "steps": { "lookup": { "output": { "items": [1, 2, 3], "cursor": null } } },
        "execution": { "id": "exe_1", "workflow": "missed-call", "version": 1 },
    }))
});

/// The bytes (lossily as UTF-8) as a template and as an expression.
pub fn template_evaluation(input: &[u8]) {
    let source = String::from_utf8_lossy(input);
    let ctx = &*CONTEXT;
    let rendered = template::render(&json!({ "value": source }), ctx);
    if let Ok(value) = &rendered {
        within_budget(value);
    }
    if let Ok(value) = template::eval(&source, ctx) {
        within_budget(&value);
    }
    let _ = template::eval_bool(&source, ctx);
}

/// A value no larger than the output budget as JSON (with room for the object around one
/// string).
fn within_budget(value: &Value) {
    let size = serde_json::to_vec(value).map_or(0, |bytes| bytes.len());
    assert!(
        size <= template::MAX_OUTPUT + 64,
        "a template produced {size} bytes"
    );
}
