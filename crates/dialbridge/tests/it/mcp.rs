//! MCP with the real executable: `dialbridge serve --dev` holds the accounts; `dialbridge mcp
//! --account acme` serves one of them over stdio from the same database, to rmcp's client and
//! to the official Python SDK (`mcp`); the Python SDK also talks to the server's `/mcp` with
//! tokens — list and call tools, see the SMS at the emulator, refusals for invalid input, a
//! missing scope, a revoked token and another account's resource, a workflow as a tool.

use std::path::Path;
use std::process::Stdio;

use reqwest::Method;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use rmcp::ServiceExt;
use serde_json::{json, Value};
use tokio::process::Child;

use crate::support::{dialbridge, free_port, ready, BIN};

#[path = "../../../dialpad-emulator/tests/it/support/python_sdk.rs"]
#[allow(dead_code)] // shared with the emulator's tests; only `mcp_check` is used here
mod python_sdk;

const KEY: &str = "dialbridge-dev";
const BLAKE: &str = "4785074604081152";

struct Server {
    base: String,
    database_url: String,
    _child: Child,
}

/// `serve --dev` over a SQLite file in `dir` (its master key generated beside it), once healthy.
async fn serve(dir: &Path) -> Server {
    let listen = format!("127.0.0.1:{}", free_port());
    let database_url = format!("sqlite://{}/dialbridge.db", dir.display());
    let child = dialbridge(&[
        "serve",
        "--dev",
        "--listen",
        &listen,
        "--database-url",
        &database_url,
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("dialbridge starts");
    let base = format!("http://{listen}");
    assert!(
        ready(&format!("{base}/healthz")).await,
        "dialbridge did not become healthy"
    );
    Server {
        base,
        database_url,
        _child: child,
    }
}

impl Server {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn ok(&self, method: Method, path: &str, body: Value) -> Value {
        let (status, answer) = self.call(method, path, Some(body)).await;
        assert!((200..300).contains(&status), "{path}: {status} {answer}");
        answer
    }

    /// `acme` with a company-admin API key of the emulator's first company (every tool).
    async fn connect_with_api_key(&self) {
        let (_, companies) = self
            .call(Method::GET, "/emulator/_control/companies", None)
            .await;
        let key = self
            .ok(
                Method::POST,
                "/emulator/_control/api-keys",
                json!({ "company_id": companies[0]["id"] }),
            )
            .await;
        self.ok(Method::PUT, "/api/v1/accounts/acme", json!({}))
            .await;
        let connection =
            json!({ "auth_type": "api_key", "api_key": key["api_key"], "environment": "custom" });
        self.ok(Method::PUT, "/api/v1/accounts/acme/connection", connection)
            .await;
    }

    /// `plain` through OAuth, with no scope beyond the default access (no calls:list).
    async fn connect_plain_with_oauth(&self) {
        self.ok(Method::PUT, "/api/v1/app/scopes", json!({ "scopes": [] }))
            .await;
        self.ok(Method::PUT, "/api/v1/accounts/plain", json!({}))
            .await;
        let link = self
            .ok(
                Method::POST,
                "/api/v1/accounts/plain/connect",
                json!({ "environment": "custom", "redirect_url": "https://vendor.example/done" }),
            )
            .await;
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let to_dialpad = browser
            .get(link["connect_url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        let authorize = to_dialpad.headers()["location"]
            .to_str()
            .unwrap()
            .to_owned();
        let consent = self
            .ok(
                Method::POST,
                "/emulator/_control/authorize",
                json!({ "url": authorize, "decision": "approve" }),
            )
            .await;
        let done = browser
            .get(consent["location"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        let back = done.headers()["location"].to_str().unwrap();
        assert!(back.contains("status=connected"), "{back}");
    }

    async fn token(&self, account: &str) -> Value {
        self.ok(
            Method::POST,
            &format!("/api/v1/accounts/{account}/mcp-tokens"),
            json!({}),
        )
        .await
    }

    /// The SMS requests the emulator received since the last look.
    async fn sms_at_dialpad(&self) -> Vec<Value> {
        let (_, log) = self
            .call(Method::GET, "/emulator/_control/requests", None)
            .await;
        self.call(Method::DELETE, "/emulator/_control/requests", None)
            .await;
        log.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["path"] == "/api/v2/sms")
            .cloned()
            .collect()
    }

    /// `dialbridge mcp --account <account>` on this server's database.
    fn stdio_args(&self, account: &str) -> Vec<String> {
        [
            "mcp",
            "--account",
            account,
            "--database-url",
            &self.database_url,
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rmcp_over_stdio_runs_the_accounts_tools_from_the_servers_database() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path()).await;
    server.connect_with_api_key().await;

    let args = server.stdio_args("acme");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let transport = TokioChildProcess::new(dialbridge(&args)).expect("dialbridge mcp starts");
    let client = ().serve(transport).await.expect("initialize over stdio");
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for name in ["list_users", "send_sms", "list_calls", "http_request"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }

    server.sms_at_dialpad().await;
    let mut request = CallToolRequestParams::new("send_sms");
    request.arguments =
        json!({ "user_id": BLAKE, "to_numbers": ["+14155550170"], "text": "Over stdio" })
            .as_object()
            .cloned();
    let result = client.call_tool(request).await.unwrap();
    assert_eq!(result.is_error, Some(false), "{result:?}");
    let sms = server.sms_at_dialpad().await;
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert!(sms[0]["body"].as_str().unwrap().contains("Over stdio"));

    let mut request = CallToolRequestParams::new("create_contact");
    request.arguments = json!({ "first_name": 7 }).as_object().cloned();
    let result = client.call_tool(request).await.unwrap();
    assert_eq!(result.is_error, Some(true), "{result:?}");
    let text = &result.content[0].as_text().unwrap().text;
    let error: Value = serde_json::from_str(text).unwrap();
    assert_eq!(error["error"]["code"], "invalid_input", "{error}");
    client.cancel().await.unwrap();

    // An unknown account is refused before the handshake, with a message.
    let output = dialbridge(&[
        "mcp",
        "--account",
        "nobody",
        "--database-url",
        &server.database_url,
    ])
    .stdin(Stdio::null())
    .output()
    .await
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("account 'nobody' was not found"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_python_mcp_sdk_over_http_and_stdio() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path()).await;
    server.connect_with_api_key().await;
    server.connect_plain_with_oauth().await;
    let workflow = json!({
        "name": "Text a customer",
        "trigger": { "type": "api" },
        "steps": [{ "id": "sms", "action": "send_sms", "input": { "user_id": "{{ event.user_id }}", "to_numbers": ["{{ event.to }}"], "text": "{{ event.text }}" } }],
    });
    server
        .ok(Method::PUT, "/api/v1/workflows/text-customer", workflow)
        .await;
    server
        .ok(
            Method::PUT,
            "/api/v1/accounts/acme/workflows/text-customer",
            json!({ "config": {} }),
        )
        .await;
    let acme = server.token("acme").await;
    let plain = server.token("plain").await;
    let url = format!("--url={}/mcp", server.base);
    let sms = [format!("--user-id={BLAKE}"), "--to=+14155550180".to_owned()];
    let owned = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    server.sms_at_dialpad().await;
    let mut args = vec![
        url.clone(),
        format!("--token={}", acme["token"].as_str().unwrap()),
    ];
    args.extend(sms.clone());
    args.extend(owned(&["--text=From Python", "--workflow=text-customer"]));
    args.extend(owned(&[
        "tools",
        "list-users",
        "send-sms",
        "invalid-input",
        "workflow",
        "resources",
    ]));
    let summary = python_sdk::mcp_check(&args).await;
    let scenarios = &summary["scenarios"];
    assert_eq!(summary["server"], "dialbridge");
    assert_eq!(
        scenarios["tools"]["list_users"]["read_only"], true,
        "{summary}"
    );
    assert_eq!(
        scenarios["tools"]["delete_contact"]["destructive"], true,
        "{summary}"
    );
    assert!(
        scenarios["tools"]["run_workflow_text-customer"].is_object(),
        "{summary}"
    );
    assert_eq!(scenarios["list-users"]["is_error"], false, "{summary}");
    assert_eq!(
        scenarios["list-users"]["json"]["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(scenarios["send-sms"]["is_error"], false, "{summary}");
    assert_eq!(scenarios["invalid-input"]["is_error"], true);
    assert_eq!(
        scenarios["invalid-input"]["json"]["error"]["code"],
        "invalid_input"
    );
    assert_eq!(
        scenarios["workflow"]["json"]["execution"]["status"], "succeeded",
        "{summary}"
    );
    assert_eq!(
        scenarios["resources"],
        json!([
            "dialbridge://accounts/acme/company",
            "dialbridge://accounts/acme/users",
            "dialbridge://accounts/acme/calls"
        ])
    );
    // One SMS from the tool and one from the workflow reached Dialpad.
    assert_eq!(server.sms_at_dialpad().await.len(), 2);

    // Another account's token: its own scopes, and none of acme's resources.
    let mut args = vec![
        url.clone(),
        format!("--token={}", plain["token"].as_str().unwrap()),
    ];
    args.extend(owned(&["tools", "missing-scope"]));
    let summary = python_sdk::mcp_check(&args).await;
    assert!(
        summary["scenarios"]["tools"].get("list_calls").is_none(),
        "{summary}"
    );
    assert_eq!(
        summary["scenarios"]["missing-scope"]["json"]["error"]["code"],
        "missing_scope"
    );
    let mut args = vec![
        url.clone(),
        format!("--token={}", plain["token"].as_str().unwrap()),
    ];
    args.extend(owned(&[
        "--uri=dialbridge://accounts/acme/users",
        "read",
        "refused",
    ]));
    let summary = python_sdk::mcp_check(&args).await;
    assert!(
        summary["error"].as_str().unwrap().contains("not found"),
        "{summary}"
    );

    // A revoked token is refused.
    let path = format!(
        "/api/v1/accounts/plain/mcp-tokens/{}",
        plain["id"].as_str().unwrap()
    );
    assert_eq!(server.call(Method::DELETE, &path, None).await.0, 204);
    let mut args = vec![
        url.clone(),
        format!("--token={}", plain["token"].as_str().unwrap()),
    ];
    args.extend(owned(&["refused"]));
    let summary = python_sdk::mcp_check(&args).await;
    assert!(summary["error"].is_string(), "{summary}");

    // Over stdio, the executable started by the SDK.
    let mut command = vec![BIN.to_owned()];
    command.extend(server.stdio_args("acme"));
    let mut args = vec![format!("--stdio={}", json!(command))];
    args.extend(sms);
    args.extend(owned(&["--text=Python over stdio", "tools", "send-sms"]));
    let summary = python_sdk::mcp_check(&args).await;
    assert_eq!(
        summary["scenarios"]["send-sms"]["is_error"], false,
        "{summary}"
    );
    let sent = server.sms_at_dialpad().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0]["body"]
        .as_str()
        .unwrap()
        .contains("Python over stdio"));
}
