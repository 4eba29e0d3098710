//! Bedrock's control plane as the model directory's source: the foundation
//! models, the system-defined and application inference profiles, and one
//! profile or model by identifier. No caching here; `model::directory`
//! caches and decides when to ask.

use super::sdk_errors::from_sdk;
use crate::error::GatewayError;
use crate::model::{InferenceProfile, Listing, ModelInfo, ModelSource};
use aws_sdk_bedrock::types::{
    FoundationModelDetails, FoundationModelSummary, InferenceProfileModel, InferenceProfileType,
};

/// The control plane, through the AWS SDK.
#[derive(Debug)]
pub(super) struct ControlPlane {
    client: aws_sdk_bedrock::Client,
}

impl ControlPlane {
    pub(super) fn new(client: aws_sdk_bedrock::Client) -> Self {
        ControlPlane { client }
    }

    /// Every inference profile of one type, across pages.
    async fn profiles(&self, kind: InferenceProfileType) -> Result<Vec<InferenceProfile>, GatewayError> {
        let mut profiles = Vec::new();
        let mut next_token = None;
        // Bounded: Bedrock has a few hundred system profiles, and accounts
        // at most a few thousand application profiles.
        for _page in 0..100 {
            let out = self
                .client
                .list_inference_profiles()
                .type_equals(kind.clone())
                .max_results(1000)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| from_sdk("ListInferenceProfiles", e, None))?;
            profiles.extend(out.inference_profile_summaries.unwrap_or_default().into_iter().map(|p| {
                InferenceProfile {
                    id: p.inference_profile_id,
                    arn: p.inference_profile_arn,
                    model_arns: model_arns(p.models),
                }
            }));
            match out.next_token {
                Some(t) if !t.is_empty() => next_token = Some(t),
                _ => break,
            }
        }
        Ok(profiles)
    }
}

fn model_arns(models: Vec<InferenceProfileModel>) -> Vec<String> {
    models.into_iter().filter_map(|m| m.model_arn).collect()
}

#[async_trait::async_trait]
impl ModelSource for ControlPlane {
    async fn list(&self) -> Result<Listing, GatewayError> {
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
            .collect();
        Ok(Listing {
            models,
            system_profiles: self.profiles(InferenceProfileType::SystemDefined).await?,
            application_profiles: self.profiles(InferenceProfileType::Application).await?,
        })
    }

    async fn inference_profile(&self, arn: &str) -> Result<InferenceProfile, GatewayError> {
        let out = self
            .client
            .get_inference_profile()
            .inference_profile_identifier(arn)
            .send()
            .await
            .map_err(|e| from_sdk("GetInferenceProfile", e, None))?;
        Ok(InferenceProfile {
            id: out.inference_profile_id,
            arn: out.inference_profile_arn,
            model_arns: model_arns(out.models),
        })
    }

    async fn foundation_model(&self, model_id: &str) -> Result<ModelInfo, GatewayError> {
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
