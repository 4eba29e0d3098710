//! What each model accepts beyond what the catalogue says: one table,
//! `data/model-capabilities.toml`, parsed once, matched by glob pattern.
//!
//! The table is compiled into the binary and parsed on first use into a
//! `'static` [`CapabilityTable`]; a model's row is found once per catalogue
//! snapshot (see `directory`), so a request only follows a pointer.

use super::family::Family;
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::sync::LazyLock;

/// The table's source, compiled in.
pub const TABLE_TOML: &str = include_str!("../../data/model-capabilities.toml");

/// Which stop sequences a model accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StopSequenceRule {
    /// Any non-empty strings (Converse's own limits apply).
    #[default]
    Any,
    /// Titan Text: at most one, and only `User:` or a run of `|`.
    Titan,
}

/// Whether temperature and top_p may be sent together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SamplingRule {
    /// Both may be set.
    #[default]
    Both,
    /// One or the other (Claude 3.7 and later).
    Either,
}

/// A prompt-cache time to live Bedrock offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
pub enum CacheTtl {
    /// Five minutes, Bedrock's default.
    #[serde(rename = "5m")]
    FiveMinutes,
    /// One hour.
    #[serde(rename = "1h")]
    OneHour,
}

impl CacheTtl {
    /// The table's and Bedrock's spelling: "5m" or "1h".
    pub fn name(self) -> &'static str {
        match self {
            CacheTtl::FiveMinutes => "5m",
            CacheTtl::OneHour => "1h",
        }
    }

    /// The contract's name: "CACHE_TTL_5_MINUTES", ...
    pub fn contract_name(self) -> &'static str {
        match self {
            CacheTtl::FiveMinutes => "CACHE_TTL_5_MINUTES",
            CacheTtl::OneHour => "CACHE_TTL_1_HOUR",
        }
    }

    /// How long a cached prefix lives.
    pub fn duration(self) -> std::time::Duration {
        match self {
            CacheTtl::FiveMinutes => std::time::Duration::from_secs(300),
            CacheTtl::OneHour => std::time::Duration::from_secs(3600),
        }
    }
}

/// A Bedrock service tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceTier {
    /// The standard tier.
    Default,
    /// Faster, at a higher price.
    Priority,
    /// Cheaper, served when capacity allows.
    Flex,
    /// Capacity reserved for the account.
    Reserved,
}

impl ServiceTier {
    /// Every tier.
    pub const ALL: [ServiceTier; 4] =
        [ServiceTier::Default, ServiceTier::Priority, ServiceTier::Flex, ServiceTier::Reserved];

    /// Bedrock's spelling, also the table's and the metrics label: "default", ...
    pub fn name(self) -> &'static str {
        match self {
            ServiceTier::Default => "default",
            ServiceTier::Priority => "priority",
            ServiceTier::Flex => "flex",
            ServiceTier::Reserved => "reserved",
        }
    }

    /// The contract's name: "SERVICE_TIER_FLEX", ...
    pub fn contract_name(self) -> &'static str {
        match self {
            ServiceTier::Default => "SERVICE_TIER_DEFAULT",
            ServiceTier::Priority => "SERVICE_TIER_PRIORITY",
            ServiceTier::Flex => "SERVICE_TIER_FLEX",
            ServiceTier::Reserved => "SERVICE_TIER_RESERVED",
        }
    }
}

/// How a request may make the model call a tool (Converse `toolChoice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolChoiceMode {
    /// The model decides (Bedrock's default; every tool-use model).
    Auto,
    /// Some tool, of the model's choice.
    Any,
    /// A named tool.
    Tool,
}

impl ToolChoiceMode {
    /// The contract's name: "TOOL_CHOICE_MODE_ANY", ...
    pub fn contract_name(self) -> &'static str {
        match self {
            ToolChoiceMode::Auto => "TOOL_CHOICE_MODE_AUTO",
            ToolChoiceMode::Any => "TOOL_CHOICE_MODE_ANY",
            ToolChoiceMode::Tool => "TOOL_CHOICE_MODE_TOOL",
        }
    }
}

/// One row of the table: what one group of models accepts. Field meanings
/// and defaults are documented at the top of the TOML file.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Glob patterns over foundation model IDs.
    #[serde(rename = "match")]
    pub patterns: Vec<String>,
    /// The models' name, for messages ("Titan Text Express").
    pub name: String,
    /// The native InvokeModel body family; `None`: Converse only.
    #[serde(default)]
    pub native: Option<Family>,
    /// The most output tokens one call may ask for.
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    /// Whether a system prompt is accepted.
    #[serde(default = "yes")]
    pub system_prompt: bool,
    /// Which stop sequences are accepted.
    #[serde(default)]
    pub stop_sequences: StopSequenceRule,
    /// Whether the native body carries stop sequences.
    #[serde(default = "yes")]
    pub native_stop_sequences: bool,
    /// Whether temperature and top_p may go together.
    #[serde(default)]
    pub sampling: SamplingRule,
    /// Converse tool use.
    #[serde(default)]
    pub tool_use: bool,
    /// The tool-choice modes accepted besides the default (auto).
    #[serde(default = "auto_only")]
    pub tool_choice: Vec<ToolChoiceMode>,
    /// Converse document blocks.
    #[serde(default)]
    pub document_input: bool,
    /// Extended thinking with a budget.
    #[serde(default)]
    pub reasoning: bool,
    /// The cache-point TTLs accepted; empty: no prompt caching.
    #[serde(default)]
    pub prompt_caching: Vec<CacheTtl>,
    /// Converse guardrails.
    #[serde(default)]
    pub guardrails: bool,
    /// Structured output (a JSON schema for the answer).
    #[serde(default)]
    pub structured_output: bool,
    /// Latency-optimized inference.
    #[serde(default)]
    pub latency_optimized: bool,
    /// The service tiers offered.
    #[serde(default = "default_tiers")]
    pub service_tiers: Vec<ServiceTier>,
    /// Bedrock's CountTokens API.
    #[serde(default)]
    pub count_tokens: bool,
}

fn yes() -> bool {
    true
}

fn auto_only() -> Vec<ToolChoiceMode> {
    vec![ToolChoiceMode::Auto]
}

fn default_tiers() -> Vec<ServiceTier> {
    vec![ServiceTier::Default]
}

/// The parsed table: its rows in order, and one glob set over all their
/// patterns.
#[derive(Debug)]
pub struct CapabilityTable {
    rows: Vec<Capabilities>,
    globs: GlobSet,
    /// For each glob in `globs`, the row it belongs to.
    row_of_glob: Vec<usize>,
}

/// Why the table could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableError(pub String);

impl CapabilityTable {
    /// Parses and checks a table: every pattern is a valid glob, and the
    /// last row matches everything, so every model has a row.
    pub fn parse(toml_text: &str) -> Result<Self, TableError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            model: Vec<Capabilities>,
        }
        let rows = toml::from_str::<File>(toml_text)
            .map_err(|e| TableError(e.to_string()))?
            .model;
        let mut builder = GlobSetBuilder::new();
        let mut row_of_glob = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            if row.patterns.is_empty() {
                return Err(TableError(format!(
                    "row {:?} has no `match` pattern",
                    row.name
                )));
            }
            for p in &row.patterns {
                let glob =
                    Glob::new(p).map_err(|e| TableError(format!("row {:?}: {e}", row.name)))?;
                builder.add(glob);
                row_of_glob.push(i);
            }
        }
        if rows.last().is_none_or(|r| r.patterns != ["*"]) {
            return Err(TableError(
                "the last row must be the catch-all `match = [\"*\"]`".into(),
            ));
        }
        let globs = builder.build().map_err(|e| TableError(e.to_string()))?;
        Ok(CapabilityTable {
            rows,
            globs,
            row_of_glob,
        })
    }

    /// The table compiled into the binary.
    pub fn shipped() -> &'static CapabilityTable {
        static TABLE: LazyLock<CapabilityTable> = LazyLock::new(|| {
            CapabilityTable::parse(TABLE_TOML)
                .expect("data/model-capabilities.toml is checked by a unit test")
        });
        &TABLE
    }

    /// The first row matching a foundation model ID; the catch-all row when
    /// no other does.
    pub fn lookup(&self, model_id: &str) -> &Capabilities {
        let row = self
            .globs
            .matches(model_id)
            .into_iter()
            .map(|g| self.row_of_glob[g])
            .min()
            .unwrap_or(self.rows.len() - 1);
        &self.rows[row]
    }

    /// The catch-all row: the rules for a model the table does not know, and
    /// for prompt routers, whose models vary.
    pub fn fallback(&self) -> &Capabilities {
        self.rows.last().expect("parse checks there is a last row")
    }

    /// Whether `caps` is the catch-all row.
    pub fn is_fallback(&self, caps: &Capabilities) -> bool {
        std::ptr::eq(caps, self.fallback())
    }

    /// Every row, in order.
    pub fn rows(&self) -> &[Capabilities] {
        &self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::catalogue::Catalogue;

    #[test]
    fn the_shipped_table_parses() {
        let t = CapabilityTable::parse(TABLE_TOML).unwrap();
        assert!(t.rows().len() > 10);
    }

    #[test]
    fn every_text_model_of_the_catalogue_has_a_row_of_its_own() {
        let table = CapabilityTable::shipped();
        let catalogue = Catalogue::seed();
        let mut missing = Vec::new();
        for m in catalogue.models() {
            if m.output_modalities.iter().any(|o| o == "TEXT")
                && table.is_fallback(table.lookup(&m.model_id))
            {
                missing.push(m.model_id.clone());
            }
        }
        assert!(
            missing.is_empty(),
            "text models without a row in data/model-capabilities.toml: {missing:?}"
        );
    }

    #[test]
    fn rows_are_matched_in_order_first_wins() {
        let t = CapabilityTable::shipped();
        assert_eq!(
            t.lookup("amazon.titan-text-express-v1:0:8k")
                .max_output_tokens,
            Some(8192)
        );
        assert_eq!(
            t.lookup("amazon.titan-tg1-large").stop_sequences,
            StopSequenceRule::Titan
        );
        assert_eq!(
            t.lookup("anthropic.claude-sonnet-4-20250514-v1:0").name,
            "Claude 4 (Sonnet 4, Opus 4, Opus 4.1)"
        );
        assert_eq!(
            t.lookup("anthropic.claude-sonnet-4-5-20250929-v1:0").name,
            "Claude 4.5 and later"
        );
        assert_eq!(t.lookup("mistral.mistral-large-2407-v1:0").native, None);
        assert_eq!(
            t.lookup("mistral.mistral-large-2402-v1:0").native,
            Some(Family::Mistral)
        );
        assert!(t.is_fallback(t.lookup("someone.new-model-v1:0")));
    }

    #[test]
    fn a_broken_table_is_refused_with_the_reason() {
        let e = CapabilityTable::parse("[[model]]\nmatch = [\"*\"]\nname = \"x\"\ntools = true\n")
            .unwrap_err();
        assert!(e.0.contains("tools"), "{e:?}");
        let e = CapabilityTable::parse("[[model]]\nmatch = [\"a*\"]\nname = \"x\"\n").unwrap_err();
        assert!(e.0.contains("catch-all"), "{e:?}");
        let e = CapabilityTable::parse(
            "[[model]]\nmatch = [\"a[\"]\nname = \"x\"\n[[model]]\nmatch = [\"*\"]\nname = \"y\"\n",
        )
        .unwrap_err();
        assert!(e.0.contains("\"x\""), "{e:?}");
    }
}
