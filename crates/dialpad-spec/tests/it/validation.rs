//! Request and response validation against the spec: locations and messages of problems.

use dialpad_spec::{spec, Operation, Problem};
use serde_json::{json, Value};

fn operation(id: &str) -> &'static Operation {
    spec()
        .operation(id)
        .unwrap_or_else(|| panic!("no operation {id}"))
}

fn body_problems(id: &str, body: Value) -> Vec<Problem> {
    operation(id)
        .validate_request(&[], &[], Some(&body))
        .err()
        .unwrap_or_default()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn locations(problems: &[Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.location.as_str()).collect()
}

#[test]
fn a_valid_contact_passes() {
    let body = json!({"first_name": "Ada", "last_name": "Lovelace", "phones": ["+15551234567"], "emails": null});
    assert_eq!(
        operation("contacts.create").validate_request(&[], &[], Some(&body)),
        Ok(())
    );
}

#[test]
fn missing_required_field() {
    let problems = body_problems("contacts.create", json!({"first_name": "Ada"}));
    assert_eq!(locations(&problems), ["body.last_name"]);
    assert_eq!(problems[0].message, "missing required field `last_name`");
}

#[test]
fn wrong_type() {
    let problems = body_problems(
        "contacts.create",
        json!({"first_name": 7, "last_name": "L", "phones": "x"}),
    );
    assert_eq!(locations(&problems), ["body.first_name", "body.phones"]);
    assert_eq!(
        problems[0].message,
        "`first_name` must be a string or null, got 7"
    );
    assert_eq!(
        problems[1].message,
        "`phones` must be an array or null, got \"x\""
    );

    let problems = body_problems(
        "contacts.create",
        json!({"first_name": "A", "last_name": "L", "phones": [1]}),
    );
    assert_eq!(locations(&problems), ["body.phones.0"]);

    let problems = body_problems("contacts.create", json!([1, 2]));
    assert_eq!(locations(&problems), ["body"]);
    assert_eq!(
        problems[0].message,
        "the body must be an object, got an array"
    );
}

#[test]
fn unknown_field_names_the_field_and_the_known_ones() {
    let problems = body_problems(
        "contacts.create",
        json!({"first_name": "A", "last_name": "L", "foo": 1}),
    );
    assert_eq!(locations(&problems), ["body.foo"]);
    assert!(
        problems[0].message.starts_with(
            "unknown field `foo`; expected one of: company_name, emails, extension, first_name,"
        ),
        "{}",
        problems[0].message
    );
    assert_eq!(
        problems[0].to_string(),
        format!("body.foo: {}", problems[0].message)
    );
}

#[test]
fn bad_enum_lists_the_allowed_values() {
    let problems = body_problems(
        "webhook_contact_event_subscription.create",
        json!({"contact_type": "global", "endpoint_id": 1}),
    );
    assert_eq!(locations(&problems), ["body.contact_type"]);
    assert_eq!(
        problems[0].message,
        "`contact_type` must be one of: local, shared; got \"global\""
    );

    let problems = body_problems(
        "webhook_sms_event_subscription.create",
        json!({"direction": "sideways"}),
    );
    assert_eq!(locations(&problems), ["body.direction"]);
    assert_eq!(
        problems[0].message,
        "`direction` must be one of: all, inbound, outbound; got \"sideways\""
    );
    assert_eq!(
        body_problems(
            "webhook_sms_event_subscription.create",
            json!({"direction": "inbound"})
        ),
        []
    );

    let problems = body_problems(
        "sms.send",
        json!({"text": "hi", "sender_group_type": "team"}),
    );
    assert_eq!(locations(&problems), ["body.sender_group_type"]);
}

#[test]
fn int64_as_string_or_number() {
    let create = "webhook_sms_event_subscription.create";
    assert_eq!(
        body_problems(
            create,
            json!({"direction": "all", "endpoint_id": "5764989227794432"})
        ),
        []
    );
    assert_eq!(
        body_problems(
            create,
            json!({"direction": "all", "endpoint_id": 5764989227794432_i64})
        ),
        []
    );
    assert_eq!(
        body_problems(create, json!({"direction": "all", "endpoint_id": "-12"})),
        []
    );
    assert_eq!(
        body_problems(create, json!({"direction": "all", "endpoint_id": null})),
        []
    );

    let problems = body_problems(create, json!({"direction": "all", "endpoint_id": "12a"}));
    assert_eq!(locations(&problems), ["body.endpoint_id"]);
    assert_eq!(
        problems[0].message,
        "`endpoint_id` must be an integer or a string of decimal digits; got \"12a\""
    );
    let problems = body_problems(create, json!({"direction": "all", "endpoint_id": 1.5}));
    assert_eq!(
        problems[0].message,
        "`endpoint_id` must be an integer (or a string of decimal digits) or null, got 1.5"
    );

    let sms = body_problems(
        "sms.send",
        json!({"text": "hi", "to_numbers": ["+15551234567"], "user_id": "5091"}),
    );
    assert_eq!(sms, []);
}

#[test]
fn query_and_path_parameters_are_coerced_and_checked() {
    let list = operation("call.list");
    let query = pairs(&[
        ("apikey", "secret"),
        ("started_after", "1700000000000"),
        ("target_type", "user"),
        ("limit", "x"),
    ]);
    assert_eq!(list.validate_request(&[], &query, None), Ok(()));

    let problems = list
        .validate_request(
            &[],
            &pairs(&[("started_after", "yesterday"), ("target_type", "robot")]),
            None,
        )
        .expect_err("bad query");
    assert_eq!(
        locations(&problems),
        ["query.started_after", "query.target_type"]
    );
    assert!(problems[1]
        .message
        .starts_with("`target_type` must be one of: callcenter, callrouter,"));

    // contacts take string ids; calls take int64 ones.
    let get = operation("contacts.get");
    assert_eq!(
        get.validate_request(&pairs(&[("id", "shared-abc")]), &[], None),
        Ok(())
    );
    let call = operation("call.get_call_info");
    assert_eq!(
        call.validate_request(&pairs(&[("id", "123")]), &[], None),
        Ok(())
    );
    let problems = call
        .validate_request(&pairs(&[("id", "abc")]), &[], None)
        .expect_err("bad id");
    assert_eq!(locations(&problems), ["path.id"]);
    assert_eq!(
        problems[0].message,
        "`id` must be an integer or a string of decimal digits; got \"abc\""
    );
    let problems = get.validate_request(&[], &[], None).expect_err("no id");
    assert_eq!(
        problems,
        [Problem::new(
            "path.id",
            "missing required path parameter `id`"
        )]
    );

    let authorize = operation("oauth2.authorize.get");
    let problems = authorize
        .validate_request(&[], &pairs(&[("client_id", "c")]), None)
        .expect_err("no redirect_uri");
    assert_eq!(locations(&problems), ["query.redirect_uri"]);
}

#[test]
fn bodies_present_or_absent() {
    let problems = operation("contacts.create")
        .validate_request(&[], &[], None)
        .expect_err("body needed");
    assert_eq!(locations(&problems), ["body"]);
    assert_eq!(
        problems[0].message,
        "a JSON body is required (required fields: first_name, last_name)"
    );

    // A body whose fields are all optional may be left out.
    assert_eq!(
        operation("contacts.update").validate_request(&pairs(&[("id", "1")]), &[], None),
        Ok(())
    );

    let get = operation("contacts.get");
    assert_eq!(
        get.validate_request(&pairs(&[("id", "1")]), &[], Some(&json!({}))),
        Ok(())
    );
    let problems = get
        .validate_request(&pairs(&[("id", "1")]), &[], Some(&json!({"a": 1})))
        .expect_err("no body taken");
    assert_eq!(locations(&problems), ["body"]);
}

#[test]
fn alternatives_explain_the_closest_shape() {
    let swap = operation("numbers.swap_number.post");
    let ok = json!({"swap_details": {"type": "auto"}, "target": {"target_id": "1", "target_type": "user"}});
    assert_eq!(
        swap.validate_request(&[], &[], Some(&ok)),
        Ok(()),
        "overlapping alternatives are fine"
    );

    let problems = swap
        .validate_request(&[], &[], Some(&json!({"swap_details": {"kind": "auto"}, "target": {"target_id": 1, "target_type": "user"}})))
        .expect_err("no type");
    assert_eq!(locations(&problems), ["body.swap_details"]);
    assert!(
        problems[0]
            .message
            .contains("missing required field `type`"),
        "{}",
        problems[0].message
    );
}

#[test]
fn responses_with_string_ids_pass_and_unknown_fields_fail() {
    let get = operation("contacts.get");
    let contact = json!({
        "id": "5761673530097664",
        "type": "shared",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "display_name": "Ada Lovelace",
        "phones": ["+15551234567"],
        "primary_phone": "+15551234567",
        "emails": [],
        "owner_id": null
    });
    assert_eq!(get.validate_response(200, &contact), Ok(()));

    let mut extra = contact.clone();
    extra["nickname"] = json!("Ada");
    let problems = get
        .validate_response(200, &extra)
        .expect_err("unknown field");
    assert_eq!(locations(&problems), ["body.nickname"]);

    let mut wrong = contact;
    wrong["type"] = json!("private");
    assert!(get.validate_response(200, &wrong).is_err());

    // No schema for errors: anything goes.
    assert_eq!(
        get.validate_response(404, &json!({"error": {"code": 404}})),
        Ok(())
    );

    let webhook = json!({"id": "123", "hook_url": "https://example.com/h", "signature": {"algo": "HS256", "secret": "s", "type": "jwt"}});
    assert_eq!(
        operation("webhooks.create").validate_response(200, &webhook),
        Ok(())
    );
    let calls = json!({"items": [{"call_id": "1", "direction": "inbound", "date_started": "1700000000000", "target": {"id": "7", "type": "user"}}], "cursor": null});
    assert_eq!(
        operation("call.list").validate_response(200, &calls),
        Ok(())
    );
}

#[test]
fn hostile_inputs_do_not_panic() {
    let deep = (0..200).fold(json!(1), |inner, _| json!({"a": inner}));
    for op in spec().operations() {
        let _ = op.validate_request(
            &pairs(&[("id", "\u{0}%zz"), ("", "")]),
            &pairs(&[("limit", "-"), ("cursor", "")]),
            Some(&deep),
        );
        let _ = op.validate_response(200, &deep);
        let _ = op.validate_response(599, &Value::Null);
    }
    let _ = spec().find("\u{1F600}", "/%ff%fe/\u{1F600}//");
    let _ = spec().nearest_path(&"/x".repeat(500));
}
