//! An immutable, indexed snapshot of the foundation-model list.
//!
//! Built once (the simulated backend at start, the Bedrock backend on each
//! cache refresh) and then only read, so lookups on the request path are a
//! hash probe with no lock.

use crate::domain::{ModelFilter, ModelInfo};
use std::collections::HashMap;

/// The geography prefixes of Bedrock's system-defined cross-region inference
/// profiles (`us.anthropic.claude-…`).
pub const PROFILE_PREFIXES: &[&str] = &["us.", "eu.", "apac.", "us-gov.", "ca.", "jp.", "au.", "global."];

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

    /// Parses Bedrock's ListFoundationModels JSON (`{"modelSummaries": [...]}`).
    pub fn from_list_json(json: &str) -> Result<Self, serde_json::Error> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct List {
            model_summaries: Vec<ModelInfo>,
        }
        Ok(Self::new(serde_json::from_str::<List>(json)?.model_summaries))
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

    /// The foundation model behind an identifier a caller may send for
    /// generation: a model ID, a model ARN, a system-defined profile ID
    /// (`us.<model-id>`) or a profile ARN (`…:inference-profile/us.<model-id>`).
    pub fn resolve(&self, identifier: &str) -> Option<&ModelInfo> {
        if let Some(m) = self.get(identifier) {
            return Some(m);
        }
        let tail = identifier.rsplit('/').next().unwrap_or(identifier);
        if let Some(m) = self.get(tail) {
            return Some(m);
        }
        PROFILE_PREFIXES
            .iter()
            .find_map(|p| tail.strip_prefix(p))
            .and_then(|id| self.get(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat() -> Catalogue {
        Catalogue::from_list_json(include_str!("../data/foundation-models.json")).unwrap()
    }

    #[test]
    fn the_shipped_catalogue_is_the_seed_list() {
        let c = cat();
        assert_eq!(c.models().len(), 92);
        let titan = c.get("amazon.titan-text-express-v1").unwrap();
        assert_eq!(titan.model_name, "Titan Text G1 - Express");
        assert_eq!(titan.lifecycle_status, "ACTIVE");
        assert_eq!(titan.response_streaming_supported, Some(true));
        // Image models in the seed do not report streaming support at all.
        let image = c.get("amazon.titan-image-generator-v1").unwrap();
        assert_eq!(image.response_streaming_supported, None);
    }

    #[test]
    fn profiles_and_arns_resolve_to_their_model() {
        let c = cat();
        for id in [
            "anthropic.claude-3-7-sonnet-20250219-v1:0",
            "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0",
        ] {
            assert_eq!(
                c.resolve(id).map(|m| m.model_id.as_str()),
                Some("anthropic.claude-3-7-sonnet-20250219-v1:0"),
                "{id}"
            );
        }
        assert!(c.resolve("us.nope").is_none());
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
        assert!(got.iter().any(|m| m.model_id == "amazon.titan-text-express-v1"));
        assert!(got.iter().all(|m| m.provider_name == "Amazon"
            && m.output_modalities.contains(&"TEXT".to_owned())
            && m.supports_on_demand()));
        assert!(got.len() < c.models().len());
    }
}
