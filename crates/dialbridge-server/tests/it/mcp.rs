//! MCP over Streamable HTTP with rmcp's own client, as an AI agent would use it: a token per
//! account from the admin API, then initialize, tools (narrowed by the connection's scopes and
//! by the token's `tools`), calls that reach the emulator, refusals with the HTTP API's error
//! codes, a workflow run as a tool, resources, revocation and metrics.

use dialbridge_core::{hash_api_key, AccountId};
use reqwest::{Method, StatusCode};
use rmcp::model::{CallToolRequestParams, CallToolResult, ReadResourceRequestParams, Tool};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};

use crate::support::TestApp;

const BLAKE: &str = "4785074604081152";

type Client = RunningService<RoleClient, ()>;

/// A new MCP token for `account` (`body`: `{name?, tools?}`).
async fn new_token(app: &TestApp, account: &str, body: Value) -> Value {
    let (status, token) = app
        .call(
            Method::POST,
            &format!("/api/v1/accounts/{account}/mcp-tokens"),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    token
}

/// An rmcp client connected (initialized) to `/mcp` with `token`.
async fn connect(app: &TestApp, token: &str) -> Client {
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", app.base))
        .auth_header(token);
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("initialize")
}

async fn tool_names(client: &Client) -> Vec<String> {
    let tools: Vec<Tool> = client.list_all_tools().await.expect("tools/list");
    tools.into_iter().map(|t| t.name.into_owned()).collect()
}

async fn call(client: &Client, name: &str, arguments: Value) -> CallToolResult {
    let Value::Object(arguments) = arguments else {
        panic!("arguments are an object")
    };
    let mut request = CallToolRequestParams::new(name.to_owned());
    request.arguments = Some(arguments);
    client.call_tool(request).await.expect("tools/call")
}

/// The JSON of a tool's text answer.
fn json_of(result: &CallToolResult) -> Value {
    let text = result.content[0]
        .as_text()
        .map(|t| t.text.clone())
        .expect("a text answer");
    serde_json::from_str(&text).expect("JSON text")
}

/// A successful call's JSON.
async fn ok(client: &Client, name: &str, arguments: Value) -> Value {
    let result = call(client, name, arguments).await;
    assert_eq!(result.is_error, Some(false), "{name}: {result:?}");
    json_of(&result)
}

/// A refused call's `{code, message, details}`.
async fn refused(client: &Client, name: &str, arguments: Value) -> Value {
    let result = call(client, name, arguments).await;
    assert_eq!(result.is_error, Some(true), "{name}: {result:?}");
    json_of(&result)["error"].clone()
}

/// The requests the emulator received since the last look, on `path`.
async fn dialpad_requests(app: &TestApp, path: &str) -> Vec<Value> {
    let log = app.take_dialpad_requests().await;
    log.into_iter().filter(|r| r["path"] == path).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_lists_and_calls_tools_and_sees_the_http_apis_errors() {
    let app = TestApp::connected("acme").await;
    let created = new_token(&app, "acme", json!({ "name": "support agent" })).await;
    let token = created["token"].as_str().unwrap();
    assert!(token.starts_with("dbm_"), "{created}");
    assert_eq!(created["name"], "support agent");
    assert_eq!(created["tools"], Value::Null);

    // Shown once, stored hashed.
    let (status, listed) = app.get("/api/v1/accounts/acme/mcp-tokens").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["items"][0]["id"], created["id"]);
    assert!(listed["items"][0].get("token").is_none(), "{listed}");
    let stored = app
        .platform
        .store()
        .list_mcp_tokens(&AccountId::parse("acme").unwrap())
        .await
        .unwrap();
    assert_eq!(stored[0].token_hash, hash_api_key(token));

    let client = connect(&app, token).await;
    let info = client.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("dialbridge")
    );

    let tools: Vec<Tool> = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for name in [
        "list_users",
        "send_sms",
        "create_contact",
        "transfer_call",
        "list_calls",
        "http_request",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let list_users = tools.iter().find(|t| t.name == "list_users").unwrap();
    let hints = list_users.annotations.as_ref().unwrap();
    assert_eq!(hints.read_only_hint, Some(true));
    assert!(list_users
        .description
        .as_deref()
        .unwrap()
        .contains("cursor"));
    let delete = tools.iter().find(|t| t.name == "delete_contact").unwrap();
    assert_eq!(
        delete.annotations.as_ref().unwrap().destructive_hint,
        Some(true)
    );
    let sms = tools.iter().find(|t| t.name == "send_sms").unwrap();
    assert_eq!(
        sms.annotations.as_ref().unwrap().read_only_hint,
        Some(false)
    );
    assert!(sms.input_schema.contains_key("properties"));

    dialpad_requests(&app, "").await;
    let users = ok(&client, "list_users", json!({ "limit": 2 })).await;
    assert_eq!(users["items"].as_array().unwrap().len(), 2, "{users}");
    assert!(users["cursor"].is_string(), "more users: {users}");
    assert_eq!(dialpad_requests(&app, "/api/v2/users").await.len(), 1);

    let sent = ok(
        &client,
        "send_sms",
        json!({ "user_id": BLAKE, "to_numbers": ["+14155550150"], "text": "Your order shipped" }),
    )
    .await;
    assert_eq!(sent["direction"], "outbound");
    let at_dialpad = dialpad_requests(&app, "/api/v2/sms").await;
    assert_eq!(at_dialpad.len(), 1, "{at_dialpad:?}");
    let body: Value = serde_json::from_str(at_dialpad[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["text"], "Your order shipped");
    assert_eq!(body["to_numbers"], json!(["+14155550150"]));

    // Invalid input: the HTTP API's code and field details; nothing reaches Dialpad.
    let error = refused(&client, "send_sms", json!({ "to_numbers": "+1415" })).await;
    assert_eq!(error["code"], "invalid_input", "{error}");
    let fields: Vec<&str> = error["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"to_numbers"), "{error}");
    let error = refused(&client, "list_users", json!({ "limit": 500 })).await;
    assert_eq!(error["details"][0]["field"], "limit", "{error}");
    let error = refused(&client, "list_user", json!({})).await;
    assert_eq!(error["code"], "not_found");
    assert_eq!(error["details"]["did_you_mean"], "list_users");
    assert!(dialpad_requests(&app, "/api/v2/sms").await.is_empty());

    // Counted by tool, and as actions like the HTTP API's runs.
    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "dialbridge_mcp_tool_calls_total{tool=\"list_users\",outcome=\"ok\"} 1",
        "dialbridge_mcp_tool_calls_total{tool=\"send_sms\",outcome=\"invalid_input\"} 1",
        "dialbridge_mcp_tool_calls_total{tool=\"unknown\",outcome=\"not_found\"} 1",
        "dialbridge_actions_total{action=\"send_sms\",outcome=\"ok\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    client.cancel().await.unwrap();
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tools_follow_scopes_and_the_tokens_list_and_a_token_reaches_only_its_account() {
    let app = TestApp::connected("acme").await;
    // An account connected without calls:list does not see list_calls, and is refused it.
    app.call(
        Method::PUT,
        "/api/v1/app/scopes",
        Some(json!({ "scopes": [] })),
    )
    .await;
    app.create_account("plain").await;
    app.connect_oauth("plain").await;
    let plain = new_token(&app, "plain", json!({})).await;
    let client = connect(&app, plain["token"].as_str().unwrap()).await;
    let names = tool_names(&client).await;
    assert!(names.contains(&"list_users".to_owned()), "{names:?}");
    assert!(!names.contains(&"list_calls".to_owned()), "{names:?}");
    let error = refused(&client, "list_calls", json!({})).await;
    assert_eq!(error["code"], "missing_scope", "{error}");
    assert_eq!(error["details"]["scope"], "calls:list");

    // Its resources are its own: another account's are not there to read.
    let resources = client.list_all_resources().await.unwrap();
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "dialbridge://accounts/plain/company",
            "dialbridge://accounts/plain/users"
        ]
    );
    let other = client
        .read_resource(ReadResourceRequestParams::new(
            "dialbridge://accounts/acme/users",
        ))
        .await;
    assert!(other.is_err(), "{other:?}");
    client.cancel().await.unwrap();

    // A token narrowed to read-only tools sees and calls only those.
    let narrowed = new_token(
        &app,
        "acme",
        json!({ "name": "reader", "tools": ["list_users", "get_user"] }),
    )
    .await;
    assert_eq!(narrowed["tools"], json!(["list_users", "get_user"]));
    let client = connect(&app, narrowed["token"].as_str().unwrap()).await;
    assert_eq!(tool_names(&client).await, ["list_users", "get_user"]);
    let error = refused(
        &client,
        "send_sms",
        json!({ "user_id": BLAKE, "to_numbers": ["+14155550150"], "text": "hi" }),
    )
    .await;
    assert_eq!(error["code"], "not_found", "{error}");
    assert!(dialpad_requests(&app, "/api/v2/sms").await.is_empty());

    // Revoked: refused at once, with the contract's error body.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!(
                "/api/v1/accounts/acme/mcp-tokens/{}",
                narrowed["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        client.list_all_tools().await.is_err(),
        "a revoked token is refused"
    );
    let response = app
        .http
        .post(format!("{}/mcp", app.base))
        .bearer_auth(narrowed["token"].as_str().unwrap())
        .header("accept", "application/json, text/event-stream")
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    // And the admin API key is no MCP token.
    let response = app
        .http
        .post(format!("{}/mcp", app.base))
        .bearer_auth(&app.api_key)
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // rmcp's own refusals come in the contract's shape too.
    let response = app
        .http
        .post(format!("{}/mcp", app.base))
        .bearer_auth(plain["token"].as_str().unwrap())
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_acceptable", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("text/event-stream"),
        "{body}"
    );

    // Bad token requests answer the contract's errors.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/accounts/acme/mcp-tokens",
            Some(json!({ "tools": ["sned_sms"] })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "tools[0]");
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/accounts/nobody/mcp-tokens",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            Method::DELETE,
            "/api/v1/accounts/plain/mcp-tokens/mcp_nope",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Revoking one account's token through another account's path finds nothing.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!(
                "/api/v1/accounts/acme/mcp-tokens/{}",
                plain["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, audit) = app.get("/api/v1/audit-log").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"mcp_token.create") && actions.contains(&"mcp_token.delete"),
        "{actions:?}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_workflow_runs_as_a_tool_and_resources_give_context() {
    let app = TestApp::connected("acme").await;
    let workflow = json!({
        "name": "Text a customer",
        "description": "Sends one text from a user.",
        "trigger": { "type": "api" },
        "steps": [{
            "id": "sms",
            "action": "send_sms",
            "input": { "user_id": "{{ event.user_id }}", "to_numbers": ["{{ event.to }}"], "text": "{{ event.text }}" },
        }],
    });
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/workflows/text-customer",
            Some(workflow),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/accounts/acme/workflows/text-customer",
            Some(json!({ "config": {} })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let token = new_token(&app, "acme", json!({})).await;
    let client = connect(&app, token["token"].as_str().unwrap()).await;
    let tools: Vec<Tool> = client.list_all_tools().await.unwrap();
    let tool = tools
        .iter()
        .find(|t| t.name == "run_workflow_text-customer")
        .expect("the workflow's tool");
    assert!(tool
        .description
        .as_deref()
        .unwrap()
        .contains("Text a customer"));

    dialpad_requests(&app, "").await;
    let run = ok(
        &client,
        "run_workflow_text-customer",
        json!({ "user_id": BLAKE, "to": "+14155550161", "text": "From a workflow" }),
    )
    .await;
    assert_eq!(run["finished"], true, "{run}");
    assert_eq!(run["execution"]["status"], "succeeded", "{run}");
    let id = run["execution_id"].as_str().unwrap();
    let (status, execution) = app.get(&format!("/api/v1/executions/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(execution["trigger"]["type"], "api");
    let sms = dialpad_requests(&app, "/api/v2/sms").await;
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert!(sms[0]["body"].as_str().unwrap().contains("From a workflow"));

    // A workflow not enabled for the account is no tool of it.
    let error = refused(&client, "run_workflow_other", json!({})).await;
    assert_eq!(error["code"], "not_found", "{error}");

    let resources = client.list_all_resources().await.unwrap();
    assert_eq!(resources.len(), 3, "{resources:?}");
    let company = client
        .read_resource(ReadResourceRequestParams::new(
            "dialbridge://accounts/acme/company",
        ))
        .await
        .unwrap();
    let rmcp::model::ResourceContents::TextResourceContents {
        text, mime_type, ..
    } = &company.contents[0]
    else {
        panic!("text contents")
    };
    assert_eq!(mime_type.as_deref(), Some("application/json"));
    let company: Value = serde_json::from_str(text).unwrap();
    assert_eq!(company["name"], "Acme Corp", "{company}");
    let calls = client
        .read_resource(ReadResourceRequestParams::new(
            "dialbridge://accounts/acme/calls",
        ))
        .await
        .unwrap();
    let rmcp::model::ResourceContents::TextResourceContents { text, .. } = &calls.contents[0]
    else {
        panic!("text contents")
    };
    let calls: Value = serde_json::from_str(text).unwrap();
    assert!(!calls["items"].as_array().unwrap().is_empty(), "{calls}");
    client.cancel().await.unwrap();
    app.shutdown().await;
}
