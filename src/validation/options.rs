//! The general rules of what a request asks of Bedrock beyond the
//! conversation: a cache point after the system prompt, extended thinking,
//! a guardrail, a service tier, a latency mode and invocation-log metadata.
//! (Whether the model offers each is `model::rules`'s job.)

use super::content::cache_point;
use crate::domain::{
    GuardrailConfig, GuardrailStreamMode, GuardrailTrace, Latency, Options, ReasoningConfig,
    ServiceTier,
};
use crate::error::FieldViolation;
use crate::pb;
use std::collections::HashMap;

/// The smallest reasoning budget Bedrock accepts.
pub const MIN_REASONING_BUDGET: u32 = 1024;
/// Bedrock's limit on request-metadata entries.
pub const MAX_METADATA_ENTRIES: usize = 16;
/// Bedrock's limit on a request-metadata key or value, in characters.
pub const MAX_METADATA_CHARS: usize = 256;
/// Bedrock's limit on a guardrail identifier, in characters.
pub const MAX_GUARDRAIL_IDENTIFIER_CHARS: usize = 2048;

/// The request's option fields, as decoded.
pub(super) struct Fields {
    pub system_cache_point: Option<pb::CachePoint>,
    pub reasoning: Option<pb::ReasoningConfig>,
    pub guardrail: Option<pb::GuardrailConfig>,
    pub service_tier: i32,
    pub latency: i32,
    pub request_metadata: HashMap<String, String>,
}

impl Fields {
    /// Whether any option is set: a plain request skips everything else.
    pub(super) fn any(&self) -> bool {
        self.system_cache_point.is_some()
            || self.reasoning.is_some()
            || self.guardrail.is_some()
            || self.service_tier != 0
            || self.latency != 0
            || !self.request_metadata.is_empty()
    }
}

/// What the rest of validation needs to know about the request.
pub(super) struct Context {
    /// Whether a system prompt was given.
    pub has_system: bool,
    /// `parameters.max_tokens`, if set.
    pub max_tokens: Option<u32>,
    /// Whether the request is GenerateStream's.
    pub stream: bool,
}

/// Reads the options; `None` when none is set.
pub(super) fn options(fields: Fields, cx: &Context, v: &mut Vec<FieldViolation>) -> Option<Options> {
    if !fields.any() {
        return None;
    }
    let Fields {
        system_cache_point,
        reasoning,
        guardrail,
        service_tier,
        latency,
        request_metadata,
    } = fields;
    let system_cache_point = system_cache_point.map(|p| {
        if !cx.has_system {
            v.push(FieldViolation::new(
                "system_cache_point",
                "must come with a system prompt to cache, got none; set `system` or remove the \
                 cache point",
            ));
        }
        cache_point(p, "system_cache_point", v)
    });
    Some(Options {
        system_cache_point,
        reasoning: reasoning.map(|r| reasoning_config(r, cx.max_tokens, v)),
        guardrail: guardrail.map(|g| guardrail_config(g, cx.stream, v)),
        service_tier: service_tier_of(service_tier, v),
        latency: latency_of(latency, v),
        request_metadata: metadata(request_metadata, v),
    })
}

fn reasoning_config(
    config: pb::ReasoningConfig,
    max_tokens: Option<u32>,
    v: &mut Vec<FieldViolation>,
) -> ReasoningConfig {
    let pb::ReasoningConfig { budget_tokens } = config;
    if budget_tokens < MIN_REASONING_BUDGET {
        v.push(FieldViolation::new(
            "reasoning.budget_tokens",
            format!("must be at least {MIN_REASONING_BUDGET} (Bedrock's minimum), got {budget_tokens}"),
        ));
    }
    match max_tokens {
        None => v.push(FieldViolation::new(
            "parameters.max_tokens",
            format!(
                "must be set above reasoning.budget_tokens ({budget_tokens}) when reasoning, as the \
                 reasoning is part of the output, got none; set it to the budget plus room for the \
                 answer"
            ),
        )),
        Some(max) if max <= budget_tokens => v.push(FieldViolation::new(
            "reasoning.budget_tokens",
            format!(
                "must be below parameters.max_tokens ({max}), as the reasoning is part of the \
                 output, got {budget_tokens}; lower the budget or raise max_tokens"
            ),
        )),
        Some(_) => {}
    }
    ReasoningConfig { budget_tokens }
}

/// Bedrock's guardrail identifier: an ID of lower-case letters and digits,
/// or a guardrail ARN.
fn guardrail_identifier_ok(id: &str) -> bool {
    let simple = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if simple(id) {
        return true;
    }
    // arn:aws(-partition)?:bedrock:REGION:ACCOUNT:guardrail/ID
    let parts: Vec<&str> = id.splitn(6, ':').collect();
    matches!(parts.as_slice(), [arn, partition, "bedrock", region, account, resource]
        if *arn == "arn"
            && (*partition == "aws" || partition.strip_prefix("aws-").is_some_and(|p| !p.is_empty()))
            && (1..=20).contains(&region.len())
            && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && resource.strip_prefix("guardrail/").is_some_and(simple))
}

/// Bedrock's guardrail version: "DRAFT" or 1 to 99999999.
fn guardrail_version_ok(version: &str) -> bool {
    version == "DRAFT"
        || ((1..=8).contains(&version.len())
            && !version.starts_with('0')
            && version.bytes().all(|b| b.is_ascii_digit()))
}

fn guardrail_config(config: pb::GuardrailConfig, stream: bool, v: &mut Vec<FieldViolation>) -> GuardrailConfig {
    let pb::GuardrailConfig {
        identifier,
        version,
        trace,
        stream_mode,
    } = config;
    if identifier.is_empty() {
        v.push(FieldViolation::new(
            "guardrail.identifier",
            "must name the guardrail (its ID or ARN), got \"\"",
        ));
    } else if identifier.chars().count() > MAX_GUARDRAIL_IDENTIFIER_CHARS || !guardrail_identifier_ok(&identifier) {
        v.push(FieldViolation::new(
            "guardrail.identifier",
            format!(
                "must be a guardrail ID (lower-case letters and digits) or a guardrail ARN \
                 (arn:aws:bedrock:REGION:ACCOUNT:guardrail/ID), at most \
                 {MAX_GUARDRAIL_IDENTIFIER_CHARS} characters, got {identifier:?}"
            ),
        ));
    }
    if version.is_empty() {
        v.push(FieldViolation::new(
            "guardrail.version",
            "must be set beside the identifier: \"DRAFT\" or a version number such as \"1\", got \"\"",
        ));
    } else if !guardrail_version_ok(&version) {
        v.push(FieldViolation::new(
            "guardrail.version",
            format!("must be \"DRAFT\" or a version number from 1 to 99999999, got {version:?}"),
        ));
    }
    let trace = match pb::GuardrailTrace::try_from(trace) {
        Ok(pb::GuardrailTrace::Unspecified | pb::GuardrailTrace::Disabled) => GuardrailTrace::Disabled,
        Ok(pb::GuardrailTrace::Enabled) => GuardrailTrace::Enabled,
        Ok(pb::GuardrailTrace::EnabledFull) => GuardrailTrace::EnabledFull,
        Err(_) => {
            v.push(FieldViolation::new(
                "guardrail.trace",
                format!(
                    "must be GUARDRAIL_TRACE_DISABLED, _ENABLED or _ENABLED_FULL (or unset), got {trace}"
                ),
            ));
            GuardrailTrace::Disabled
        }
    };
    let stream_mode = match pb::GuardrailStreamMode::try_from(stream_mode) {
        Ok(pb::GuardrailStreamMode::Unspecified) => None,
        Ok(mode) if !stream => {
            v.push(FieldViolation::new(
                "guardrail.stream_mode",
                format!(
                    "applies to GenerateStream only, got {} on Generate; leave it unset",
                    mode.as_str_name()
                ),
            ));
            None
        }
        Ok(pb::GuardrailStreamMode::Sync) => Some(GuardrailStreamMode::Sync),
        Ok(pb::GuardrailStreamMode::Async) => Some(GuardrailStreamMode::Async),
        Err(_) => {
            v.push(FieldViolation::new(
                "guardrail.stream_mode",
                format!(
                    "must be GUARDRAIL_STREAM_MODE_SYNC or _ASYNC (or unset), got {stream_mode}"
                ),
            ));
            None
        }
    };
    GuardrailConfig {
        identifier,
        version,
        trace,
        stream_mode,
    }
}

fn service_tier_of(tier: i32, v: &mut Vec<FieldViolation>) -> Option<ServiceTier> {
    match pb::ServiceTier::try_from(tier) {
        Ok(pb::ServiceTier::Unspecified) => None,
        Ok(pb::ServiceTier::Default) => Some(ServiceTier::Default),
        Ok(pb::ServiceTier::Priority) => Some(ServiceTier::Priority),
        Ok(pb::ServiceTier::Flex) => Some(ServiceTier::Flex),
        Ok(pb::ServiceTier::Reserved) => Some(ServiceTier::Reserved),
        Err(_) => {
            v.push(FieldViolation::new(
                "service_tier",
                format!(
                    "must be SERVICE_TIER_DEFAULT, _PRIORITY, _FLEX or _RESERVED (or unset), got {tier}"
                ),
            ));
            None
        }
    }
}

fn latency_of(latency: i32, v: &mut Vec<FieldViolation>) -> Option<Latency> {
    match pb::Latency::try_from(latency) {
        Ok(pb::Latency::Unspecified) => None,
        Ok(pb::Latency::Standard) => Some(Latency::Standard),
        Ok(pb::Latency::Optimized) => Some(Latency::Optimized),
        Err(_) => {
            v.push(FieldViolation::new(
                "latency",
                format!("must be LATENCY_STANDARD or LATENCY_OPTIMIZED (or unset), got {latency}"),
            ));
            None
        }
    }
}

/// Bedrock's request-metadata alphabet: ASCII letters, digits, whitespace
/// (its pattern's `\s`, which takes no Unicode spaces) and
/// `: _ @ $ # = / + , - .`.
fn metadata_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || c.is_ascii_whitespace() || ":_@$#=/+,-.".contains(c)
}

fn metadata(map: HashMap<String, String>, v: &mut Vec<FieldViolation>) -> HashMap<String, String> {
    if map.len() > MAX_METADATA_ENTRIES {
        v.push(FieldViolation::new(
            "request_metadata",
            format!(
                "must hold at most {MAX_METADATA_ENTRIES} entries (Bedrock's limit), got {}; keep \
                 the ones your logs filter by",
                map.len()
            ),
        ));
        return map;
    }
    // In key order, so the violations come in a stable order.
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for key in keys {
        let value = &map[key];
        let path = format!("request_metadata[{key:?}]");
        let key_chars = key.chars().count();
        if key_chars == 0 || key_chars > MAX_METADATA_CHARS || !key.chars().all(metadata_char_ok) {
            v.push(FieldViolation::new(
                &path,
                format!(
                    "key must be 1 to {MAX_METADATA_CHARS} letters, digits, spaces or `: _ @ $ # = / \
                     + , - .` (Bedrock's rule), got {key:?}"
                ),
            ));
        }
        if value.chars().count() > MAX_METADATA_CHARS || !value.chars().all(metadata_char_ok) {
            let shown: String = value.chars().take(40).collect();
            v.push(FieldViolation::new(
                path,
                format!(
                    "value must be at most {MAX_METADATA_CHARS} letters, digits, spaces or `: _ @ $ \
                     # = / + , - .` (Bedrock's rule), got {} characters: {shown:?}{}",
                    value.chars().count(),
                    if value.chars().count() > 40 { "..." } else { "" }
                ),
            ));
        }
    }
    map
}

/// What BEDROCK_API_INVOKE_MODEL cannot carry: a native body has no cache
/// points, the gateway does not translate reasoning into native bodies, and
/// InvokeModel has no guardrail stream mode. Guardrails, tiers, latency and
/// request metadata it does carry.
pub(super) fn native_refusals(options: &Options, v: &mut Vec<FieldViolation>) {
    let refused = [
        (options.system_cache_point.is_some(), "system_cache_point", "a cache point"),
        (options.reasoning.is_some(), "reasoning", "a reasoning budget"),
        (
            options.guardrail.as_ref().is_some_and(|g| g.stream_mode.is_some()),
            "guardrail.stream_mode",
            "a guardrail stream mode",
        ),
    ];
    for (_, field, what) in refused.into_iter().filter(|r| r.0) {
        v.push(FieldViolation::new(
            field,
            format!(
                "is a Converse feature: BEDROCK_API_INVOKE_MODEL does not carry it, got {what}; use \
                 BEDROCK_API_CONVERSE (the default)"
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guardrail_identifiers_follow_bedrocks_pattern() {
        assert!(guardrail_identifier_ok("gr0abc123"));
        assert!(guardrail_identifier_ok("arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123"));
        assert!(guardrail_identifier_ok("arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:guardrail/x1"));
        assert!(!guardrail_identifier_ok("Guardrail-1"));
        assert!(!guardrail_identifier_ok("arn:aws:bedrock:us-east-1:1234:guardrail/abc"));
        assert!(!guardrail_identifier_ok("arn:aws:s3:us-east-1:123456789012:guardrail/abc"));
    }

    #[test]
    fn guardrail_versions_are_draft_or_a_number() {
        for ok in ["DRAFT", "1", "12", "99999999"] {
            assert!(guardrail_version_ok(ok), "{ok}");
        }
        for bad in ["draft", "0", "01", "123456789", "1.0", ""] {
            assert!(!guardrail_version_ok(bad), "{bad}");
        }
    }

    #[test]
    fn metadata_is_limited_in_count_and_alphabet() {
        let mut v = Vec::new();
        let ok: HashMap<String, String> =
            [("team".to_owned(), "search/ranking:v2".to_owned()), ("empty".to_owned(), String::new())].into();
        metadata(ok, &mut v);
        assert_eq!(v, []);
        let bad: HashMap<String, String> = [("tab\u{e9}".to_owned(), "x".to_owned()), ("k".to_owned(), "a;b".to_owned())].into();
        metadata(bad, &mut v);
        assert_eq!(v.len(), 2, "{v:?}");
        let many: HashMap<String, String> = (0..17).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        let mut v = Vec::new();
        metadata(many, &mut v);
        assert!(v[0].description.contains("at most 16 entries (Bedrock's limit), got 17"), "{v:?}");
    }
}
