//! Route layers that look at each request before its route runs. Most requests pass at once,
//! and the route is called as it is: nothing cloned, nothing boxed. The few that must wait for
//! something first (a database lookup, or a record to write once the route has answered) take
//! the route along into a boxed future. The API-key check (`auth`) and the audit log's
//! recording (`audit`) are such layers. `middleware::from_fn` would clone the route's stack of
//! boxes and box its answer on every request (BENCHMARKS.md, *The key check and the audit
//! layer as tower layers*).

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use futures::future::{BoxFuture, Either};
use tower::util::BoxService;
use tower::{Layer, Service, ServiceExt};

/// The route, for a request that waited.
pub(crate) type Route = BoxService<Request, Response, Infallible>;

/// What a waiting request does, given the route to call when it is ready.
pub(crate) type Wait = Box<dyn FnOnce(Request, Route) -> BoxFuture<'static, Response> + Send>;

/// What a gate decides about a request.
pub(crate) enum Checked {
    /// Call the route now.
    Pass(Request),
    /// Wait for something first, then do with the route what the closure says.
    Wait(Request, Wait),
}

/// What a gated layer checks.
pub(crate) trait Gate: Clone + Send + 'static {
    fn check(&self, request: Request) -> Checked;
}

/// A `Gate` as a layer on routes.
#[derive(Clone)]
pub(crate) struct GateLayer<G>(pub(crate) G);

impl<G: Gate, S> Layer<S> for GateLayer<G> {
    type Service = Gated<G, S>;

    fn layer(&self, route: S) -> Gated<G, S> {
        Gated {
            gate: self.0.clone(),
            route,
        }
    }
}

#[derive(Clone)]
pub(crate) struct Gated<G, S> {
    gate: G,
    route: S,
}

impl<G, S> Service<Request> for Gated<G, S>
where
    G: Gate,
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, BoxFuture<'static, Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.route.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.gate.check(request) {
            Checked::Pass(request) => Either::Left(self.route.call(request)),
            Checked::Wait(request, then) => {
                // The route waits with the request; the clone, ready as this one is, stays.
                let ready = self.route.clone();
                let route = std::mem::replace(&mut self.route, ready);
                Either::Right(Box::pin(
                    async move { Ok(then(request, route.boxed()).await) },
                ))
            }
        }
    }
}
