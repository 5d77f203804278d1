//! The embedded spec loads, compiles, and yields the operation facts others rely on:
//! ids, scopes, rate limits, admin requirements, request/response schemas.

use std::collections::BTreeSet;
use std::time::Duration;

use dialpad_spec::{spec, ParamLocation};

#[test]
fn the_embedded_spec_loads_with_every_path_and_operation() {
    let spec = spec();
    let paths: BTreeSet<&str> = spec
        .operations()
        .iter()
        .map(|op| op.path.as_str())
        .collect();
    assert_eq!(paths.len(), 120);
    assert_eq!(spec.paths().count(), 120);
    assert_eq!(spec.operations().len(), 193);
    for operation in spec.operations() {
        assert_eq!(
            spec.operation(&operation.id).map(|op| &op.path),
            Some(&operation.path)
        );
    }
}

#[test]
fn every_schema_in_the_spec_compiles() {
    for operation in spec().operations() {
        let failures = operation.compile_all();
        assert!(failures.is_empty(), "{}: {failures:?}", operation.id);
    }
}

#[test]
fn operation_facts() {
    let create = spec()
        .operation("contacts.create")
        .expect("contacts.create");
    assert_eq!(
        (create.method.as_str(), create.path.as_str()),
        ("POST", "/api/v2/contacts")
    );
    assert_eq!(create.summary, "Contact -- Create");
    assert!(create.has_request_body);
    assert!(create.scopes.is_empty());

    let get = spec().operation("contacts.get").expect("contacts.get");
    assert!(!get.has_request_body);
    assert_eq!(get.parameters.len(), 1);
    assert_eq!(get.parameters[0].name, "id");
    assert_eq!(get.parameters[0].location, ParamLocation::Path);
    assert!(get.parameters[0].required);

    let list = spec().operation("call.list").expect("call.list");
    assert_eq!(list.scopes, ["calls:list"]);
    let limit = list
        .parameters
        .iter()
        .find(|p| p.name == "started_after")
        .expect("started_after");
    assert_eq!(limit.location, ParamLocation::Query);
    assert!(!limit.required);
    assert_eq!(
        spec()
            .operation("screen_pop.initiate")
            .map(|op| op.scopes.clone()),
        Some(vec!["screen_pop".to_owned()])
    );
}

#[test]
fn rate_limits_are_parsed_and_normalised_per_minute() {
    let per_minute = |id: &str| spec().operation(id).and_then(|op| op.rate_limit_per_minute);
    assert_eq!(per_minute("contacts.create"), Some(100));
    assert_eq!(per_minute("call.get_call_info"), Some(10));
    assert_eq!(per_minute("contacts.get"), Some(1200));
    assert_eq!(per_minute("sms.send"), Some(100), "tier 0 of 100 / 800");
    assert_eq!(
        per_minute("call.initiate_ivr_call"),
        Some(1200),
        "not the per-IVR limit"
    );
    assert_eq!(per_minute("stats.create"), Some(3), "200 per hour");
    assert_eq!(per_minute("callrouters.update"), Some(1), "1 per 5 minutes");
    assert_eq!(per_minute("oauth2.token.post"), None);

    let router = spec()
        .operation("callrouters.update")
        .expect("callrouters.update");
    assert_eq!(router.rate_limits[0].window, Duration::from_secs(300));
    let ivr = spec().operation("call.initiate_ivr_call").expect("ivr");
    assert_eq!(ivr.rate_limits[0].per.as_deref(), Some("IVR"));
    assert_eq!(ivr.rate_limits[0].requests, 10);

    // Every operation outside OAuth states a limit; the usual one is 1200 per minute.
    let unlimited: Vec<&str> = spec()
        .operations()
        .iter()
        .filter(|op| op.rate_limits.is_empty())
        .map(|op| op.id.as_str())
        .collect();
    assert_eq!(
        unlimited,
        [
            "oauth2.authorize.get",
            "oauth2.deauthorize.post",
            "oauth2.token.post"
        ]
    );
    let typical = spec()
        .operations()
        .iter()
        .filter(|op| op.rate_limit_per_minute == Some(1200))
        .count();
    assert!(typical > 150, "{typical}");
}

#[test]
fn company_admin_requirement() {
    let admin: Vec<&str> = spec()
        .operations()
        .iter()
        .filter(|op| op.requires_company_admin)
        .map(|op| op.id.as_str())
        .collect();
    assert_eq!(admin.len(), 33);
    assert!(
        !spec()
            .operation("users.move_office.patch")
            .expect("move")
            .requires_company_admin
    );
}

#[test]
fn schemas_are_resolved_and_normalised() {
    let create = spec()
        .operation("contacts.create")
        .expect("contacts.create");
    let body = create.request_body_schema().expect("body schema");
    assert_eq!(body["additionalProperties"], false);
    assert_eq!(
        body["properties"]["first_name"]["type"],
        serde_json::json!(["string", "null"])
    );
    assert_eq!(create.required_body_fields(), ["first_name", "last_name"]);

    let response = spec()
        .operation("webhook_call_event_subscription.get")
        .and_then(|op| op.response_schema())
        .expect("response schema");
    let text = response.to_string();
    assert!(!text.contains("$ref"), "refs are inlined");
    assert!(!text.contains("nullable"), "nullable is rewritten");
    assert_eq!(
        response["properties"]["webhook"]["properties"]["hook_url"]["type"],
        serde_json::json!(["string", "null"])
    );

    assert!(spec()
        .operation("contacts.delete")
        .and_then(|op| op.request_body_schema())
        .is_none());
}
