//! What a request's model resolves to: [`Target`], made once by validation
//! and read by every later step.

use super::capabilities::Capabilities;
use super::catalogue::ModelInfo;
use super::identifier::IdentifierKind;
use std::sync::Arc;

/// One model as the gateway knows it: its catalogue entry (when the
/// catalogue lists it) and its row of the capability table. Built once per
/// catalogue snapshot for every listed model, and shared.
#[derive(Debug, PartialEq)]
pub struct ModelProfile {
    /// The foundation model's ID. For an identifier that names no
    /// foundation model the gateway can know (a prompt router, a
    /// provisioned or custom model), the identifier itself.
    pub model_id: Arc<str>,
    /// The catalogue's entry, when the catalogue lists the model.
    pub info: Option<ModelInfo>,
    /// The model's row of the capability table.
    pub capabilities: &'static Capabilities,
}

impl ModelProfile {
    /// Whether the model answers with text. Unknown models are given the
    /// benefit of the doubt: Bedrock judges them.
    pub fn outputs_text(&self) -> bool {
        self.info
            .as_ref()
            .is_none_or(|m| m.output_modalities.iter().any(|o| o == "TEXT"))
    }

    /// Whether the model takes images (the catalogue's input modalities);
    /// unknown models may.
    pub fn accepts_images(&self) -> bool {
        self.info
            .as_ref()
            .is_none_or(|m| m.input_modalities.iter().any(|o| o == "IMAGE"))
    }
}

/// The foundation-model ARNs behind an inference profile, shared; `None`
/// when there are none to tell.
pub type ModelArns = Option<Arc<[String]>>;

/// A request's model, resolved: what the caller named, what is invoked, and
/// the foundation model behind it with everything known about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The identifier as the caller gave it.
    pub requested: Arc<str>,
    /// The identifier's form.
    pub kind: IdentifierKind,
    /// What is sent to Bedrock as `modelId`: the caller's identifier, or the
    /// system inference profile that a model without on-demand throughput
    /// was routed to.
    pub invoke_id: Arc<str>,
    /// The foundation-model ARNs behind an inference profile (one per
    /// region it routes to), as the control plane lists them; `None` for a
    /// plain model ID or when the profile is not listed.
    pub foundation_model_arns: ModelArns,
    /// The model behind the identifier.
    pub model: Arc<ModelProfile>,
}

impl Target {
    /// The foundation model that serves the call, for `resolved_model_id`.
    pub fn resolved_model_id(&self) -> &str {
        &self.model.model_id
    }

    /// The foundation-model ARNs behind the identifier, if it is a listed
    /// inference profile.
    pub fn foundation_model_arns(&self) -> &[String] {
        self.foundation_model_arns.as_deref().unwrap_or(&[])
    }

    /// The model's capabilities.
    pub fn capabilities(&self) -> &'static Capabilities {
        self.model.capabilities
    }
}
