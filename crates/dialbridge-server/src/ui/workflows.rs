//! Workflows: the list; a workflow's page with its YAML, versions and the diff between two, its
//! diagram, and the form that enables it for an account (generated from its config fields);
//! the editor, which saves a new version or shows every problem at its path, text kept.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use dialbridge_core::{AccountId, Definition, Error, WorkflowView};
use minijinja::{context, Value};
use serde::Deserialize;

use super::diagram;
use super::form::Posted;
use super::session::Session;
use super::view::render;
use super::UiError;
use crate::state::AppState;

/// A definition as the YAML an operator edits.
fn yaml(definition: &serde_json::Value) -> String {
    yaml_serde::to_string(definition).unwrap_or_else(|e| format!("# cannot show as YAML: {e}"))
}

#[derive(Deserialize)]
pub struct ListQuery {
    /// The key of a workflow to create: opens its editor.
    new: Option<String>,
}

/// `GET /ui/workflows`, or `?new=<key>` to start one.
pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<ListQuery>,
) -> Result<Response, UiError> {
    if let Some(key) = query
        .new
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        let key: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
        return Ok(Redirect::to(&format!("/ui/workflows/{key}/edit")).into_response());
    }
    let workflows = state.platform.workflows.list().await?;
    Ok(render(
        "workflows.html",
        session.page(
            "workflows",
            context! { workflows => Value::from_serialize(&workflows) },
        ),
    ))
}

#[derive(Deserialize)]
pub struct PageQuery {
    version: Option<i64>,
    /// Compare `from` with `to` (two versions).
    from: Option<i64>,
    to: Option<i64>,
    saved: Option<i64>,
}

/// `GET /ui/workflows/{key}`.
pub async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(key): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Response, UiError> {
    let mut notice = Value::from(());
    if let Some(version) = query.saved {
        notice = context! { kind => "ok", text => format!("Saved as version {version}.") };
    }
    show(&state, &session, &key, &query, notice, Value::from(())).await
}

async fn show(
    state: &AppState,
    session: &Session,
    key: &str,
    query: &PageQuery,
    notice: Value,
    enable: Value,
) -> Result<Response, UiError> {
    let workflows = &state.platform.workflows;
    let latest = workflows.get(key, None).await?;
    let shown = match query.version {
        Some(v) if v != latest.version => workflows.get(key, Some(v)).await?,
        _ => workflows.get(key, None).await?,
    };
    let definition = Definition::from_value(&shown.definition).map_err(Error::InvalidInput)?;
    let diff = match (query.from, query.to) {
        (Some(from), Some(to)) => {
            let a = workflows.get(key, Some(from)).await?;
            let b = workflows.get(key, Some(to)).await?;
            Some(
                context! { from, to, lines => line_diff(&yaml(&a.definition), &yaml(&b.definition)) },
            )
        }
        _ => None,
    };
    let config_fields: Vec<Value> = definition
        .config
        .iter()
        .map(|(name, field)| {
            context! {
                name,
                kind => field.kind.as_str(),
                required => field.required,
                description => field.description,
                default => field.default.as_ref().map(|d| d.to_string()),
            }
        })
        .collect();
    let accounts = state.platform.connections.accounts(None, Some(200)).await?;
    let account_ids: Vec<&str> = accounts
        .items
        .iter()
        .map(|a| a.account_id.as_str())
        .collect();
    let mut response = render(
        "workflow.html",
        session.page(
            "workflows",
            context! {
                key,
                latest => latest.version,
                shown => Value::from_serialize(&shown),
                yaml => yaml(&shown.definition),
                name => definition.name,
                trigger => definition.trigger.key,
                diagram => Value::from_safe_string(diagram::svg(&definition)),
                versions => (1..=latest.version).rev().collect::<Vec<_>>(),
                diff,
                config_fields,
                accounts => account_ids,
                notice,
                enable,
            },
        ),
    );
    if !enable.is_none() {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

/// `GET /ui/workflows/{key}/edit`: the latest version's YAML (or a skeleton for a new key).
pub async fn editor(
    State(state): State<AppState>,
    session: Session,
    Path(key): Path<String>,
) -> Result<Response, UiError> {
    let text = match state.platform.workflows.get(&key, None).await {
        Ok(WorkflowView { definition, .. }) => yaml(&definition),
        Err(Error::NotFound { .. }) => NEW_WORKFLOW.to_owned(),
        Err(e) => return Err(e.into()),
    };
    Ok(render(
        "editor.html",
        session.page("workflows", context! { key, text, problems => () }),
    ))
}

const NEW_WORKFLOW: &str = "name: My workflow\ntrigger:\n  type: api\nsteps:\n  - id: users\n    action: list_users\n    input: {}\n";

/// `POST /ui/workflows/{key}` `definition`: saves a new version, or shows the editor again with
/// the text as typed and every problem at its path.
pub async fn save(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Posted { session, form }: Posted,
) -> Result<Response, UiError> {
    let text = form.get("definition").unwrap_or_default().to_owned();
    let saved = state
        .platform
        .workflows
        .save(&key, text.as_bytes(), Some("application/yaml"))
        .await;
    match saved {
        Ok(version) => {
            let summary = serde_json::json!({ "version": version });
            session
                .record(&state, "workflow.put", format!("workflow/{key}"), summary)
                .await;
            Ok(Redirect::to(&format!("/ui/workflows/{key}?saved={version}")).into_response())
        }
        Err(e) => {
            let error = UiError::from(e);
            let mut problems = error.field_errors();
            if problems.is_empty() {
                problems.push((String::new(), error.message.clone()));
            }
            let problems: Vec<Value> = problems
                .into_iter()
                .map(|(path, message)| context! { path, message })
                .collect();
            let mut response = render(
                "editor.html",
                session.page("workflows", context! { key, text, problems }),
            );
            *response.status_mut() = error.status;
            Ok(response)
        }
    }
}

/// `POST /ui/workflows/{key}/enable` `account_id`, `config.<name>`…: enables it for the
/// account with that config.
pub async fn enable(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Posted { session, form }: Posted,
) -> Result<Response, UiError> {
    let account = form.get("account_id").unwrap_or_default().to_owned();
    let outcome = match AccountId::parse(&account) {
        Ok(id) => state
            .platform
            .workflows
            .enable(
                &id,
                &key,
                &form.json_object("config.", |field| {
                    form.get(&format!("type.{field}")).map(str::to_owned)
                }),
            )
            .await
            .map(|enabled| (id, enabled)),
        Err(e) => Err(e),
    };
    match outcome {
        Ok((id, enabled)) => {
            // The config's values may be credentials of the vendor's: only its field names.
            let fields: Vec<&String> = enabled
                .config
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
                .collect();
            let target = format!("account/{}/workflow/{key}", id.as_str());
            session
                .record(
                    &state,
                    "workflow.enable",
                    target,
                    serde_json::json!({ "config_fields": fields }),
                )
                .await;
            Ok(Redirect::to(&format!("/ui/accounts/{}", id.as_str())).into_response())
        }
        Err(e) => {
            let error = UiError::from(e);
            let enable = context! {
                errors => error.fields(),
                problem => error.message,
                kept => Value::from_serialize(form.kept()),
            };
            let query = PageQuery {
                version: None,
                from: None,
                to: None,
                saved: None,
            };
            show(&state, &session, &key, &query, Value::from(()), enable).await
        }
    }
}

/// Lines of `a` and `b` as `(sign, line)`: `-` only in `a`, `+` only in `b`, ` ` in both
/// (a longest common subsequence; definitions past 2,000 lines are shown whole, both sides).
fn line_diff(a: &str, b: &str) -> Vec<(char, String)> {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    if a.len() > 2000 || b.len() > 2000 {
        return a
            .iter()
            .map(|l| ('-', (*l).to_owned()))
            .chain(b.iter().map(|l| ('+', (*l).to_owned())))
            .collect();
    }
    // common[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut common = vec![vec![0u16; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push((' ', a[i].to_owned()));
            (i, j) = (i + 1, j + 1);
        } else if j < b.len() && (i == a.len() || common[i][j + 1] >= common[i + 1][j]) {
            out.push(('+', b[j].to_owned()));
            j += 1;
        } else {
            out.push(('-', a[i].to_owned()));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::line_diff;

    #[test]
    fn a_changed_line_is_removed_and_added() {
        let diff = line_diff("a\nb\nc", "a\nx\nc\nd");
        let signs: String = diff.iter().map(|(s, _)| *s).collect();
        assert_eq!(signs, " +- +");
        assert_eq!(diff[1], ('+', "x".to_owned()));
        assert_eq!(diff[2], ('-', "b".to_owned()));
    }
}
