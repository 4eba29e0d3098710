//! CORS for browser callers of gRPC-Web, Connect and the JSON routes, from
//! `--cors-allow-origin` (none by default: no CORS headers at all).
//!
//! tower-http's `CorsLayer` answers preflights; a preflight from an origin
//! not on the list would still get its allow-methods and allow-headers
//! there, so [`layer`] strips those when no `access-control-allow-origin`
//! was granted: other origins learn nothing.

use http::header::{
    HeaderName, HeaderValue, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE,
};
use http::{Method, Response};
use std::time::Duration;
use tonic::body::Body;
use tower::layer::util::{Identity, Stack};
use tower::util::MapResponseLayer;
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

/// The CORS layer, built once, as `server::run` stacks it.
pub type Layer = Stack<CorsLayer, Stack<MapResponseLayer<fn(Response<Body>) -> Response<Body>>, Identity>>;

/// Why an origin cannot be allowed.
#[derive(Debug, thiserror::Error)]
#[error("--cors-allow-origin {0:?} is not a valid origin")]
pub struct BadOrigin(String);

/// The CORS layer for `origins` (`*` allows any; empty entries are
/// ignored), or `None` when there are none.
pub fn layer(origins: &[String]) -> Result<Option<Layer>, BadOrigin> {
    let origins: Vec<&String> = origins.iter().filter(|o| !o.trim().is_empty()).collect();
    if origins.is_empty() {
        return Ok(None);
    }
    let allow = if origins.iter().any(|o| o.trim() == "*") {
        AllowOrigin::any()
    } else {
        let list = origins
            .iter()
            .map(|o| {
                let o = o.trim().trim_end_matches('/');
                HeaderValue::from_str(o).map_err(|_| BadOrigin(o.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(list)
    };
    let cors = CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::POST, Method::GET])
        .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
        .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
        .max_age(Duration::from_secs(7200));
    let strip = MapResponseLayer::new(strip_refused_preflight as fn(Response<Body>) -> Response<Body>);
    Ok(Some(tower::ServiceBuilder::new().layer(strip).layer(cors).into_inner()))
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
