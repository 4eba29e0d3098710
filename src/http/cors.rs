//! CORS for browser callers of gRPC-Web, Connect and the JSON routes, from
//! `--cors-allow-origin` (none by default: no CORS headers at all).
//!
//! tower-http's `CorsLayer` answers preflights; a preflight from an origin
//! not on the list would still get its allow-methods and allow-headers
//! there, so [`layer`] strips those when no `access-control-allow-origin`
//! was granted: other origins learn nothing. A request without an `Origin`
//! header (gRPC, curl, any non-browser caller) never meets CORS: it goes
//! straight to the service and its answer carries no `access-control-*` or
//! `vary` header from here.
//!
//! [`Origins`] is the same list for the cross-site request check of
//! `crate::http`: a request from another origin that a browser sends without
//! a preflight (a form or `text/plain` POST) is refused unless the origin
//! is allowed here.

use futures::future::{BoxFuture, Either};
use http::header::{
    HeaderName, HeaderValue, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, ORIGIN,
};
use http::{Method, Request, Response};
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::body::Body;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The request headers a browser caller may send.
pub const ALLOWED_HEADERS: [&str; 9] = [
    "content-type",
    "authorization",
    "x-grpc-web",
    "x-user-agent",
    "connect-protocol-version",
    "connect-timeout-ms",
    "grpc-timeout",
    "x-request-id",
    "traceparent",
];

/// The response headers a browser caller may read.
pub const EXPOSED_HEADERS: [&str; 4] = ["grpc-status", "grpc-message", "grpc-status-details-bin", "x-request-id"];

/// Why an origin cannot be allowed.
#[derive(Debug, thiserror::Error)]
#[error("--cors-allow-origin {0:?} is not a valid origin")]
pub struct BadOrigin(String);

/// The origins `--cors-allow-origin` allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origins {
    /// None (CORS off).
    None,
    /// Any (`*`).
    Any,
    /// These, without a trailing `/`.
    List(Vec<HeaderValue>),
}

impl Origins {
    /// The allowed origins of `--cors-allow-origin` values (`*` allows any;
    /// empty entries are ignored).
    pub fn parse(origins: &[String]) -> Result<Origins, BadOrigin> {
        let origins: Vec<&str> = origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()).collect();
        if origins.is_empty() {
            return Ok(Origins::None);
        }
        if origins.contains(&"*") {
            return Ok(Origins::Any);
        }
        origins
            .into_iter()
            .map(|o| {
                let o = o.trim_end_matches('/');
                HeaderValue::from_str(o).map_err(|_| BadOrigin(o.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Origins::List)
    }

    /// Whether a request's `Origin` is allowed.
    pub fn allows(&self, origin: &HeaderValue) -> bool {
        match self {
            Origins::None => false,
            Origins::Any => true,
            Origins::List(list) => list.iter().any(|o| o == origin),
        }
    }
}

/// The CORS layer, built once, as `server::run` stacks it.
#[derive(Debug, Clone)]
pub struct Layer(CorsLayer);

/// The CORS layer for `origins`, or `None` when there are none.
pub fn layer(origins: &Origins) -> Option<Layer> {
    let allow = match origins {
        Origins::None => return None,
        Origins::Any => AllowOrigin::any(),
        Origins::List(list) => AllowOrigin::list(list.iter().cloned()),
    };
    Some(Layer(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::POST, Method::GET])
            .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
            .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
            .max_age(Duration::from_secs(7200)),
    ))
}

impl<S> tower::Layer<S> for Layer {
    type Service = Cors<S>;
    fn layer(&self, inner: S) -> Cors<S> {
        Cors(self.0.layer(inner))
    }
}

/// The CORS service: tower-http's, for requests that carry an `Origin`.
#[derive(Debug, Clone)]
pub struct Cors<S>(tower_http::cors::Cors<S>);

impl<S> tower::Service<Request<Body>> for Cors<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Either<S::Future, BoxFuture<'static, Result<Response<Body>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // tower-http's readiness is the inner service's.
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        if !req.headers().contains_key(ORIGIN) {
            return Either::Left(self.0.get_mut().call(req));
        }
        let future = self.0.call(req);
        Either::Right(Box::pin(async move { future.await.map(strip_refused_preflight) }))
    }
}

/// Removes a preflight's allow headers when its origin was not allowed.
fn strip_refused_preflight(mut response: Response<Body>) -> Response<Body> {
    let h = response.headers_mut();
    if h.contains_key(ACCESS_CONTROL_ALLOW_METHODS) && !h.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN) {
        h.remove(ACCESS_CONTROL_ALLOW_METHODS);
        h.remove(ACCESS_CONTROL_ALLOW_HEADERS);
        h.remove(ACCESS_CONTROL_MAX_AGE);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_matched_without_a_trailing_slash() {
        let o = Origins::parse(&["https://app.example/".into(), " ".into()]).unwrap();
        assert!(o.allows(&HeaderValue::from_static("https://app.example")));
        assert!(!o.allows(&HeaderValue::from_static("https://evil.example")));
        assert_eq!(Origins::parse(&[]).unwrap(), Origins::None);
        assert!(Origins::parse(&["*".into()]).unwrap().allows(&HeaderValue::from_static("https://x")));
        assert!(Origins::parse(&["bad\norigin".into()]).is_err());
    }
}
