//! Service tiers and latency modes between the domain and the AWS SDK, for
//! Converse (`serviceTier{type}`, `performanceConfig{latency}`) and for
//! InvokeModel (its `X-Amzn-Bedrock-Service-Tier` and
//! `X-Amzn-Bedrock-PerformanceConfig-Latency` headers), both ways.

use crate::domain::{Latency, ServiceTier};
use aws_sdk_bedrockruntime::types as sdk;

/// The tier's SDK name.
pub(super) fn tier_type(t: ServiceTier) -> sdk::ServiceTierType {
    match t {
        ServiceTier::Default => sdk::ServiceTierType::Default,
        ServiceTier::Priority => sdk::ServiceTierType::Priority,
        ServiceTier::Flex => sdk::ServiceTierType::Flex,
        ServiceTier::Reserved => sdk::ServiceTierType::Reserved,
    }
}

/// Converse's `serviceTier`.
pub(super) fn service_tier(t: ServiceTier) -> sdk::ServiceTier {
    sdk::ServiceTier::builder()
        .r#type(tier_type(t))
        .build()
        // The builder fails only without a type, which is set.
        .unwrap_or_else(|_| unreachable!("a service tier with its type"))
}

/// The latency mode's SDK name.
pub(super) fn latency_mode(l: Latency) -> sdk::PerformanceConfigLatency {
    match l {
        Latency::Standard => sdk::PerformanceConfigLatency::Standard,
        Latency::Optimized => sdk::PerformanceConfigLatency::Optimized,
    }
}

/// Converse's `performanceConfig`.
pub(super) fn performance_config(l: Latency) -> sdk::PerformanceConfiguration {
    sdk::PerformanceConfiguration::builder()
        .latency(latency_mode(l))
        .build()
}

/// The tier Bedrock says it served. A tier newer than this SDK has no
/// domain name yet, so it is not reported.
pub(super) fn served_tier(t: &sdk::ServiceTierType) -> Option<ServiceTier> {
    match t {
        sdk::ServiceTierType::Default => Some(ServiceTier::Default),
        sdk::ServiceTierType::Priority => Some(ServiceTier::Priority),
        sdk::ServiceTierType::Flex => Some(ServiceTier::Flex),
        sdk::ServiceTierType::Reserved => Some(ServiceTier::Reserved),
        _ => None,
    }
}

/// The latency mode Bedrock says it served.
pub(super) fn served_latency(l: &sdk::PerformanceConfigLatency) -> Option<Latency> {
    match l {
        sdk::PerformanceConfigLatency::Standard => Some(Latency::Standard),
        sdk::PerformanceConfigLatency::Optimized => Some(Latency::Optimized),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_and_latencies_round_trip() {
        for t in ServiceTier::ALL {
            assert_eq!(service_tier(t).r#type.as_str(), t.name());
            assert_eq!(served_tier(&tier_type(t)), Some(t));
        }
        for l in [Latency::Standard, Latency::Optimized] {
            assert_eq!(performance_config(l).latency.as_str(), l.name());
            assert_eq!(served_latency(&latency_mode(l)), Some(l));
        }
        assert_eq!(served_tier(&"platinum".into()), None);
    }
}
