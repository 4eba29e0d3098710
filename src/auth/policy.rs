//! What one key may do: its limits, its models, its RPCs, its default tier.
//!
//! A policy is plain data, built once when the keys are loaded (or
//! reloaded) and shared by every call of the key as an `Arc`. Limits left
//! unset fall back to the server's flags (`--rate-limit-*`), so one file can
//! give most keys the fleet's defaults and a few their own.

use crate::model::capabilities::ServiceTier;
use globset::{GlobSet, GlobSetBuilder};
use std::sync::Arc;

/// A key's own limits; `None` means the server's flag (for the per-minute
/// limits) or no limit (for the budgets, which have no flag).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyLimits {
    /// Requests per minute.
    pub requests_per_minute: Option<u64>,
    /// Tokens (input + output) per minute.
    pub tokens_per_minute: Option<u64>,
    /// Tokens per UTC day.
    pub tokens_per_day: Option<u64>,
    /// Tokens per UTC calendar month.
    pub tokens_per_month: Option<u64>,
}

/// The RPCs a policy can withhold (generation is what a key is for, so it
/// is always allowed, within the model list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rpc {
    /// `CountTokens`.
    CountTokens,
    /// `ListModels` and `GetModel`.
    ListModels,
    /// The admin service (`AdminService/*`).
    Admin,
}

/// The models a key may use: exact identifiers or glob patterns.
#[derive(Clone)]
pub struct ModelAllowList {
    patterns: Vec<String>,
    set: GlobSet,
}

impl std::fmt::Debug for ModelAllowList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.patterns).finish()
    }
}

impl PartialEq for ModelAllowList {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns
    }
}

impl ModelAllowList {
    /// Compiles `patterns` (`*` matches any run of characters, `?` one;
    /// everything else, including `/` and `:` of ARNs, literally).
    pub fn new(patterns: &[String]) -> Result<Self, String> {
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            let glob = globset::GlobBuilder::new(pattern)
                // Model IDs and ARNs are not paths: `*` crosses `/` too.
                .literal_separator(false)
                .build()
                .map_err(|e| format!("the model pattern `{pattern}` is not a glob: {e}"))?;
            builder.add(glob);
        }
        let set = builder
            .build()
            .map_err(|e| format!("the model patterns do not compile: {e}"))?;
        Ok(ModelAllowList {
            patterns: patterns.to_vec(),
            set,
        })
    }

    /// Whether any pattern matches one of `identifiers`.
    pub fn allows<'a>(&self, identifiers: impl IntoIterator<Item = &'a str>) -> bool {
        identifiers.into_iter().any(|id| self.set.is_match(id))
    }

    /// The patterns, as written.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// One key's policy.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPolicy {
    /// The key's name: its label in logs and metrics, and its identity in
    /// the limits store.
    pub name: Arc<str>,
    /// May call the admin service.
    pub admin: bool,
    /// Its own limits.
    pub limits: KeyLimits,
    /// The models it may use; `None`: any.
    pub models: Option<ModelAllowList>,
    /// The service tier its calls ask for when they name none (and the
    /// model offers it).
    pub service_tier: Option<ServiceTier>,
    /// May call `CountTokens`.
    pub count_tokens: bool,
    /// May call `ListModels` and `GetModel`.
    pub list_models: bool,
}

impl KeyPolicy {
    /// A key with no policy of its own: the server's limits, any model,
    /// every RPC but the admin service.
    pub fn open(name: Arc<str>) -> Self {
        KeyPolicy {
            name,
            admin: false,
            limits: KeyLimits::default(),
            models: None,
            service_tier: None,
            count_tokens: true,
            list_models: true,
        }
    }

    /// Whether the policy allows `rpc`.
    pub fn allows(&self, rpc: Rpc) -> bool {
        match rpc {
            Rpc::CountTokens => self.count_tokens,
            Rpc::ListModels => self.list_models,
            Rpc::Admin => self.admin,
        }
    }

    /// Why `rpc` is refused, for the PERMISSION_DENIED message; names the
    /// keys-file field that would allow it.
    pub fn refusal(&self, rpc: Rpc) -> String {
        let (what, field) = match rpc {
            Rpc::CountTokens => ("CountTokens", "count_tokens = true"),
            Rpc::ListModels => ("ListModels and GetModel", "list_models = true"),
            Rpc::Admin => ("the admin service", "admin = true"),
        };
        format!(
            "key `{}` may not call {what}; its entry in the keys file needs `{field}`",
            self.name
        )
    }

    /// Whether the key may use a model known by `identifiers` (what the
    /// caller asked for, and the foundation model behind it).
    pub fn allows_model<'a>(&self, identifiers: impl IntoIterator<Item = &'a str>) -> bool {
        self.models.as_ref().is_none_or(|m| m.allows(identifiers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(patterns: &[&str]) -> ModelAllowList {
        ModelAllowList::new(&patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn model_patterns_match_ids_and_arns_across_separators() {
        let l = list(&["anthropic.claude-*", "amazon.titan-text-express-v1"]);
        assert!(l.allows(["anthropic.claude-3-haiku-20240307-v1:0"]));
        assert!(l.allows(["amazon.titan-text-express-v1"]));
        assert!(!l.allows(["amazon.titan-text-lite-v1"]));
        assert!(
            !l.allows(["us.anthropic.claude-3-haiku-20240307-v1:0"]),
            "exact prefix"
        );
        let arns = list(&["arn:aws:bedrock:*:123456789012:application-inference-profile/*"]);
        assert!(arns
            .allows(["arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc"]));
        assert!(list(&["*"]).allows(["anything/at:all"]));
    }

    #[test]
    fn bad_patterns_are_named() {
        let err = ModelAllowList::new(&["anthropic.[claude".to_string()]).unwrap_err();
        assert!(err.contains("anthropic.[claude"), "{err}");
    }

    #[test]
    fn open_policies_allow_everything_but_admin() {
        let p = KeyPolicy::open(Arc::from("a"));
        assert!(p.allows(Rpc::CountTokens) && p.allows(Rpc::ListModels));
        assert!(!p.allows(Rpc::Admin));
        assert!(p.refusal(Rpc::Admin).contains("admin = true"));
        assert!(p.allows_model(["x"]));
    }
}
