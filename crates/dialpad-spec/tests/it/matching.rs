//! Matching concrete request paths to documented operations, and "did you mean" suggestions.

use dialpad_spec::{spec, Match};

fn found(method: &str, path: &str) -> (String, Vec<(String, String)>) {
    match spec().find(method, path) {
        Match::Found {
            operation,
            path_params,
        } => (operation.id.clone(), path_params),
        other => panic!("{method} {path}: {other:?}"),
    }
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn finds_operations_and_path_parameters() {
    assert_eq!(
        found("GET", "/api/v2/contacts/123"),
        ("contacts.get".to_owned(), params(&[("id", "123")]))
    );
    assert_eq!(
        found("patch", "/api/v2/contacts/123"),
        ("contacts.update".to_owned(), params(&[("id", "123")]))
    );
    let (id, path_params) = found("GET", "/api/v2/call");
    assert_eq!((id.as_str(), path_params.len()), ("call.list", 0));
    assert_eq!(
        spec().operation(&id).map(|op| op.scopes.clone()),
        Some(vec!["calls:list".to_owned()])
    );
    assert_eq!(
        found("GET", "/api/v2/callcenters/7/operators/8/skill"),
        (
            "callcenters.operators.get.skilllevel".to_owned(),
            params(&[("call_center_id", "7"), ("user_id", "8")])
        )
    );
    assert_eq!(
        found("GET", "/api/v2/blockednumbers/%2B15551234567?apikey=k"),
        (
            "blockednumbers.get".to_owned(),
            params(&[("number", "+15551234567")])
        )
    );
    assert_eq!(found("GET", "/api/v2/contacts/").0, "contacts.list");
}

#[test]
fn literal_segments_win_over_parameters() {
    assert_eq!(
        found("POST", "/api/v2/call/initiate_ivr_call").0,
        "call.initiate_ivr_call"
    );
    assert_eq!(
        found("GET", "/api/v2/call/initiate_ivr_call").0,
        "call.get_call_info"
    );
    assert_eq!(
        found("POST", "/api/v2/numbers/swap").0,
        "numbers.swap_number.post"
    );
    assert_eq!(
        found("POST", "/api/v2/numbers/assign").0,
        "numbers.assign_target_number.post"
    );
    assert_eq!(
        found("POST", "/api/v2/blockednumbers/add").0,
        "blockednumbers.add"
    );
    assert_eq!(
        found("POST", "/api/v2/rooms/international_pin").0,
        "deskphones.rooms.create_international_pin"
    );
    assert_eq!(found("GET", "/api/v2/rooms/42").0, "rooms.get");
    assert_eq!(
        found("PATCH", "/api/v2/callcenters/operators/5/dutystatus"),
        (
            "callcenters.operators.dutystatus".to_owned(),
            params(&[("id", "5")])
        )
    );
    // "operators" fits `{id}` in /api/v2/callcenters/{id}/status, which has no literal rival.
    assert_eq!(
        found("GET", "/api/v2/callcenters/operators/status").0,
        "callcenters.status"
    );
}

#[test]
fn unknown_paths_and_methods() {
    assert!(matches!(
        spec().find("GET", "/api/v2/nothing"),
        Match::NotFound
    ));
    assert!(matches!(
        spec().find("GET", "/api/v2/contacts/1/2/3"),
        Match::NotFound
    ));
    assert!(matches!(spec().find("GET", ""), Match::NotFound));
    assert!(matches!(spec().find("GET", "/api/v2//1"), Match::NotFound));
    match spec().find("PUT", "/api/v2/contacts/123") {
        Match::MethodNotAllowed { allowed } => assert_eq!(allowed, ["DELETE", "GET", "PATCH"]),
        other => panic!("{other:?}"),
    }
    match spec().find("DELETE", "/api/v2/sms") {
        Match::MethodNotAllowed { allowed } => assert_eq!(allowed, ["POST"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn nearest_documented_path() {
    assert_eq!(
        spec().nearest_path("/api/v2/contact"),
        Some("/api/v2/contacts")
    );
    assert_eq!(
        spec().nearest_path("/api/v2/contact/123"),
        Some("/api/v2/contacts/{id}")
    );
    assert_eq!(
        spec().nearest_path("/api/v2/webhook"),
        Some("/api/v2/webhooks")
    );
    assert_eq!(
        spec().nearest_path("/api/v2/subscription/sms"),
        Some("/api/v2/subscriptions/sms")
    );
    assert_eq!(spec().nearest_path("/v2/users"), Some("/api/v2/users"));
    assert_eq!(
        spec().nearest_path("/api/v2/contacts"),
        Some("/api/v2/contacts")
    );
    assert_eq!(
        spec().nearest_path("/completely/unrelated/thing/here"),
        None
    );
}
