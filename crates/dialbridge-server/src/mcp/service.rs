//! The MCP server (rmcp's `ServerHandler`): tools, tool calls and resources, each answered by
//! the domain's `Mcp` part for the request's grant — the token's (left in the HTTP request by
//! `auth.rs`, looked up on every request) or the stdio command's. A failed call is a tool
//! error (`isError: true`) carrying the HTTP API's error body, so a model sees the same code,
//! message and details a program would.

use dialbridge_core::{Error, Grant, Platform, ResourceInfo, ToolInfo};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ServerCapabilities,
    ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{json, Value};

use crate::error::ApiError;

const INSTRUCTIONS: &str = "Tools run Dialpad operations for one connected account (named by the \
action: list_users, send_sms, …) and its workflows (run_workflow_<key>). Arguments follow each \
tool's input schema; a refused call answers {\"error\": {code, message, details}}: fix what \
`details` names and call again. Lists answer {items, cursor}: pass the cursor for more.";

/// One MCP server: for the stdio command a fixed grant; over HTTP, each request's token.
#[derive(Clone)]
pub struct DialbridgeMcp {
    platform: Platform,
    fixed: Option<Grant>,
}

impl DialbridgeMcp {
    /// Over HTTP: each request brings its grant.
    pub fn per_request(platform: Platform) -> Self {
        DialbridgeMcp {
            platform,
            fixed: None,
        }
    }

    /// Over stdio: one grant for the life of the process.
    pub fn for_grant(platform: Platform, grant: Grant) -> Self {
        DialbridgeMcp {
            platform,
            fixed: Some(grant),
        }
    }

    fn grant(&self, context: &RequestContext<RoleServer>) -> Result<Grant, McpError> {
        if let Some(grant) = &self.fixed {
            return Ok(grant.clone());
        }
        context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Grant>())
            .cloned()
            .ok_or_else(|| McpError::invalid_request("no MCP token came with the request", None))
    }
}

impl ServerHandler for DialbridgeMcp {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(
                Implementation::new("dialbridge", env!("CARGO_PKG_VERSION"))
                    .with_title("dialbridge: Dialpad for AI agents"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let grant = self.grant(&context)?;
        let tools = self
            .platform
            .mcp
            .tools(&grant)
            .await
            .map_err(protocol_error)?;
        Ok(ListToolsResult::with_all_items(
            tools.into_iter().map(tool).collect(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let grant = self.grant(&context)?;
        let input = request.arguments.map_or(Value::Null, Value::Object);
        let result = match self
            .platform
            .mcp
            .call_tool(&grant, &request.name, input)
            .await
        {
            Ok(output) => CallToolResult::success(vec![ContentBlock::text(output.to_string())]),
            Err(e) => CallToolResult::structured_error(error_body(e)),
        };
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let grant = self.grant(&context)?;
        let resources = self
            .platform
            .mcp
            .resources(&grant)
            .await
            .map_err(protocol_error)?;
        Ok(ListResourcesResult::with_all_items(
            resources.into_iter().map(resource).collect(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let grant = self.grant(&context)?;
        let contents = self
            .platform
            .mcp
            .read_resource(&grant, &request.uri)
            .await
            .map_err(protocol_error)?;
        let text = ResourceContents::text(contents.to_string(), request.uri)
            .with_mime_type("application/json");
        Ok(ReadResourceResult::new(vec![text]).into())
    }
}

fn tool(info: ToolInfo) -> Tool {
    let schema = match info.input_schema {
        Value::Object(schema) => schema,
        _ => serde_json::Map::new(),
    };
    let annotations = ToolAnnotations::with_title(info.title.clone())
        .read_only(info.hints.read_only)
        .destructive(info.hints.destructive)
        .idempotent(info.hints.idempotent)
        .open_world(true);
    Tool::new(info.name, info.description, schema)
        .with_title(info.title)
        .with_annotations(annotations)
}

fn resource(info: ResourceInfo) -> Resource {
    Resource::new(info.uri, info.name)
        .with_title(info.title)
        .with_description(info.description)
        .with_mime_type("application/json")
}

/// The HTTP API's error body for `e`: the same code, message (with the route that fixes it)
/// and details.
fn error_body(e: Error) -> Value {
    body_of(&ApiError::from(e))
}

fn body_of(api: &ApiError) -> Value {
    let mut error = json!({ "code": api.code, "message": api.message });
    if let Some(details) = &api.details {
        error["details"] = details.clone();
    }
    json!({ "error": error })
}

/// A failure outside a tool call (listing, reading a resource) as a JSON-RPC error whose data
/// is the HTTP API's error body.
fn protocol_error(e: Error) -> McpError {
    let api = ApiError::from(e);
    let body = body_of(&api);
    let message = api.message;
    match api.code {
        "not_found" => McpError::resource_not_found(message, Some(body)),
        _ if api.status.is_server_error() => McpError::internal_error(message, Some(body)),
        _ => McpError::invalid_request(message, Some(body)),
    }
}
