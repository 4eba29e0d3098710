//! The model room: everything the gateway knows about Bedrock's models, the
//! same for every backend.
//!
//! - [`identifier`] — the seven forms of a model identifier, parsed.
//! - [`catalogue`] — the foundation-model list ([`ModelInfo`], [`ModelFilter`]).
//! - [`capabilities`] — what the catalogue does not say, one table
//!   (`data/model-capabilities.toml`) keyed by model ID pattern.
//! - [`family`] — the native InvokeModel body families.
//! - [`directory`] — a backend's models, cached and refreshed, and
//!   [`ModelDirectory::resolve`]: identifier → [`Target`], once per request.
//! - [`target`] — the resolved model every later step reads.
//! - [`rules`] — the model-specific request rules, read from the table.
//!
//! This room knows no transport and no backend: backends feed it through
//! [`ModelSource`] and read the [`Target`] it made.

pub mod capabilities;
pub mod catalogue;
pub mod directory;
pub mod family;
pub mod identifier;
pub mod rules;
pub mod target;

pub use capabilities::{Capabilities, CapabilityTable};
pub use catalogue::{Catalogue, ModelFilter, ModelInfo};
pub use directory::{
    DirectoryConfig, InferenceProfile, Listing, ModelDirectory, ModelSource, Unknown,
};
pub use family::Family;
pub use identifier::{Identifier, IdentifierKind};
pub use target::{ModelProfile, Target};

/// The target of `identifier` over the seed catalogue, for unit tests
/// elsewhere in the crate (a directory that passes unknown models through,
/// as Bedrock's does).
#[cfg(test)]
pub(crate) fn test_target(identifier: &str) -> Target {
    use std::sync::{Arc, LazyLock};
    static SEED: LazyLock<Arc<ModelDirectory>> = LazyLock::new(|| {
        ModelDirectory::fixed(
            Listing {
                models: Catalogue::seed().models().to_vec(),
                ..Listing::default()
            },
            Unknown::PassThrough,
        )
    });
    SEED.resolve_listed(identifier)
        .expect("resolves over the seed catalogue")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_families_come_from_the_table_for_every_identifier_form() {
        let cases = [
            ("amazon.titan-text-express-v1", Some(Family::Titan)),
            ("amazon.titan-text-lite-v1:0:4k", Some(Family::Titan)),
            ("amazon.titan-text-premier-v1:0", Some(Family::Titan)),
            ("amazon.titan-tg1-large", Some(Family::Titan)),
            ("anthropic.claude-3-haiku-20240307-v1:0", Some(Family::Anthropic)),
            ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", Some(Family::Anthropic)),
            ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", Some(Family::Anthropic)),
            ("apac.anthropic.claude-3-5-sonnet-20240620-v1:0", Some(Family::Anthropic)),
            (
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0",
                Some(Family::Anthropic),
            ),
            ("arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1", Some(Family::Titan)),
            ("meta.llama3-8b-instruct-v1:0", Some(Family::Llama)),
            ("us.meta.llama3-3-70b-instruct-v1:0", Some(Family::Llama)),
            ("mistral.mistral-7b-instruct-v0:2", Some(Family::Mistral)),
            ("mistral.mixtral-8x7b-instruct-v0:1", Some(Family::Mistral)),
            ("mistral.mistral-large-2402-v1:0", Some(Family::Mistral)),
            ("amazon.titan-embed-text-v2:0", None),
            ("amazon.titan-image-generator-v1", None),
            ("amazon.nova-pro-v1:0", None),
            ("meta.llama4-scout-17b-instruct-v1:0", None),
            ("mistral.pixtral-large-2502-v1:0", None),
            ("cohere.command-r-v1:0", None),
        ];
        for (id, want) in cases {
            assert_eq!(test_target(id).capabilities().native, want, "{id}");
        }
    }

    #[test]
    fn every_native_family_in_the_catalogue_belongs_to_its_provider() {
        let table = CapabilityTable::shipped();
        for m in Catalogue::seed().models() {
            let Some(f) = table.lookup(&m.model_id).native else {
                continue;
            };
            assert!(
                m.output_modalities.iter().any(|o| o == "TEXT"),
                "{}",
                m.model_id
            );
            let provider = match f {
                Family::Titan => "Amazon",
                Family::Anthropic => "Anthropic",
                Family::Llama => "Meta",
                Family::Mistral => "Mistral AI",
            };
            assert_eq!(m.provider_name, provider, "{}", m.model_id);
        }
    }
}
