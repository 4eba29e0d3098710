//! The admin service: a key's spend and what its limits leave.
//!
//! The edge lets only keys marked `admin = true` reach it (see
//! `edge::restricted_rpc`); this handler names the key asked about, reads
//! its usage from the limits store in force, and answers.

use super::edge::CallContext;
use super::{finish, logged, Call};
use crate::auth::KeyRing;
use crate::error::GatewayError;
use crate::limits::{Admission, BudgetUsage, KeyUsage};
use crate::metrics::{Metrics, Protocol};
use crate::pb::{self, admin_service_server::AdminService};
use std::sync::Arc;
use std::time::Instant;
use tonic::{Request, Response, Status};

/// The `AdminService` implementation.
#[derive(Debug, Clone)]
pub struct Admin {
    admission: Arc<Admission>,
    keys: Option<KeyRing>,
    metrics: Arc<Metrics>,
}

impl Admin {
    /// The service over the server's admission and keys (`None`:
    /// authentication off, and the edge refuses every admin call).
    pub fn new(admission: Arc<Admission>, keys: Option<KeyRing>, metrics: Arc<Metrics>) -> Self {
        Admin {
            admission,
            keys,
            metrics,
        }
    }

    async fn usage(&self, name: &str) -> Result<pb::GetUsageResponse, GatewayError> {
        if name.is_empty() {
            return Err(GatewayError::invalid_field(
                "key_name",
                "is empty; name the key as the keys file does",
            ));
        }
        let policy = self
            .keys
            .as_ref()
            .and_then(|k| k.load().policy(name).cloned())
            .ok_or_else(|| {
                GatewayError::not_found(
                    "api key",
                    name,
                    format!("no key is named `{name}` in the keys in force"),
                )
            })?;
        Ok(response(name, self.admission.usage(&policy).await))
    }
}

fn timestamp(at: std::time::SystemTime) -> prost_types::Timestamp {
    prost_types::Timestamp::from(at)
}

fn budget(b: BudgetUsage) -> pb::BudgetUsage {
    pb::BudgetUsage {
        limit: b.limit,
        used: b.used,
        remaining: b.limit.saturating_sub(b.used),
        period_start: Some(timestamp(b.start)),
        renews_at: Some(timestamp(b.end)),
    }
}

fn response(name: &str, usage: KeyUsage) -> pb::GetUsageResponse {
    pb::GetUsageResponse {
        key_name: name.to_owned(),
        limits_store: usage.store.to_owned(),
        requests_per_minute: Some(pb::RateUsage {
            limit: usage.limits.requests_per_minute,
            available: usage.requests_available,
        }),
        tokens_per_minute: Some(pb::RateUsage {
            limit: usage.limits.tokens_per_minute,
            available: usage.tokens_available,
        }),
        tokens_today: Some(budget(usage.day)),
        tokens_this_month: Some(budget(usage.month)),
    }
}

#[tonic::async_trait]
impl AdminService for Admin {
    async fn get_usage(
        &self,
        request: Request<pb::GetUsageRequest>,
    ) -> Result<Response<pb::GetUsageResponse>, Status> {
        let ctx = request.extensions().get::<CallContext>().cloned();
        let mut call = Call {
            rpc: "GetUsage",
            protocol: ctx.as_ref().map_or(Protocol::Grpc, |c| c.protocol),
            started: Instant::now(),
            deadline: ctx.as_ref().and_then(|c| c.deadline),
            key: ctx
                .as_ref()
                .map_or_else(|| Arc::from(crate::auth::ANONYMOUS), |c| c.key.clone()),
            policy: ctx.as_ref().map_or_else(
                || {
                    Arc::new(crate::auth::KeyPolicy::open(Arc::from(
                        crate::auth::ANONYMOUS,
                    )))
                },
                |c| c.policy.clone(),
            ),
            request_id: ctx
                .as_ref()
                .map_or_else(|| Arc::from(""), |c| c.request_id.clone()),
            trace_id: ctx
                .as_ref()
                .map_or_else(crate::ids::TraceId::random, |c| c.trace_id),
            model: Arc::from(""),
        };
        let name = request.into_inner().key_name;
        let result = self.usage(&name).await;
        call.model = Arc::from("");
        finish(&self.metrics, &call, result.as_ref().map(|_| ()));
        result.map(Response::new).map_err(logged)
    }
}
