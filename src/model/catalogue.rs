//! The foundation-model list: [`ModelInfo`] (every field of Bedrock's
//! FoundationModelSummary), [`ModelFilter`], and [`Catalogue`], an immutable
//! snapshot indexed by model ID and ARN.
//!
//! Built once per directory snapshot and then only read, so lookups on the
//! request path are a hash probe with no lock.

use std::collections::HashMap;

/// The catalogue shipped with the repository: the seed notebook's real
/// ListFoundationModels answer, plus Claude Sonnet 4.5 and Haiku 4.5 (their
/// real summaries; released since, and the first with structured output, so
/// it can be tried offline). The simulated backend serves it; tests use it.
pub const SEED_JSON: &str = include_str!("../../data/foundation-models.json");

/// The model list plus an index by model ID and by ARN.
#[derive(Debug, Default)]
pub struct Catalogue {
    models: Vec<ModelInfo>,
    by_key: HashMap<String, usize>,
}

impl Catalogue {
    /// Indexes `models`, keeping their order.
    pub fn new(models: Vec<ModelInfo>) -> Self {
        let mut by_key = HashMap::with_capacity(models.len() * 2);
        for (i, m) in models.iter().enumerate() {
            by_key.entry(m.model_id.clone()).or_insert(i);
            by_key.entry(m.model_arn.clone()).or_insert(i);
        }
        Catalogue { models, by_key }
    }

    /// The seed catalogue, [`SEED_JSON`].
    pub fn seed() -> Self {
        Self::from_list_json(SEED_JSON)
            .expect("data/foundation-models.json is checked by a unit test")
    }

    /// Parses Bedrock's ListFoundationModels JSON (`{"modelSummaries": [...]}`).
    pub fn from_list_json(json: &str) -> Result<Self, serde_json::Error> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct List {
            model_summaries: Vec<ModelInfo>,
        }
        Ok(Self::new(
            serde_json::from_str::<List>(json)?.model_summaries,
        ))
    }

    /// Every model, in Bedrock's order.
    pub fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    /// The models passing `filter`.
    pub fn filtered(&self, filter: &ModelFilter) -> Vec<ModelInfo> {
        self.models
            .iter()
            .filter(|m| filter.matches(m))
            .cloned()
            .collect()
    }

    /// A model by exact ID or ARN.
    pub fn get(&self, key: &str) -> Option<&ModelInfo> {
        self.by_key.get(key).map(|&i| &self.models[i])
    }
}

/// Catalogue filters; `None` matches everything. String filters match
/// ignoring ASCII case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelFilter {
    /// Provider name.
    pub provider: Option<String>,
    /// Output modality.
    pub output_modality: Option<String>,
    /// Inference type.
    pub inference_type: Option<String>,
    /// Streaming support.
    pub response_streaming_supported: Option<bool>,
    /// Customization type.
    pub customization_type: Option<String>,
}

impl ModelFilter {
    /// Whether `model` passes every set filter.
    pub fn matches(&self, model: &ModelInfo) -> bool {
        fn has(list: &[String], wanted: &Option<String>) -> bool {
            wanted
                .as_ref()
                .is_none_or(|w| list.iter().any(|v| v.eq_ignore_ascii_case(w)))
        }
        self.provider
            .as_ref()
            .is_none_or(|p| model.provider_name.eq_ignore_ascii_case(p))
            && has(&model.output_modalities, &self.output_modality)
            && has(&model.inference_types_supported, &self.inference_type)
            && has(&model.customizations_supported, &self.customization_type)
            && self
                .response_streaming_supported
                .is_none_or(|want| model.response_streaming_supported.unwrap_or(false) == want)
    }
}

/// A foundation model, with every field of Bedrock's FoundationModelSummary.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    /// Model ID.
    pub model_id: String,
    /// Model ARN.
    pub model_arn: String,
    /// Display name.
    #[serde(default)]
    pub model_name: String,
    /// Provider name.
    #[serde(default)]
    pub provider_name: String,
    /// Input modalities.
    #[serde(default)]
    pub input_modalities: Vec<String>,
    /// Output modalities.
    #[serde(default)]
    pub output_modalities: Vec<String>,
    /// Streaming support; `None` when not reported.
    #[serde(default)]
    pub response_streaming_supported: Option<bool>,
    /// Customizations supported.
    #[serde(default)]
    pub customizations_supported: Vec<String>,
    /// Inference types supported.
    #[serde(default)]
    pub inference_types_supported: Vec<String>,
    /// Lifecycle status.
    #[serde(
        default,
        rename = "modelLifecycle",
        deserialize_with = "lifecycle_status"
    )]
    pub lifecycle_status: String,
}

impl ModelInfo {
    /// Whether the model can be invoked directly, without an inference profile.
    pub fn supports_on_demand(&self) -> bool {
        self.inference_types_supported
            .iter()
            .any(|t| t == "ON_DEMAND")
    }
}

/// Reads Bedrock's `"modelLifecycle": {"status": "ACTIVE"}` as `"ACTIVE"`.
fn lifecycle_status<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(serde::Deserialize)]
    struct Lifecycle {
        #[serde(default)]
        status: String,
    }
    Ok(<Lifecycle as serde::Deserialize>::deserialize(d)?.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat() -> Catalogue {
        Catalogue::from_list_json(SEED_JSON).unwrap()
    }

    #[test]
    fn the_shipped_catalogue_is_the_seed_list() {
        let c = cat();
        assert_eq!(c.models().len(), 94);
        let titan = c.get("amazon.titan-text-express-v1").unwrap();
        assert_eq!(titan.model_name, "Titan Text G1 - Express");
        assert_eq!(titan.lifecycle_status, "ACTIVE");
        assert_eq!(titan.response_streaming_supported, Some(true));
        // Image models in the seed do not report streaming support at all.
        let image = c.get("amazon.titan-image-generator-v1").unwrap();
        assert_eq!(image.response_streaming_supported, None);
    }

    #[test]
    fn filters_combine() {
        let c = cat();
        let f = ModelFilter {
            provider: Some("amazon".into()),
            output_modality: Some("text".into()),
            inference_type: Some("ON_DEMAND".into()),
            response_streaming_supported: Some(true),
            customization_type: None,
        };
        let got = c.filtered(&f);
        assert!(got
            .iter()
            .any(|m| m.model_id == "amazon.titan-text-express-v1"));
        assert!(got.iter().all(|m| m.provider_name == "Amazon"
            && m.output_modalities.contains(&"TEXT".to_owned())
            && m.supports_on_demand()));
        assert!(got.len() < c.models().len());
    }
}
