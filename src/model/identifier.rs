//! Bedrock's model identifiers, parsed: the one place that knows their forms.
//!
//! A caller may name a model in seven ways, and Bedrock accepts each of them
//! as `modelId` on the runtime API:
//!
//! | form | example |
//! | --- | --- |
//! | model ID | `amazon.titan-text-express-v1` |
//! | foundation-model ARN | `arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1` |
//! | system inference profile ID | `us.anthropic.claude-3-7-sonnet-20250219-v1:0` |
//! | system inference profile ARN | `arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-…` |
//! | application inference profile ARN | `arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123` |
//! | provisioned-model ARN | `arn:aws:bedrock:us-east-1:123456789012:provisioned-model/xyz` |
//! | prompt-router ARN | `arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1` |
//!
//! Custom and imported models (other Bedrock resource types), Bedrock
//! Marketplace endpoints (SageMaker endpoint ARNs) and inference profiles of
//! a geography this list does not know yet parse as [`Identifier::OtherArn`]
//! and go to Bedrock unchanged, under the rules common to every model.

/// The geography prefixes of Bedrock's system-defined cross-region inference
/// profiles (`us.anthropic.claude-…`). `us-gov.` comes before `us.` only for
/// readability: the two cannot both match.
pub const PROFILE_PREFIXES: &[&str] = &[
    "us-gov.", "us.", "eu.", "apac.", "ca.", "jp.", "au.", "global.",
];

/// Which of the forms an identifier has, without its parts: a label for
/// logs, tests and decisions that depend only on the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentifierKind {
    /// A foundation model's own ID.
    ModelId,
    /// A foundation model's ARN.
    FoundationModelArn,
    /// A system-defined (cross-region) inference profile ID.
    SystemProfile,
    /// A system-defined inference profile's ARN.
    SystemProfileArn,
    /// An application inference profile's ARN.
    ApplicationProfileArn,
    /// A provisioned-throughput model's ARN.
    ProvisionedModelArn,
    /// A prompt router's ARN (default or custom).
    PromptRouterArn,
    /// An ARN of any other Bedrock resource type (custom or imported models).
    OtherArn,
}

/// A parsed model identifier, borrowing from the caller's string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identifier<'a> {
    /// `amazon.titan-text-express-v1`.
    ModelId {
        /// The model ID.
        model_id: &'a str,
    },
    /// `arn:aws:bedrock:REGION::foundation-model/MODEL_ID`.
    FoundationModelArn {
        /// The ARN's parts.
        arn: Arn<'a>,
        /// The model ID.
        model_id: &'a str,
    },
    /// `us.MODEL_ID`.
    SystemProfile {
        /// The geography prefix without its dot: `us`, `eu`, `global`.
        geography: &'a str,
        /// The model ID behind it.
        model_id: &'a str,
    },
    /// `arn:aws:bedrock:REGION:ACCOUNT:inference-profile/us.MODEL_ID`.
    SystemProfileArn {
        /// The ARN's parts.
        arn: Arn<'a>,
        /// The geography prefix without its dot.
        geography: &'a str,
        /// The model ID behind it.
        model_id: &'a str,
    },
    /// `arn:aws:bedrock:REGION:ACCOUNT:application-inference-profile/ID`.
    ApplicationProfileArn {
        /// The ARN's parts; the resource ID is the profile ID.
        arn: Arn<'a>,
    },
    /// `arn:aws:bedrock:REGION:ACCOUNT:provisioned-model/ID`.
    ProvisionedModelArn {
        /// The ARN's parts.
        arn: Arn<'a>,
    },
    /// `arn:aws:bedrock:REGION:ACCOUNT:prompt-router/ID` or `…:default-prompt-router/ID`.
    PromptRouterArn {
        /// The ARN's parts.
        arn: Arn<'a>,
    },
    /// Any other Bedrock (or SageMaker endpoint) ARN.
    OtherArn {
        /// The ARN's parts.
        arn: Arn<'a>,
    },
}

/// The parts of a Bedrock ARN: `arn:PARTITION:bedrock:REGION:ACCOUNT:TYPE/ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    /// `aws`, `aws-us-gov`, `aws-cn`.
    pub partition: &'a str,
    /// The region; may be empty.
    pub region: &'a str,
    /// The account; empty for foundation models.
    pub account: &'a str,
    /// The resource type: `foundation-model`, `inference-profile`, …
    pub resource_type: &'a str,
    /// The resource ID (may itself hold `:` and `/`).
    pub resource_id: &'a str,
}

/// Why an identifier could not be parsed; the text completes "must be …".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedIdentifier(pub String);

impl<'a> Arn<'a> {
    /// Parses a Bedrock ARN. The resource ID keeps any `:` or `/` it has
    /// (model IDs such as `anthropic.claude-v2:1` do).
    pub fn parse(s: &'a str) -> Result<Arn<'a>, MalformedIdentifier> {
        let shape = || {
            MalformedIdentifier(format!(
                "a Bedrock ARN of the form arn:aws:bedrock:REGION:ACCOUNT:RESOURCE-TYPE/ID, got {s:?}"
            ))
        };
        let mut parts = s.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some(service),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return Err(shape());
        };
        // Bedrock's runtime takes its own ARNs and, for Bedrock Marketplace
        // models, SageMaker endpoint ARNs.
        if partition.is_empty() || !matches!(service, "bedrock" | "sagemaker") {
            return Err(shape());
        }
        let Some((resource_type, resource_id)) = resource.split_once('/') else {
            return Err(shape());
        };
        if resource_type.is_empty() || resource_id.is_empty() {
            return Err(shape());
        }
        Ok(Arn {
            partition,
            region,
            account,
            resource_type,
            resource_id,
        })
    }
}

/// Splits `us.MODEL_ID` into its geography and model ID.
fn system_profile(id: &str) -> Option<(&str, &str)> {
    PROFILE_PREFIXES.iter().find_map(|p| {
        id.strip_prefix(p)
            .filter(|rest| !rest.is_empty())
            .map(|rest| (&p[..p.len() - 1], rest))
    })
}

impl<'a> Identifier<'a> {
    /// Parses any identifier a caller may send. Only a string that starts
    /// with `arn:` and is not a Bedrock ARN is refused; every other string is
    /// a model ID (or a system profile ID), for Bedrock to judge.
    pub fn parse(s: &'a str) -> Result<Identifier<'a>, MalformedIdentifier> {
        if !s.starts_with("arn:") {
            return Ok(match system_profile(s) {
                Some((geography, model_id)) => Identifier::SystemProfile {
                    geography,
                    model_id,
                },
                None => Identifier::ModelId { model_id: s },
            });
        }
        let arn = Arn::parse(s)?;
        Ok(match arn.resource_type {
            "foundation-model" => Identifier::FoundationModelArn {
                arn,
                model_id: arn.resource_id,
            },
            "inference-profile" => match system_profile(arn.resource_id) {
                Some((geography, model_id)) => Identifier::SystemProfileArn {
                    arn,
                    geography,
                    model_id,
                },
                // A geography added after this list: Bedrock judges it.
                None => Identifier::OtherArn { arn },
            },
            "application-inference-profile" => Identifier::ApplicationProfileArn { arn },
            "provisioned-model" => Identifier::ProvisionedModelArn { arn },
            "prompt-router" | "default-prompt-router" => Identifier::PromptRouterArn { arn },
            _ => Identifier::OtherArn { arn },
        })
    }

    /// The form, without the parts.
    pub fn kind(&self) -> IdentifierKind {
        match self {
            Identifier::ModelId { .. } => IdentifierKind::ModelId,
            Identifier::FoundationModelArn { .. } => IdentifierKind::FoundationModelArn,
            Identifier::SystemProfile { .. } => IdentifierKind::SystemProfile,
            Identifier::SystemProfileArn { .. } => IdentifierKind::SystemProfileArn,
            Identifier::ApplicationProfileArn { .. } => IdentifierKind::ApplicationProfileArn,
            Identifier::ProvisionedModelArn { .. } => IdentifierKind::ProvisionedModelArn,
            Identifier::PromptRouterArn { .. } => IdentifierKind::PromptRouterArn,
            Identifier::OtherArn { .. } => IdentifierKind::OtherArn,
        }
    }

    /// The foundation model ID the identifier itself names, when it names
    /// one (model IDs, foundation-model ARNs, system profiles). Application
    /// profiles name theirs only through the control plane.
    pub fn model_id(&self) -> Option<&'a str> {
        match *self {
            Identifier::ModelId { model_id }
            | Identifier::FoundationModelArn { model_id, .. }
            | Identifier::SystemProfile { model_id, .. }
            | Identifier::SystemProfileArn { model_id, .. } => Some(model_id),
            _ => None,
        }
    }
}

/// The model ID inside a foundation-model ARN (`…:foundation-model/ID`), as
/// inference profiles list their models; `None` for anything else.
pub fn model_id_of_arn(arn: &str) -> Option<&str> {
    match Identifier::parse(arn) {
        Ok(Identifier::FoundationModelArn { model_id, .. }) => Some(model_id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLAUDE: &str = "anthropic.claude-3-7-sonnet-20250219-v1:0";

    #[test]
    fn every_form_parses_to_its_kind_and_model() {
        let cases = [
            (CLAUDE.to_owned(), IdentifierKind::ModelId, Some(CLAUDE)),
            (
                format!("arn:aws:bedrock:us-east-1::foundation-model/{CLAUDE}"),
                IdentifierKind::FoundationModelArn,
                Some(CLAUDE),
            ),
            (format!("us.{CLAUDE}"), IdentifierKind::SystemProfile, Some(CLAUDE)),
            (format!("us-gov.{CLAUDE}"), IdentifierKind::SystemProfile, Some(CLAUDE)),
            (format!("global.{CLAUDE}"), IdentifierKind::SystemProfile, Some(CLAUDE)),
            (
                format!("arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.{CLAUDE}"),
                IdentifierKind::SystemProfileArn,
                Some(CLAUDE),
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123".to_owned(),
                IdentifierKind::ApplicationProfileArn,
                None,
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/p9x".to_owned(),
                IdentifierKind::ProvisionedModelArn,
                None,
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1".to_owned(),
                IdentifierKind::PromptRouterArn,
                None,
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:prompt-router/r1".to_owned(),
                IdentifierKind::PromptRouterArn,
                None,
            ),
            (
                "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:custom-model/amazon.titan-text-express-v1:0:8k/abc".to_owned(),
                IdentifierKind::OtherArn,
                None,
            ),
        ];
        for (id, kind, model) in cases {
            let parsed = Identifier::parse(&id).unwrap_or_else(|e| panic!("{id}: {e:?}"));
            assert_eq!(parsed.kind(), kind, "{id}");
            assert_eq!(parsed.model_id(), model, "{id}");
        }
    }

    #[test]
    fn arn_parts_keep_colons_in_the_resource_id() {
        let Identifier::FoundationModelArn { arn, model_id } =
            Identifier::parse("arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-v2:1")
                .unwrap()
        else {
            panic!("not a foundation-model ARN")
        };
        assert_eq!(
            (arn.partition, arn.region, arn.account),
            ("aws", "us-west-2", "")
        );
        assert_eq!(model_id, "anthropic.claude-v2:1");
        assert_eq!(
            model_id_of_arn("arn:aws:bedrock:us-east-2::foundation-model/x.y"),
            Some("x.y")
        );
        assert_eq!(model_id_of_arn("x.y"), None);
    }

    #[test]
    fn strings_that_look_like_arns_but_are_not_are_refused_with_the_shape() {
        for bad in [
            "arn:",
            "arn:aws:s3:::bucket/key",
            "arn:aws:bedrock:us-east-1:123:foundation-model",
            "arn:aws:bedrock:us-east-1:123:/x",
        ] {
            let e = Identifier::parse(bad).expect_err(bad);
            assert!(e.0.contains(bad), "{bad}: {}", e.0);
        }
    }

    #[test]
    fn arns_bedrock_may_accept_pass_as_other_arns() {
        for id in [
            "arn:aws:sagemaker:us-east-1:123456789012:endpoint/marketplace-model",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/mx.anthropic.claude-x",
        ] {
            assert_eq!(
                Identifier::parse(id).unwrap().kind(),
                IdentifierKind::OtherArn,
                "{id}"
            );
        }
    }

    #[test]
    fn a_bare_prefix_is_a_model_id_not_a_profile() {
        assert_eq!(
            Identifier::parse("us.").unwrap().kind(),
            IdentifierKind::ModelId
        );
        assert_eq!(
            Identifier::parse("usual.model").unwrap().kind(),
            IdentifierKind::ModelId
        );
    }
}
