//! The model catalogue from Bedrock's control plane, cached.
//!
//! ListFoundationModels and ListInferenceProfiles are fetched together into
//! one immutable [`Snapshot`], held in an `ArcSwap`: readers on the request
//! path load it without a lock. A snapshot older than the TTL is refreshed by
//! exactly one task at a time (a `try_lock`ed mutex); everyone else keeps
//! using the stale snapshot meanwhile, so generation never waits on, or
//! triggers more than one, control-plane call.

use super::sdk_errors::from_sdk;
use crate::catalogue::Catalogue;
use crate::domain::ModelInfo;
use crate::error::GatewayError;
use arc_swap::ArcSwapOption;
use aws_sdk_bedrock::types::{FoundationModelDetails, FoundationModelSummary, InferenceProfileType};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One fetch of the catalogue and the system-defined inference profiles.
#[derive(Debug)]
pub(super) struct Snapshot {
    /// The foundation models.
    pub(super) catalogue: Catalogue,
    /// IDs of the system-defined inference profiles ("us.anthropic...").
    pub(super) profiles: HashSet<String>,
    fetched_at: Instant,
}

/// The cached control plane.
#[derive(Debug)]
pub(super) struct ControlPlane {
    client: aws_sdk_bedrock::Client,
    ttl: Duration,
    current: ArcSwapOption<Snapshot>,
    refreshing: Arc<tokio::sync::Mutex<()>>,
}

impl ControlPlane {
    /// A cache over `client`; nothing is fetched until first use.
    pub(super) fn new(client: aws_sdk_bedrock::Client, ttl: Duration) -> Self {
        ControlPlane {
            client,
            ttl,
            current: ArcSwapOption::empty(),
            refreshing: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The current snapshot without waiting: possibly stale, possibly none.
    /// A stale or missing snapshot starts one background refresh.
    pub(super) fn peek(self: &Arc<Self>) -> Option<Arc<Snapshot>> {
        let current = self.current.load_full();
        if current.as_ref().is_none_or(|s| s.fetched_at.elapsed() >= self.ttl) {
            let this = self.clone();
            if let Ok(guard) = self.refreshing.clone().try_lock_owned() {
                tokio::spawn(async move {
                    let _guard = guard;
                    if let Err(e) = this.fetch_and_store().await {
                        tracing::warn!(error = %e, "catalogue refresh failed; keeping the previous one");
                    }
                });
            }
        }
        current
    }

    /// A fresh snapshot, fetching if the current one is missing or stale. If
    /// a refresh is already running, waits for it instead of starting another.
    /// A failed refresh falls back to the stale snapshot when there is one.
    pub(super) async fn fresh(&self) -> Result<Arc<Snapshot>, GatewayError> {
        if let Some(s) = self.current.load_full() {
            if s.fetched_at.elapsed() < self.ttl {
                return Ok(s);
            }
        }
        let _guard = self.refreshing.lock().await;
        // Someone else may have refreshed while this task waited.
        if let Some(s) = self.current.load_full() {
            if s.fetched_at.elapsed() < self.ttl {
                return Ok(s);
            }
        }
        match self.fetch_and_store().await {
            Ok(s) => Ok(s),
            Err(e) => match self.current.load_full() {
                Some(stale) => {
                    tracing::warn!(error = %e, "catalogue refresh failed; serving the previous one");
                    Ok(stale)
                }
                None => Err(e),
            },
        }
    }

    /// One model by ID or ARN: from the snapshot, else GetFoundationModel.
    pub(super) async fn get_model(&self, model_id: &str) -> Result<ModelInfo, GatewayError> {
        if let Ok(s) = self.fresh().await {
            if let Some(m) = s.catalogue.get(model_id) {
                return Ok(m.clone());
            }
        }
        let out = self
            .client
            .get_foundation_model()
            .model_identifier(model_id)
            .send()
            .await
            .map_err(|e| from_sdk("GetFoundationModel", e, None))?;
        out.model_details
            .map(details_info)
            .ok_or_else(|| GatewayError::model_not_found(model_id))
    }

    async fn fetch_and_store(&self) -> Result<Arc<Snapshot>, GatewayError> {
        let started = Instant::now();
        let models = self
            .client
            .list_foundation_models()
            .send()
            .await
            .map_err(|e| from_sdk("ListFoundationModels", e, None))?
            .model_summaries
            .unwrap_or_default()
            .into_iter()
            .map(summary_info)
            .collect::<Vec<_>>();
        let mut profiles = HashSet::new();
        let mut next_token = None;
        // Bounded: Bedrock has a few hundred system profiles at most.
        for _page in 0..100 {
            let out = self
                .client
                .list_inference_profiles()
                .type_equals(InferenceProfileType::SystemDefined)
                .max_results(1000)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| from_sdk("ListInferenceProfiles", e, None))?;
            profiles.extend(
                out.inference_profile_summaries
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| p.inference_profile_id),
            );
            match out.next_token {
                Some(t) if !t.is_empty() => next_token = Some(t),
                _ => break,
            }
        }
        tracing::info!(
            models = models.len(),
            profiles = profiles.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "model catalogue fetched"
        );
        let snapshot = Arc::new(Snapshot {
            catalogue: Catalogue::new(models),
            profiles,
            fetched_at: Instant::now(),
        });
        self.current.store(Some(snapshot.clone()));
        Ok(snapshot)
    }
}

fn strings<T: AsRef<str>>(v: Option<Vec<T>>) -> Vec<String> {
    v.unwrap_or_default()
        .iter()
        .map(|x| x.as_ref().to_owned())
        .collect()
}

fn summary_info(m: FoundationModelSummary) -> ModelInfo {
    ModelInfo {
        model_id: m.model_id,
        model_arn: m.model_arn,
        model_name: m.model_name.unwrap_or_default(),
        provider_name: m.provider_name.unwrap_or_default(),
        input_modalities: strings(m.input_modalities),
        output_modalities: strings(m.output_modalities),
        response_streaming_supported: m.response_streaming_supported,
        customizations_supported: strings(m.customizations_supported),
        inference_types_supported: strings(m.inference_types_supported),
        lifecycle_status: m
            .model_lifecycle
            .map(|l| l.status.as_str().to_owned())
            .unwrap_or_default(),
    }
}

fn details_info(m: FoundationModelDetails) -> ModelInfo {
    ModelInfo {
        model_id: m.model_id,
        model_arn: m.model_arn,
        model_name: m.model_name.unwrap_or_default(),
        provider_name: m.provider_name.unwrap_or_default(),
        input_modalities: strings(m.input_modalities),
        output_modalities: strings(m.output_modalities),
        response_streaming_supported: m.response_streaming_supported,
        customizations_supported: strings(m.customizations_supported),
        inference_types_supported: strings(m.inference_types_supported),
        lifecycle_status: m
            .model_lifecycle
            .map(|l| l.status.as_str().to_owned())
            .unwrap_or_default(),
    }
}
