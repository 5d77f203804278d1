//! Webhooks to the vendor: the endpoints, a form that creates one (its signing secret shown
//! once, then never again), and an endpoint's delivery log with attempts and answers, where a
//! test message is sent and a failed delivery queued again.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use dialbridge_core::{EndpointInput, VENDOR_EVENT_TYPES};
use minijinja::{context, Value};

use super::form::Posted;
use super::session::Session;
use super::view::render;
use super::UiError;
use crate::state::AppState;

/// `GET /ui/webhooks`.
pub async fn list(State(state): State<AppState>, session: Session) -> Result<Response, UiError> {
    show(&state, &session, Value::from(()), StatusCode::OK).await
}

async fn show(
    state: &AppState,
    session: &Session,
    outcome: Value,
    status: StatusCode,
) -> Result<Response, UiError> {
    let endpoints: Vec<Value> = state
        .platform
        .vendor_webhooks
        .endpoints()
        .await?
        .into_iter()
        // The secret was shown when the endpoint was made; the list never repeats it.
        .map(|e| context! { id => e.id, url => e.url, events => e.events, updated_at => Value::from_serialize(e.updated_at) })
        .collect();
    let mut response = render(
        "webhooks.html",
        session.page(
            "webhooks",
            context! { endpoints, event_types => VENDOR_EVENT_TYPES, outcome },
        ),
    );
    *response.status_mut() = status;
    Ok(response)
}

/// `POST /ui/webhooks` `id`, `url`, `events`…: creates or updates an endpoint; a new one's
/// secret is shown this once.
pub async fn put(
    State(state): State<AppState>,
    Posted { session, form }: Posted,
) -> Result<Response, UiError> {
    let id = form.get("id").unwrap_or_default().trim().to_owned();
    let input = EndpointInput {
        url: form.text("url"),
        events: Some(form.all("events")),
    };
    match state
        .platform
        .vendor_webhooks
        .put_endpoint(&id, input)
        .await
    {
        Ok((endpoint, created)) => {
            let summary = serde_json::json!({ "url": endpoint.url, "events": endpoint.events, "created": created });
            let target = format!("webhook_endpoint/{}", endpoint.id);
            session
                .record(&state, "webhook_endpoint.put", target, summary)
                .await;
            let secret = created.then_some(endpoint.secret);
            let outcome = context! { saved => endpoint.id, secret };
            show(&state, &session, outcome, StatusCode::OK).await
        }
        Err(e) => {
            let error = UiError::from(e);
            let outcome = context! {
                errors => error.fields(),
                problem => error.message.clone(),
                kept => Value::from_serialize(form.kept()),
            };
            show(&state, &session, outcome, error.status).await
        }
    }
}

/// `GET /ui/webhooks/{id}`: the endpoint's latest deliveries.
pub async fn deliveries(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    show_endpoint(&state, &session, &id, Value::from(())).await
}

/// `POST /ui/webhooks/{id}/test`: queues a `webhook.test` message to the endpoint.
pub async fn send_test(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> Result<Response, UiError> {
    let notice = match state.platform.vendor_webhooks.send_test(&id).await {
        Ok(delivery) => {
            let summary = serde_json::json!({ "delivery_id": delivery.id });
            let target = format!("webhook_endpoint/{id}");
            session
                .record(&state, "webhook_endpoint.test", target, summary)
                .await;
            context! { kind => "ok", text => format!("Test message {} queued.", delivery.id) }
        }
        Err(e) => context! { kind => "bad", text => UiError::from(e).message },
    };
    show_endpoint(&state, &session, &id, notice).await
}

/// `POST /ui/webhooks/{id}/deliveries/{delivery_id}/retry`: queues a failed delivery again.
pub async fn retry(
    State(state): State<AppState>,
    Path((id, delivery_id)): Path<(String, String)>,
    Posted { session, .. }: Posted,
) -> Result<Response, UiError> {
    let webhooks = &state.platform.vendor_webhooks;
    let notice = match webhooks.retry_delivery(&id, &delivery_id).await {
        Ok(delivery) => {
            let summary = serde_json::json!({ "attempts": delivery.attempts });
            let target = format!("webhook_delivery/{delivery_id}");
            session
                .record(&state, "webhook_delivery.retry", target, summary)
                .await;
            context! { kind => "ok", text => format!("Delivery {delivery_id} queued again.") }
        }
        Err(e) => context! { kind => "bad", text => UiError::from(e).message },
    };
    show_endpoint(&state, &session, &id, notice).await
}

async fn show_endpoint(
    state: &AppState,
    session: &Session,
    id: &str,
    notice: Value,
) -> Result<Response, UiError> {
    let webhooks = &state.platform.vendor_webhooks;
    let endpoint = webhooks.endpoint(id).await?;
    let deliveries = webhooks.deliveries(id, Some(100)).await?;
    Ok(render(
        "webhook.html",
        session.page(
            "webhooks",
            context! {
                id => endpoint.id,
                url => endpoint.url,
                events => endpoint.events,
                deliveries => Value::from_serialize(&deliveries),
                notice,
            },
        ),
    ))
}
