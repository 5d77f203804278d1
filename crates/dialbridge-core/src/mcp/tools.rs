//! The tools an MCP client sees for an account, and calling them. One tool per catalog action
//! the connection's scopes allow, named by the action key, with the action's input schema, a
//! description written for a model and hints (read-only, destructive, idempotent); one
//! `run_workflow_<key>` per workflow with an `api` trigger enabled for the account. A call runs
//! through `Actions::run` (validation, scopes, throttle, retries, token refresh, metrics) or
//! `Executions::start_api`, exactly as the HTTP API's.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Grant, Mcp};
use crate::actions::{self, ActionInfo};
use crate::connections::Account;
use crate::error::{Error, Resource, Result};
use crate::workflows::{check_key, Definition};

/// Workflow tools are named `run_workflow_<workflow key>`.
pub const WORKFLOW_TOOL_PREFIX: &str = "run_workflow_";
/// A list tool answers at most this many items a call (`limit`, and `max_items` with `all`);
/// the cursor in the answer asks for more.
pub const MAX_LIST_ITEMS: u64 = 100;
/// How long a workflow tool waits for the execution to finish before answering with its id.
const OUTCOME_WAIT: Duration = Duration::from_secs(5);

/// What a tool does to the world, as MCP's annotations say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hints {
    /// It only reads.
    pub read_only: bool,
    /// It may delete or end something (meaningful when not read-only).
    pub destructive: bool,
    /// Calling it again with the same input changes nothing more.
    pub idempotent: bool,
}

/// One tool as a client sees it.
#[derive(Debug, Clone)]
pub struct ToolInfo {
    pub name: String,
    pub title: String,
    /// For a model: what it does, what it needs, what it returns, Dialpad's limits.
    pub description: String,
    /// JSON Schema of the arguments.
    pub input_schema: Value,
    pub hints: Hints,
}

const READ: Hints = Hints {
    read_only: true,
    destructive: false,
    idempotent: true,
};
const CREATE: Hints = Hints {
    read_only: false,
    destructive: false,
    idempotent: false,
};
const UPDATE: Hints = Hints {
    read_only: false,
    destructive: false,
    idempotent: true,
};
const DESTROY: Hints = Hints {
    read_only: false,
    destructive: true,
    idempotent: true,
};
/// `http_request` and workflows: anything may happen.
const ANY: Hints = Hints {
    read_only: false,
    destructive: true,
    idempotent: false,
};

/// Each action's effect; an action missing here is not offered (a test holds every action of
/// the catalog to an entry).
fn hints_of(key: &str) -> Option<Hints> {
    Some(match key {
        "list_calls" | "get_call" | "list_channels" | "get_channel" | "list_contacts"
        | "get_contact" | "list_users" | "get_user" => READ,
        "add_participant" | "transfer_call" | "create_channel" | "create_contact" | "send_sms"
        | "create_user" => CREATE,
        "update_contact" | "update_user" => UPDATE,
        "hangup_call" | "delete_channel" | "delete_contact" => DESTROY,
        "http_request" => ANY,
        _ => return None,
    })
}

/// Whether `name` is a tool dialbridge can offer (an action key, or `run_workflow_` and a
/// well-formed workflow key); otherwise what is wrong, for a person.
pub(crate) fn check_tool_name(name: &str) -> std::result::Result<(), String> {
    if let Some(key) = name.strip_prefix(WORKFLOW_TOOL_PREFIX) {
        return check_key(key).map_err(|_| {
            format!("'{name}' names no workflow: {WORKFLOW_TOOL_PREFIX} is followed by a workflow key (1 to 64 of a-z, 0-9, '_' or '-')")
        });
    }
    if actions::action(name).is_some() {
        return Ok(());
    }
    let keys: Vec<&str> = actions::catalog().iter().map(|a| a.key).collect();
    let hint = crate::suggest::closest(name, &keys)
        .map(|k| format!("; did you mean '{k}'?"))
        .unwrap_or_default();
    Err(format!(
        "'{name}' is no action key nor {WORKFLOW_TOOL_PREFIX}<workflow key>{hint}"
    ))
}

impl Mcp {
    /// The tools the grant sees: the actions the account's connection may run, then its
    /// enabled `api` workflows, less those a narrowed token does not name.
    pub async fn tools(&self, grant: &Grant) -> Result<Vec<ToolInfo>> {
        let account = self.actions.existing_account(&grant.account_id).await?;
        let mut tools: Vec<ToolInfo> = actions::catalog()
            .into_iter()
            .filter(|action| actions::scopes_allow(&account, &action.required_scopes))
            .filter_map(action_tool)
            .collect();
        tools.extend(self.workflow_tools(&account).await?);
        tools.retain(|tool| grant.allows(&tool.name));
        Ok(tools)
    }

    /// Calls the tool `name` with `input` for the grant's account: the action's output, or
    /// for a workflow the execution (with its outcome when it finished within a few seconds).
    /// Counted in the metrics by tool and outcome.
    pub async fn call_tool(&self, grant: &Grant, name: &str, input: Value) -> Result<Value> {
        let result = self.call_unmetered(grant, name, input).await;
        // Labels stay few: a name that is no tool of this grant is counted as `unknown`.
        let known = !matches!(
            result,
            Err(Error::NotFound {
                resource: Resource::McpTool,
                ..
            })
        );
        let outcome = result.as_ref().map_or_else(Error::code, |_| "ok");
        self.shared
            .metrics()
            .mcp_tool_call(if known { name } else { "unknown" }, outcome);
        result
    }

    async fn call_unmetered(&self, grant: &Grant, name: &str, input: Value) -> Result<Value> {
        let input = match input {
            Value::Null => json!({}),
            Value::Object(_) => input,
            _ => return Err(Error::invalid("arguments", "must be an object")),
        };
        if !grant.allows(name) {
            return Err(self.unknown_tool(grant, name).await);
        }
        if let Some(key) = name.strip_prefix(WORKFLOW_TOOL_PREFIX) {
            return self.run_workflow(grant, name, key, input).await;
        }
        let Some(action) = actions::action(name).filter(|a| hints_of(a.key).is_some()) else {
            return Err(self.unknown_tool(grant, name).await);
        };
        if action.input_schema["properties"].get("limit").is_some() {
            check_list_bounds(&input)?;
        }
        let input = bounded(input);
        self.actions
            .run(&grant.account_id, action.key, &input)
            .await
    }

    /// Starts the workflow and waits up to `OUTCOME_WAIT` for it to finish.
    async fn run_workflow(
        &self,
        grant: &Grant,
        name: &str,
        key: &str,
        input: Value,
    ) -> Result<Value> {
        if self.api_workflow(key).await?.is_none() {
            return Err(self.unknown_tool(grant, name).await);
        }
        let id = match self
            .executions
            .start_api(&grant.account_id, key, input)
            .await
        {
            Err(Error::NotEnabled { .. }) => return Err(self.unknown_tool(grant, name).await),
            started => started?,
        };
        let deadline = Instant::now() + OUTCOME_WAIT;
        let mut pause = Duration::from_millis(25);
        loop {
            let execution = self.executions.get(&id).await?;
            if execution.status.is_finished() {
                return Ok(json!({ "execution_id": id, "finished": true, "execution": execution }));
            }
            if Instant::now() >= deadline {
                return Ok(json!({
                    "execution_id": id,
                    "finished": false,
                    "status": execution.status,
                    "message": "the workflow is still running; it goes on without waiting for you",
                }));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(400));
        }
    }

    /// `not_found` for a tool the grant does not see, naming the closest one it does.
    async fn unknown_tool(&self, grant: &Grant, name: &str) -> Error {
        let visible = match self.tools(grant).await {
            Ok(tools) => tools,
            Err(e) => return e,
        };
        let names: Vec<&str> = visible.iter().map(|t| t.name.as_str()).collect();
        Error::unknown(Resource::McpTool, name, &names)
    }

    /// The account's enabled workflows whose trigger is `api`, as tools.
    async fn workflow_tools(&self, account: &Account) -> Result<Vec<ToolInfo>> {
        let enabled = self
            .workflows
            .list_enablements(Some(&account.account_id), None)
            .await?;
        let mut tools = Vec::new();
        for enablement in enabled {
            if let Some(definition) = self.api_workflow(&enablement.workflow_key).await? {
                tools.push(workflow_tool(&enablement.workflow_key, &definition));
            }
        }
        Ok(tools)
    }

    /// The latest definition of workflow `key` when its trigger is `api`.
    async fn api_workflow(&self, key: &str) -> Result<Option<Definition>> {
        let Some(record) = self.workflows.get_workflow(key, None).await? else {
            return Ok(None);
        };
        let definition = Definition::from_value(&record.definition).map_err(|problems| {
            Error::Internal(format!(
                "stored workflow {key} does not parse: {problems:?}"
            ))
        })?;
        Ok((definition.trigger.key == "api").then_some(definition))
    }
}

fn action_tool(action: ActionInfo) -> Option<ToolInfo> {
    let hints = hints_of(action.key)?;
    let list = action.input_schema["properties"].get("limit").is_some();
    let description = describe_action(&action, list);
    let mut input_schema = action.input_schema;
    if list {
        input_schema["properties"]["limit"]["maximum"] = json!(MAX_LIST_ITEMS);
        input_schema["properties"]["max_items"]["maximum"] = json!(MAX_LIST_ITEMS);
        input_schema["properties"]["max_items"]["description"] = json!(format!(
            "With all: stop after this many items (at most and by default {MAX_LIST_ITEMS})."
        ));
    }
    Some(ToolInfo {
        name: action.key.to_owned(),
        title: action.name.to_owned(),
        description,
        input_schema,
        hints,
    })
}

/// What it does, what it needs, what it returns, Dialpad's limit.
fn describe_action(action: &ActionInfo, list: bool) -> String {
    let mut text = action.description.to_owned();
    let required: Vec<&str> = action.input_schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if required.is_empty() {
        text.push_str(" Needs no argument.");
    } else {
        text.push_str(&format!(" Needs: {}.", required.join(", ")));
    }
    if action.operation.is_none() {
        text.push_str(" Returns {status, headers, body}: Dialpad's answer, whatever its status.");
    } else if list {
        text.push_str(&format!(
            " Returns {{items, cursor}}: call again with `cursor` for the next page (at most {MAX_LIST_ITEMS} items a call; `all: true` follows cursors up to `max_items`)."
        ));
    } else {
        text.push_str(" Returns Dialpad's JSON answer.");
    }
    let per_minute = action.operation.as_ref().and_then(|operation| {
        let id = operation["operation_id"].as_str()?;
        dialpad_spec::spec().operation(id)?.rate_limit_per_minute
    });
    if let Some(per_minute) = per_minute {
        text.push_str(&format!(" Dialpad allows {per_minute} per minute."));
    }
    text.push_str(" dialbridge keeps to Dialpad's rate limits (it waits for a slot) and retries Dialpad's 429 and 5xx answers; an error names its code and what to fix.");
    text
}

fn workflow_tool(key: &str, definition: &Definition) -> ToolInfo {
    let mut description = format!("Runs the workflow '{}'", definition.name);
    if let Some(what) = &definition.description {
        description.push_str(&format!(": {what}"));
    }
    description.push_str(&format!(
        ". The arguments are the workflow's input (its steps see them as `event`). Returns {{execution_id, finished}} and, when it finished within {} s, the execution with each step's output or error.",
        OUTCOME_WAIT.as_secs()
    ));
    ToolInfo {
        name: format!("{WORKFLOW_TOOL_PREFIX}{key}"),
        title: definition.name.clone(),
        description,
        input_schema: json!({ "type": "object", "additionalProperties": true }),
        hints: ANY,
    }
}

/// A list tool's `limit` and `max_items` stay within `MAX_LIST_ITEMS`.
fn check_list_bounds(input: &Value) -> Result<()> {
    let problems: Vec<_> = ["limit", "max_items"]
        .into_iter()
        .filter(|field| input[field].as_u64().is_some_and(|n| n > MAX_LIST_ITEMS))
        .map(|field| {
            crate::error::FieldError::new(
                field,
                format!("must be at most {MAX_LIST_ITEMS} here; use the cursor for more"),
            )
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidInput(problems))
    }
}

/// `all: true` without `max_items` stops at `MAX_LIST_ITEMS`.
fn bounded(mut input: Value) -> Value {
    if input["all"] == json!(true) && input.get("max_items").is_none() {
        input["max_items"] = json!(MAX_LIST_ITEMS);
    }
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_hints_and_a_description_for_a_model() {
        for action in actions::catalog() {
            let tool = action_tool(action.clone())
                .unwrap_or_else(|| panic!("{} has no hints", action.key));
            assert!(tool.description.contains("Returns"), "{}", tool.description);
            assert!(
                !tool.hints.read_only || !tool.hints.destructive,
                "{}",
                action.key
            );
        }
        assert_eq!(hints_of("list_users"), Some(READ));
        assert_eq!(hints_of("delete_contact"), Some(DESTROY));
        assert_eq!(hints_of("hangup_call"), Some(DESTROY));
        assert_eq!(hints_of("send_sms"), Some(CREATE));
    }

    #[test]
    fn list_tools_are_bounded() {
        let tool = action_tool(actions::action("list_users").unwrap()).unwrap();
        assert_eq!(
            tool.input_schema["properties"]["limit"]["maximum"],
            json!(100)
        );
        assert!(tool.description.contains("cursor"));
        assert!(check_list_bounds(&json!({"limit": 100})).is_ok());
        assert!(check_list_bounds(&json!({"limit": 101})).is_err());
        assert_eq!(bounded(json!({"all": true}))["max_items"], json!(100));
        let sms = action_tool(actions::action("send_sms").unwrap()).unwrap();
        assert!(
            sms.description.contains("100 per minute"),
            "{}",
            sms.description
        );
    }
}
