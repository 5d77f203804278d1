//! One access line per request, under the target `dialbridge::access`: method, route template,
//! status and time to the answer's head, at `info` (`warn` for a 5xx). A request whose caller
//! went away before its answer gets a line too, with no status, so an abandoned request is
//! seen rather than silently missing. Each answer is also counted in
//! `dialbridge_http_requests_total` (route template, method, status).
//!
//! The line names the route template, never the raw URI: connect tokens, OAuth codes and
//! states travel in paths and queries. It is a single event and no span: a span per request
//! cost about as much again as the line itself (BENCHMARKS.md, *The access line*).
//! `RUST_LOG=info,dialbridge::access=off` turns the lines off.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use dialbridge_core::HttpLabels;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::state::AppState;

/// Wraps every route of the router it is layered on (per route: only there is the route
/// template known).
#[derive(Clone)]
pub struct AccessLogLayer {
    state: AppState,
}

impl AccessLogLayer {
    /// Counts answers in `state`'s metrics.
    pub fn new(state: AppState) -> Self {
        AccessLogLayer { state }
    }
}

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> AccessLog<S> {
        AccessLog {
            inner,
            state: self.state.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AccessLog<S> {
    inner: S,
    state: AppState,
}

impl<S> Service<Request> for AccessLog<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Answer<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let line = Line {
            method: request.method().clone(),
            route: request.extensions().get::<MatchedPath>().cloned(),
            started: Instant::now(),
            state: self.state.clone(),
        };
        Answer {
            inner: self.inner.call(request),
            line: Some(line),
        }
    }
}

pin_project! {
    /// The route's answer; writes the line when it is ready, or when it is dropped unanswered.
    pub struct Answer<F> {
        #[pin]
        inner: F,
        line: Option<Line>,
    }

    impl<F> PinnedDrop for Answer<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(line) = this.project().line.take() {
                line.abandoned();
            }
        }
    }
}

impl<F, E> Future for Answer<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let (Some(line), Ok(response)) = (this.line.take(), &result) {
            line.answered(response.status().as_u16());
        }
        Poll::Ready(result)
    }
}

/// What the line says about the request.
struct Line {
    method: Method,
    route: Option<MatchedPath>,
    started: Instant,
    /// Where the answer is counted.
    state: AppState,
}

impl Line {
    fn route(&self) -> &str {
        self.route.as_ref().map_or("unmatched", MatchedPath::as_str)
    }

    fn micros(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn answered(self, status: u16) {
        let (method, route, latency_us) = (self.method.as_str(), self.route(), self.micros());
        if status >= 500 {
            tracing::warn!(target: "dialbridge::access", %method, %route, status, latency_us, "answered");
        } else {
            tracing::info!(target: "dialbridge::access", %method, %route, status, latency_us, "answered");
        }
        self.state.platform.metrics().http_request(HttpLabels {
            route: route.to_owned(),
            method: method.to_owned(),
            status,
        });
    }

    fn abandoned(self) {
        let (method, route, latency_us) = (self.method.as_str(), self.route(), self.micros());
        tracing::info!(
            target: "dialbridge::access",
            %method,
            %route,
            latency_us,
            "abandoned: the caller went away before the answer"
        );
    }
}
