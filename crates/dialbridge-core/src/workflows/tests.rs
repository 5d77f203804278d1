//! Tests of parsing, validation and templates across step kinds, and the helpers the kinds'
//! own tests (beside each kind in `steps/`) use.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::template::{check_expression, check_template, eval, eval_bool, render};
use super::*;
use crate::error::FieldError;

const DESIGN_EXAMPLE: &str = r#"
name: Text back missed callers
trigger:
  type: call.hangup                 # a trigger key
  filter: "event.direction == 'inbound'"
config:                             # asked when an account enables the workflow
  reply_from: {type: string, required: true, description: Number to text from}
steps:
  - id: call
    action: get_call
    input: {id: "{{ event.call_id }}"}
  - id: missed
    if: "steps.call.output.duration == 0"
    then:
      - id: sms
        action: send_sms
        input:
          from_number: "{{ config.reply_from }}"
          to_numbers: ["{{ event.external_number }}"]
          text: "Sorry we missed you, {{ event.contact.name }}."
"#;

pub(crate) fn yaml(source: &str) -> Result<Definition, Vec<FieldError>> {
    Definition::parse(source.as_bytes(), Some("application/yaml"))
}

/// The problems of a definition that must not validate.
pub(crate) fn invalid(source: &str) -> Vec<FieldError> {
    match yaml(source) {
        Ok(_) => panic!("expected problems, the definition is valid:\n{source}"),
        Err(problems) => problems,
    }
}

/// The one problem at `field`; panics showing all problems otherwise.
pub(crate) fn problem_at<'p>(problems: &'p [FieldError], field: &str) -> &'p FieldError {
    problems
        .iter()
        .find(|p| p.field == field)
        .unwrap_or_else(|| panic!("no problem at {field}: {problems:#?}"))
}

/// A workflow with `steps` (YAML, indented as a list under `steps:`) and a call.hangup trigger.
pub(crate) fn with_steps(steps: &str) -> String {
    format!(
        "name: t\ntrigger: {{type: call.hangup}}\nconfig:\n  reply_from: {{type: string}}\nsteps:\n{steps}"
    )
}

#[test]
fn the_design_example_parses_and_validates() {
    let def = yaml(DESIGN_EXAMPLE).unwrap();
    assert_eq!(def.name, "Text back missed callers");
    assert_eq!(def.trigger.key, "call.hangup");
    assert_eq!(
        def.trigger.filter.as_deref(),
        Some("event.direction == 'inbound'")
    );
    assert!(def.trigger.params.is_empty());
    let field = &def.config["reply_from"];
    assert_eq!(field.kind, ConfigType::String);
    assert!(field.required);
    assert_eq!(field.description.as_deref(), Some("Number to text from"));
    assert_eq!(def.steps.len(), 2);
    assert_eq!(
        def.steps[0].kind,
        StepKind::Action(ActionStep {
            action: "get_call".into(),
            input: json!({ "id": "{{ event.call_id }}" })
        })
    );
    assert_eq!(def.steps[0].on_error, OnError::Fail);
    let StepKind::If(IfStep {
        condition,
        then,
        otherwise,
    }) = &def.steps[1].kind
    else {
        panic!("{:?}", def.steps[1]);
    };
    assert_eq!(condition, "steps.call.output.duration == 0");
    assert!(otherwise.is_empty());
    assert_eq!(then[0].id, "sms");
    assert!(
        matches!(&then[0].kind, StepKind::Action(ActionStep { action, input }) if action == "send_sms" && input["to_numbers"] == json!(["{{ event.external_number }}"]))
    );
}

#[test]
fn json_is_the_same_model_and_the_stored_form_round_trips() {
    let from_yaml = yaml(DESIGN_EXAMPLE).unwrap();
    let as_json: Value = yaml_serde::from_str(DESIGN_EXAMPLE).unwrap();
    let body = serde_json::to_vec(&as_json).unwrap();
    let from_json = Definition::parse(&body, Some("application/json")).unwrap();
    assert_eq!(from_yaml, from_json);
    // No content type means JSON too.
    assert_eq!(Definition::parse(&body, None).unwrap(), from_json);

    let stored = from_yaml.to_value();
    assert_eq!(Definition::from_value(&stored).unwrap(), from_yaml);
    assert_eq!(
        stored["steps"][1],
        json!({
            "id": "missed",
            "if": "steps.call.output.duration == 0",
            "then": [{
                "id": "sms",
                "action": "send_sms",
                "input": {
                    "from_number": "{{ config.reply_from }}",
                    "to_numbers": ["{{ event.external_number }}"],
                    "text": "Sorry we missed you, {{ event.contact.name }}."
                }
            }]
        })
    );
}

#[test]
fn every_step_kind_parses_with_defaults_and_round_trips() {
    let source = r#"
name: All kinds
description: every step kind
trigger:
  type: event
  event: order.created
config:
  team: string
  limit: {type: integer, default: 5}
steps:
  - id: wait
    delay: 10m
  - id: values
    set:
      greeting: "Hello {{ event.name }}"
      count: "{{ event.items | length }}"
  - id: each
    for_each: event.items
    steps:
      - id: notify
        http:
          method: post
          url: "https://hooks.example.com/{{ item.id }}"
          headers: {X-Team: "{{ config.team }}"}
          body: {index: "{{ loop.index }}", value: "{{ steps.values.output.greeting }}"}
        retry: {max_attempts: 3, backoff: 2s}
        on_error: continue
  - id: per_number
    for_each: "{{ event.numbers }}"
    as: number
    max_iterations: 10
    steps:
      - id: text
        action: send_sms
        input: {to_numbers: ["{{ number }}"], text: hi}
        retry: {max_attempts: 2}
"#;
    let def = yaml(source).unwrap();
    assert_eq!(def.description.as_deref(), Some("every step kind"));
    assert_eq!(def.trigger.params["event"], json!("order.created"));
    assert_eq!(def.config["team"].kind, ConfigType::String);
    assert!(!def.config["team"].required);
    assert_eq!(def.config["limit"].default, Some(json!(5)));
    assert_eq!(
        def.steps[0].kind,
        StepKind::Delay(DelayStep {
            duration: Duration::from_secs(600)
        })
    );
    let StepKind::ForEach(ForEachStep {
        items,
        as_name,
        steps,
        max_iterations,
    }) = &def.steps[2].kind
    else {
        panic!()
    };
    assert_eq!(
        (items.as_str(), as_name.as_str(), *max_iterations),
        ("event.items", "item", 100)
    );
    let notify = &steps[0];
    assert_eq!(notify.on_error, OnError::Continue);
    assert_eq!(
        notify.retry,
        Some(RetrySpec {
            max_attempts: 3,
            backoff: Duration::from_secs(2)
        })
    );
    let StepKind::Http(HttpStep {
        method, headers, ..
    }) = &notify.kind
    else {
        panic!()
    };
    assert_eq!(method, "POST");
    assert_eq!(headers["X-Team"], "{{ config.team }}");
    let StepKind::ForEach(ForEachStep { steps, .. }) = &def.steps[3].kind else {
        panic!()
    };
    assert_eq!(
        steps[0].retry.as_ref().unwrap().backoff,
        Duration::from_secs(1)
    );

    let stored = def.to_value();
    assert_eq!(
        stored["trigger"]["params"],
        json!({ "event": "order.created" })
    );
    assert_eq!(stored["steps"][0]["delay"], json!("10m"));
    assert_eq!(stored["steps"][2]["as"], json!("item"));
    assert_eq!(stored["steps"][2]["max_iterations"], json!(100));
    assert_eq!(Definition::from_value(&stored).unwrap(), def);
    super::validate(&Definition::from_value(&stored).unwrap()).unwrap();
}

#[test]
fn trigger_params_may_be_inline_or_under_params_but_not_both() {
    let inline = yaml("name: t\ntrigger: {type: call.state_changed, call_states: [ringing, hangup]}\nsteps: [{id: a, delay: 1s}]").unwrap();
    let explicit = yaml("name: t\ntrigger: {type: call.state_changed, params: {call_states: [ringing, hangup]}}\nsteps: [{id: a, delay: 1s}]").unwrap();
    assert_eq!(inline, explicit);
    assert_eq!(
        inline.trigger.params["call_states"],
        json!(["ringing", "hangup"])
    );
    let problems = invalid("name: t\ntrigger: {type: event, event: a, params: {event: b}}\nsteps: [{id: a, delay: 1s}]");
    assert!(problem_at(&problems, "trigger.event")
        .message
        .contains("not both"));
}

#[test]
fn unknown_trigger_lists_the_known_ones() {
    let problems = invalid("name: t\ntrigger: {type: call.hungup}\nsteps: [{id: a, delay: 1s}]");
    let problem = problem_at(&problems, "trigger.type");
    assert!(
        problem.message.contains("unknown trigger 'call.hungup'"),
        "{problem:?}"
    );
    assert!(
        problem.message.contains("did you mean call.hangup?"),
        "{problem:?}"
    );
    assert!(problem.message.contains("schedule"));
}

#[test]
fn trigger_params_are_checked_against_the_trigger() {
    let problems = invalid(
        "name: t\ntrigger: {type: call.state_changed, call_states: [ringing, flying], extra: 1}\nsteps: [{id: a, delay: 1s}]",
    );
    assert!(problem_at(&problems, "trigger.params.call_states[1]")
        .message
        .contains("must be one of"));
    assert!(problem_at(&problems, "trigger.params.extra")
        .message
        .contains("unknown parameter"));

    let problems =
        invalid("name: t\ntrigger: {type: call.state_changed}\nsteps: [{id: a, delay: 1s}]");
    assert!(problem_at(&problems, "trigger.params.call_states")
        .message
        .contains("needs params.call_states"));

    let problems = invalid(
        "name: t\ntrigger: {type: call.hangup, call_states: [hangup]}\nsteps: [{id: a, delay: 1s}]",
    );
    assert!(problem_at(&problems, "trigger.params.call_states")
        .message
        .contains("takes no parameters"));

    let problems = invalid("name: t\ntrigger: {type: contact.changed, contact_type: global}\nsteps: [{id: a, delay: 1s}]");
    problem_at(&problems, "trigger.params.contact_type");
    yaml("name: t\ntrigger: {type: contact.changed, contact_type: shared}\nsteps: [{id: a, delay: 1s}]").unwrap();
}

#[test]
fn bad_cron_and_time_zones_are_named() {
    let problems = invalid("name: t\ntrigger: {type: schedule, cron: '61 * * * *', timezone: Mars/Base}\nsteps: [{id: a, delay: 1s}]");
    assert!(problem_at(&problems, "trigger.params.cron")
        .message
        .contains("not a valid cron"));
    assert!(problem_at(&problems, "trigger.params.timezone")
        .message
        .contains("IANA"));
    let problems =
        invalid("name: t\ntrigger: {type: schedule, cron: '* * *'}\nsteps: [{id: a, delay: 1s}]");
    assert!(problem_at(&problems, "trigger.params.cron")
        .message
        .contains("3 fields"));
    let problems = invalid(
        "name: t\ntrigger: {type: schedule, cron: '0 0 9 * * * 2026'}\nsteps: [{id: a, delay: 1s}]",
    );
    problem_at(&problems, "trigger.params.cron");
    for good in ["0 9 * * 1-5", "*/30 * * * * *", "@daily", "0 9 * * MON"] {
        yaml(&format!("name: t\ntrigger: {{type: schedule, cron: '{good}', timezone: Europe/Paris}}\nsteps: [{{id: a, delay: 1s}}]")).unwrap();
    }
}

#[test]
fn the_filter_must_parse_and_sees_only_event_config_and_account() {
    let problems = invalid("name: t\ntrigger: {type: call.hangup, filter: 'event.direction =='}\nsteps: [{id: a, delay: 1s}]");
    assert!(problem_at(&problems, "trigger.filter")
        .message
        .contains("does not parse"));
    let problems = invalid("name: t\ntrigger: {type: call.hangup, filter: 'steps.a.output'}\nsteps: [{id: a, delay: 1s}]");
    assert!(problem_at(&problems, "trigger.filter")
        .message
        .contains("sees only event, config, account"));
}

#[test]
fn templates_that_do_not_parse_are_named() {
    let problems = invalid(&with_steps(
        "  - id: a\n    action: send_sms\n    input: {text: 'Hi {{ event.contact.name '}\n  - id: b\n    set: {x: '{% if %}'}\n  - id: c\n    if: 'event.duration >'\n    then: []\n",
    ));
    assert!(problem_at(&problems, "steps[0].input.text")
        .message
        .contains("does not parse"));
    problem_at(&problems, "steps[1].set.x");
    problem_at(&problems, "steps[2].if");
}

#[test]
fn steps_may_refer_only_to_steps_that_ran_before() {
    let problems = invalid(&with_steps(
        "  - id: a\n    set: {x: '{{ steps.b.output.y }}'}\n  - id: b\n    set: {y: '{{ steps.b.output.y }}', z: '{{ steps.nope.output }}'}\n",
    ));
    assert!(problem_at(&problems, "steps[0].set.x")
        .message
        .contains("has not run yet"));
    assert!(problem_at(&problems, "steps[1].set.y")
        .message
        .contains("its own step"));
    assert!(problem_at(&problems, "steps[1].set.z")
        .message
        .contains("no step has the id 'nope'"));

    // Enclosing scopes and earlier if-branches are visible; so is steps['id'].
    yaml(&with_steps(
        "  - id: a\n    set: {x: 1}\n  - id: b\n    if: steps.a.output.x == 1\n    then:\n      - id: c\n        set: {y: \"{{ steps.a.output.x }} {{ steps.b.output.branch }}\"}\n  - id: d\n    set: {z: \"{{ steps['c'].output }}\"}\n",
    ))
    .unwrap();
    let problems = invalid(&with_steps(
        "  - id: a\n    set: {x: \"{{ steps['later'].output }}\", y: \"{{steps['later']}}\"}\n  - id: later\n    delay: 1s\n",
    ));
    problem_at(&problems, "steps[0].set.x");
    problem_at(&problems, "steps[0].set.y");
    // After a name's character or a dot, `steps[…]` is another name or an attribute, in any
    // script: not a reference to a step.
    yaml(&with_steps(
        "  - id: a\n    set: {x: \"{{ event.steps['later'] }}\", y: \"résumésteps['later']\", z: \"_config['nope']\"}\n  - id: later\n    delay: 1s\n",
    ))
    .unwrap();
}

#[test]
fn config_references_must_be_declared() {
    let problems = invalid(&with_steps(
        "  - id: a\n    action: send_sms\n    input: {from_number: '{{ config.reply_for }}', text: '{{ config.reply_from }}'}\n",
    ));
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let problem = problem_at(&problems, "steps[0].input.from_number");
    assert!(problem.message.contains("config.reply_for"), "{problem:?}");
    assert!(
        problem.message.contains("declared: reply_from"),
        "{problem:?}"
    );
}

#[test]
fn unknown_names_are_errors() {
    let problems = invalid(&with_steps(
        "  - id: a\n    set: {x: '{{ evnt.call_id }}'}\n",
    ));
    assert!(problem_at(&problems, "steps[0].set.x")
        .message
        .contains("unknown name 'evnt'"));
    // Names a template assigns itself (a loop's), and minijinja's globals, are fine.
    yaml(&with_steps(
        "  - id: a\n    set: {x: '{% for n in event.to_numbers %}{{ n }}{{ loop.index }}{% endfor %}{{ range(3) | list }}'}\n",
    ))
    .unwrap();
}

#[test]
fn templates_within_the_budget_only() {
    for (template, why) in [
        ("{% set y = 2 %}{{ y }}", "{% set"),
        ("{%- macro m() %}x{% endmacro %}", "{%- macro"),
        ("{{ namespace(a=1) }}", "namespace("),
        ("{{ '-' * 100001 }}", "more than 10000 times"),
        ("{{ 100001 * 'x' }}", "more than 10000 times"),
    ] {
        let problems = invalid(&with_steps(&format!(
            "  - id: a\n    set: {{x: \"{template}\"}}\n"
        )));
        assert!(
            problem_at(&problems, "steps[0].set.x")
                .message
                .contains(why),
            "{template}: {problems:?}"
        );
    }
    yaml(&with_steps(
        "  - id: a\n    set: {x: \"{{ '-' * 80 }}{{ 3 * 4 }}\"}\n",
    ))
    .unwrap();
}

#[test]
fn duplicate_and_malformed_step_ids_are_errors() {
    let problems = invalid(&with_steps(
        "  - id: a\n    delay: 1s\n  - id: b\n    if: 'true'\n    then:\n      - id: a\n        delay: 1s\n  - id: Bad-Id\n    delay: 1s\n",
    ));
    let problem = problem_at(&problems, "steps[1].then[0].id");
    assert!(
        problem.message.contains("duplicate step id 'a'"),
        "{problem:?}"
    );
    assert!(problem.message.contains("steps[0]"), "{problem:?}");
    problem_at(&problems, "steps[2].id");
}

#[test]
fn structure_problems_name_their_keys() {
    let problems = invalid(&with_steps(
        "  - id: a\n    action: get_call\n    inputs: {id: 1}\n  - id: b\n    delay: 1s\n    action: get_call\n  - id: c\n  - action: get_call\n    input: {id: 1}\n  - id: e\n    delay: soon\n  - id: f\n    http: {url: 'https://x.example', verb: GET}\n    on_error: ignore\n",
    ));
    assert!(problem_at(&problems, "steps[0].inputs")
        .message
        .contains("unknown key 'inputs'"));
    assert!(problem_at(&problems, "steps[1]")
        .message
        .contains("this one has action and delay"));
    assert!(problem_at(&problems, "steps[2]")
        .message
        .contains("has none"));
    problem_at(&problems, "steps[3].id");
    assert!(problem_at(&problems, "steps[4].delay")
        .message
        .contains("duration"));
    problem_at(&problems, "steps[5].http.verb");
    problem_at(&problems, "steps[5].on_error");

    let problems =
        invalid("name: t\ntrigger: {type: api}\nsteps: []\nextra: 1\nconfig: {x: {type: text}}");
    problem_at(&problems, "extra");
    problem_at(&problems, "steps");
    assert!(problem_at(&problems, "config.x.type")
        .message
        .contains("unknown config type 'text'"));
    let problems = invalid("trigger: {}\nsteps: [{id: a, delay: 1s}]");
    problem_at(&problems, "name");
    problem_at(&problems, "trigger.type");
}

#[test]
fn http_loops_retries_and_config_are_bounded() {
    let problems = invalid(&with_steps(
        "  - id: a\n    http: {method: TRACE, url: 'ftp://x.example/file'}\n    retry: {max_attempts: 11, backoff: 1h}\n  - id: b\n    for_each: event.items\n    max_iterations: 1001\n    as: event\n    steps: [{id: c, delay: 1s}]\n  - id: d\n    delay: 0s\n  - id: e\n    http: {url: '{{ config.reply_from }}/x'}\n",
    ));
    problem_at(&problems, "steps[0].http.method");
    assert!(problem_at(&problems, "steps[0].http.url")
        .message
        .contains("absolute http(s) URL"));
    problem_at(&problems, "steps[0].retry.max_attempts");
    problem_at(&problems, "steps[0].retry.backoff");
    problem_at(&problems, "steps[1].max_iterations");
    problem_at(&problems, "steps[1].as");
    problem_at(&problems, "steps[2].delay");
    assert!(
        !problems.iter().any(|p| p.field.starts_with("steps[3]")),
        "{problems:#?}"
    );

    let problems = invalid("name: t\ntrigger: {type: api}\nconfig: {limit: {type: integer, default: many}, 'bad name': string}\nsteps: [{id: a, delay: 1s}]");
    problem_at(&problems, "config.limit.default");
    problem_at(&problems, "config.bad name");
}

#[test]
fn every_problem_is_reported_at_once() {
    let problems = invalid(
        "name: t\ntrigger: {type: nope}\nsteps:\n  - id: a\n    action: nope\n  - id: b\n    set: {x: '{{ steps.z.output }}'}\n  - id: b\n    delay: 1s\n",
    );
    for field in [
        "trigger.type",
        "steps[0].action",
        "steps[1].set.x",
        "steps[2].id",
    ] {
        problem_at(&problems, field);
    }
    // Structural problems do not hide the others; what could not be read says nothing more.
    let problems = invalid(
        "name: t\ntrigger: {type: schedule, cron: '61 * * * *'}\nsteps:\n  - id: a\n    delay: soon\n  - id: b\n    http: {url: x}\n  - id: c\n    set: {x: '{{ steps.a.output }}{{ steps.d.output }}'}\n",
    );
    assert!(problem_at(&problems, "steps[0].delay")
        .message
        .contains("'soon' is not a duration"));
    problem_at(&problems, "trigger.params.cron");
    problem_at(&problems, "steps[1].http.url");
    assert!(problem_at(&problems, "steps[2].set.x")
        .message
        .contains("steps.d"));
    assert_eq!(problems.len(), 4, "{problems:#?}");
}

#[test]
fn bodies_that_are_not_yaml_or_json_are_named() {
    let problems = Definition::parse(b"name: [", Some("text/yaml; charset=utf-8")).unwrap_err();
    assert_eq!(problems[0].field, "body");
    assert!(problems[0].message.contains("YAML"));
    let problems = Definition::parse(b"name: t", Some("application/json")).unwrap_err();
    assert_eq!(problems[0].field, "body");
    assert!(problems[0].message.contains("JSON"));
    let problems = Definition::parse(b"[1]", None).unwrap_err();
    assert_eq!(problems[0].field, "body");
}

// Templates.

fn ctx() -> Arc<Value> {
    Arc::new(json!({
        "event": {
            "call_id": "5910974510923776",
            "target_id": 5910974510923776_i64,
            "big": 18446744073709551615_u64,
            "direction": "inbound",
            "contact": { "name": "Ada" },
            "numbers": ["+14155550100", "+14155550101"],
            "ratio": 0.25,
        },
        "config": { "reply_from": "+14155550199" },
        "steps": { "call": { "output": { "duration": 0, "labels": [] } } },
    }))
}

#[test]
fn a_lone_expression_keeps_its_type() {
    let ctx = ctx();
    assert_eq!(
        render(&json!("{{ steps.call.output.duration }}"), &ctx).unwrap(),
        json!(0)
    );
    assert_eq!(
        render(&json!("  {{ event }} "), &ctx).unwrap(),
        ctx["event"]
    );
    assert_eq!(
        render(&json!("{{ event.numbers }}"), &ctx).unwrap(),
        json!(["+14155550100", "+14155550101"])
    );
    assert_eq!(
        render(&json!("{{ event.direction == 'inbound' }}"), &ctx).unwrap(),
        json!(true)
    );
    assert_eq!(render(&json!("{{ none }}"), &ctx).unwrap(), Value::Null);
    assert_eq!(
        render(&json!("{{ event.ratio }}"), &ctx).unwrap(),
        json!(0.25)
    );
    assert_eq!(
        render(&json!("{{- event.ratio -}}"), &ctx).unwrap(),
        json!(0.25)
    );
    // int64 ids survive, as numbers and as strings.
    assert_eq!(
        render(&json!("{{ event.target_id }}"), &ctx).unwrap(),
        json!(5910974510923776_i64)
    );
    assert_eq!(
        render(&json!("{{ event.big }}"), &ctx).unwrap(),
        json!(18446744073709551615_u64)
    );
    assert_eq!(
        render(&json!("{{ event.call_id }}"), &ctx).unwrap(),
        json!("5910974510923776")
    );
    assert_eq!(
        render(&json!("{{ event.target_id + 1 }}"), &ctx).unwrap(),
        json!(5910974510923777_i64)
    );
}

#[test]
fn other_strings_interpolate_and_the_rest_is_unchanged() {
    let ctx = ctx();
    let input = json!({
        "from_number": "{{ config.reply_from }}",
        "to_numbers": ["{{ event.numbers[0] }}", "+1"],
        "text": "Sorry we missed you, {{ event.contact.name }}.",
        "count": "{{ event.numbers | length }} numbers",
        "loop": "{% for n in event.numbers %}{{ n }};{% endfor %}",
        "html": "{{ '<b>' }}",
        "plain": "no templates {here}",
        "n": 5,
        "flag": false,
    });
    assert_eq!(
        render(&input, &ctx).unwrap(),
        json!({
            "from_number": "+14155550199",
            "to_numbers": ["+14155550100", "+1"],
            "text": "Sorry we missed you, Ada.",
            "count": "2 numbers",
            "loop": "+14155550100;+14155550101;",
            "html": "<b>",
            "plain": "no templates {here}",
            "n": 5,
            "flag": false,
        })
    );
}

#[test]
fn undefined_values_are_errors() {
    let ctx = ctx();
    let error = render(&json!({ "t": "{{ event.nmae }}" }), &ctx).unwrap_err();
    assert!(error.message.contains("event.nmae"), "{error}");
    assert!(error.message.contains("undefined"), "{error}");
    let error = render(&json!("Hi {{ event.contact.nmae }}!"), &ctx).unwrap_err();
    assert!(
        error.message.contains("Hi {{ event.contact.nmae }}!"),
        "{error}"
    );
    assert!(error.message.contains("undefined"), "{error}");
    assert!(error.message.contains("at `event.contact.nmae`"), "{error}");
    assert!(eval("evnt.call_id", &ctx).is_err());
    assert!(eval_bool("event.missing", &ctx).is_err());
    // `is defined` is the way to ask.
    assert!(!eval_bool("event.missing is defined", &ctx).unwrap());
}

#[test]
fn expressions_evaluate_to_json_and_truth() {
    let ctx = ctx();
    assert_eq!(eval("event.numbers | length", &ctx).unwrap(), json!(2));
    assert_eq!(
        eval("{{ event.numbers[1] }}", &ctx).unwrap(),
        json!("+14155550101")
    );
    assert!(eval_bool("steps.call.output.duration == 0", &ctx).unwrap());
    assert!(!eval_bool("steps.call.output.labels", &ctx).unwrap());
    assert!(eval_bool("event.direction == 'inbound' and config.reply_from", &ctx).unwrap());
    let error = eval("event.direction ==", &ctx).unwrap_err();
    assert!(error.message.contains("event.direction =="), "{error}");
    assert!(error.message.contains("syntax error"), "{error}");
}

#[test]
fn checks_report_minijinja_reasons() {
    check_template("Hi {{ event.name }}").unwrap();
    check_template("{% if x %}a{% endif %}").unwrap();
    assert!(check_template("Hi {{ event.name ")
        .unwrap_err()
        .contains("syntax error"));
    assert!(check_template("{% if x %}a").is_err());
    check_expression("event.duration > 0 and event.direction in ['inbound']").unwrap();
    check_expression("{{ event.duration }}").unwrap();
    assert!(check_expression("event.duration >").is_err());
}

#[test]
/// The stored JSON of each kind, as written before the kinds had modules of their own: what
/// stored definitions hold, so it must keep reading back to the same model.
fn the_stored_form_of_every_kind_stays_the_same() {
    let source = r#"
name: Stored form
trigger: {type: api}
steps:
  - id: call
    action: get_call
    input: {id: "{{ event.call_id }}"}
    retry: {max_attempts: 2, backoff: 1m 30s}
  - id: plain
    action: list_users
  - id: check
    if: "steps.call.output.duration == 0"
    then: [{id: wait, delay: 1h 30m}]
    else: [{id: note, set: {missed: false, who: "{{ event.name }}"}}]
    on_error: continue
  - id: each
    for_each: event.items
    as: entry
    max_iterations: 7
    steps:
      - id: hook
        http:
          method: put
          url: "https://hooks.example.com/{{ entry.id }}"
          headers: {X-N: 5, X-T: "{{ entry.t }}"}
          body: [1, "{{ loop.index }}"]
  - id: get
    http: {url: "https://api.example.com/x"}
"#;
    let stored = json!({
        "name": "Stored form",
        "trigger": {"type": "api"},
        "steps": [
            {"id": "call", "action": "get_call", "input": {"id": "{{ event.call_id }}"},
             "retry": {"max_attempts": 2, "backoff": "1m 30s"}},
            {"id": "plain", "action": "list_users", "input": {}},
            {"id": "check", "if": "steps.call.output.duration == 0", "on_error": "continue",
             "then": [{"id": "wait", "delay": "1h 30m"}],
             "else": [{"id": "note", "set": {"missed": false, "who": "{{ event.name }}"}}]},
            {"id": "each", "for_each": "event.items", "as": "entry", "max_iterations": 7,
             "steps": [{"id": "hook", "http": {
                 "method": "PUT", "url": "https://hooks.example.com/{{ entry.id }}",
                 "headers": {"X-N": "5", "X-T": "{{ entry.t }}"},
                 "body": [1, "{{ loop.index }}"]}}]},
            {"id": "get", "http": {"method": "GET", "url": "https://api.example.com/x"}}
        ]
    });
    let def = yaml(source).unwrap();
    assert_eq!(def.to_value(), stored);
    assert_eq!(Definition::from_value(&stored).unwrap(), def);
}

#[test]
fn every_evaluation_has_a_budget() {
    use super::template;
    let ctx = Arc::new(serde_json::json!({ "event": {} }));
    // The issue's template: ten billion iterations. It stops with a clear error, at once.
    let started = std::time::Instant::now();
    let err = template::render(
        &serde_json::json!(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
        ),
        &ctx,
    )
    .unwrap_err();
    assert!(err.message.contains("template budget"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Output over the cap.
    let err = template::render(
        &serde_json::json!("{% for i in range(20000) %}{{ '-' * 100 }}{% endfor %}"),
        &ctx,
    )
    .unwrap_err();
    assert!(err.message.contains("at most 1048576 bytes"), "{err}");
    // A stateful template is refused when it runs too (not only on save).
    let err = template::render(&serde_json::json!("{% set a = 1 %}{{ a }}"), &ctx).unwrap_err();
    assert!(err.message.contains("templates hold no state"), "{err}");
    assert_eq!(
        template::render(&serde_json::json!("{{ '-' * 3 }}"), &ctx).unwrap(),
        serde_json::json!("---")
    );
}

#[test]
fn a_workflow_has_at_most_max_steps_nested_ones_included() {
    use super::definition::MAX_STEPS;
    // One loop holding the rest: nested steps count.
    let inner: String = (0..MAX_STEPS)
        .map(|i| format!("      - {{id: s{i}, delay: 1s}}\n"))
        .collect();
    let source = with_steps(&format!(
        "  - id: each\n    for_each: event.items\n    steps:\n{inner}"
    ));
    let problems = invalid(&source);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let problem = problem_at(&problems, "steps");
    assert!(
        problem
            .message
            .contains(&format!("has {} steps", MAX_STEPS + 1))
            && problem.message.contains(&format!("at most {MAX_STEPS}")),
        "{problem:?}"
    );
    // One fewer is fine.
    let inner: String = (1..MAX_STEPS)
        .map(|i| format!("      - {{id: s{i}, delay: 1s}}\n"))
        .collect();
    yaml(&with_steps(&format!(
        "  - id: each\n    for_each: event.items\n    steps:\n{inner}"
    )))
    .unwrap();
}

#[test]
fn nested_loops_multiply_their_iterations_within_a_bound() {
    let nested = |outer: u32, inner: u32| {
        with_steps(&format!(
            "  - id: outer\n    for_each: event.items\n    max_iterations: {outer}\n    steps:\n      - id: inner\n        for_each: event.items\n        max_iterations: {inner}\n        steps: [{{id: a, delay: 1s}}]\n"
        ))
    };
    // The default 100 around a 1000: 100,000 runs of the inner body.
    let problems = invalid(&nested(100, 1000));
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let problem = problem_at(&problems, "steps[0].steps[0].max_iterations");
    assert!(
        problem.message.contains("100 × 1000 = 100000")
            && problem.message.contains("at most 10000 times in all"),
        "{problem:?}"
    );
    yaml(&nested(10, 1000)).unwrap();
    // A single loop keeps its own ceiling (max_iterations ≤ 1000).
    yaml(&with_steps(
        "  - id: one\n    for_each: event.items\n    max_iterations: 1000\n    steps: [{id: a, delay: 1s}]\n",
    ))
    .unwrap();
}

#[test]
fn a_yaml_alias_bomb_is_refused_before_it_expands() {
    // Each level repeats the one above ten times: 10^8 scalars if expanded.
    let mut source = String::from("name: t\ntrigger: {type: api}\na0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
    for level in 1..8 {
        let above = format!("*a{}", level - 1);
        source.push_str(&format!(
            "a{level}: &a{level} [{}]\n",
            [above.as_str(); 10].join(",")
        ));
    }
    source.push_str("steps: [{id: a, delay: 1s}]\n");
    let problems = invalid(&source);
    let problem = problem_at(&problems, "body");
    assert!(
        problem.message.contains("not valid YAML") && problem.message.contains("repetition limit"),
        "{problem:?}"
    );
}
