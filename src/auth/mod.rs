//! API keys: who is calling, and what they may do.
//!
//! Keys come from the keys file (`--keys-file`, TOML, a policy per key: see
//! `keys_file`), a plain list (`--api-keys-file`, `name:key` per line) or an
//! environment variable (`name:key,name:key`). Only their SHA-256 digests are
//! kept in memory, and a presented key is compared with every stored digest
//! in constant time, with no early exit, so neither timing nor a memory dump
//! reveals a key. Keys are never logged; their names are, and label metrics.
//!
//! The keys in force sit in a [`KeyRing`]: an `ArcSwap` the edge reads
//! without a lock, replaced whole when the file is reloaded (`reload`).

mod keys_file;
pub mod policy;
pub mod reload;

pub use policy::{KeyLimits, KeyPolicy, ModelAllowList, Rpc};

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The name used for calls when authentication is off.
pub const ANONYMOUS: &str = "anonymous";

/// The configured keys, hashed, each with its policy.
pub struct ApiKeys {
    entries: Vec<([u8; 32], Arc<KeyPolicy>)>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: digests stay out of logs too.
        f.debug_list()
            .entries(self.entries.iter().map(|(_, p)| &p.name))
            .finish()
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl ApiKeys {
    /// Parses `name:key` entries separated by newlines or commas. Blank
    /// entries and `#` comments are skipped. `source` names where the text
    /// came from, for error messages (which never include a key).
    pub fn parse(text: &str, source: &str) -> Result<Self, String> {
        let mut entries: Vec<([u8; 32], Arc<KeyPolicy>)> = Vec::new();
        // Comments are whole lines, removed before commas split entries, so a
        // comment may contain commas. Errors name the line (files) and the
        // entry within it (inline lists are one line).
        let lines = text
            .lines()
            .enumerate()
            .map(|(i, line)| (i + 1, line.trim()))
            .filter(|(_, line)| !line.starts_with('#'));
        for (line_no, line) in lines {
            let here = |n: usize| format!("{source} line {line_no}, entry {n}");
            for (n, entry) in line
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .enumerate()
            {
                let (name, key) = entry
                    .split_once(':')
                    .ok_or_else(|| format!("{}: is not `name:key`", here(n + 1)))?;
                let (name, key) = (name.trim(), key.trim());
                if name.is_empty() || key.is_empty() {
                    return Err(format!("{}: has an empty name or key", here(n + 1)));
                }
                if key.len() < 16 {
                    return Err(format!(
                        "{}: the key named `{name}` is {} characters; use at least 16",
                        here(n + 1),
                        key.len()
                    ));
                }
                if entries.iter().any(|(_, existing)| &*existing.name == name) {
                    return Err(format!("{}: the name `{name}` is used twice", here(n + 1)));
                }
                entries.push((digest(key), Arc::new(KeyPolicy::open(Arc::from(name)))));
            }
        }
        if entries.is_empty() {
            return Err(format!("{source}: no keys found"));
        }
        Ok(ApiKeys { entries })
    }

    /// Parses the keys file (`--keys-file`): TOML, a policy per key.
    /// `source` names the file in errors, which never include a key.
    pub fn from_toml(text: &str, source: &str) -> Result<Self, String> {
        keys_file::parse(text, source).map(|entries| ApiKeys { entries })
    }

    /// The names of the keys.
    pub fn names(&self) -> impl Iterator<Item = &Arc<str>> {
        self.entries.iter().map(|(_, p)| &p.name)
    }

    /// The keys' policies.
    pub fn policies(&self) -> impl Iterator<Item = &Arc<KeyPolicy>> {
        self.entries.iter().map(|(_, p)| p)
    }

    /// The policy of the key named `name`.
    pub fn policy(&self, name: &str) -> Option<&Arc<KeyPolicy>> {
        self.policies().find(|p| &*p.name == name)
    }

    /// The policy of the key presented, if it is one of ours.
    pub fn identify(&self, presented: &str) -> Option<Arc<KeyPolicy>> {
        let presented = digest(presented);
        let mut found = None;
        // Compare against every key, always, so the time taken says nothing.
        for (stored, policy) in &self.entries {
            if bool::from(stored.ct_eq(&presented)) {
                found = Some(policy);
            }
        }
        found.cloned()
    }
}

/// The keys in force, replaced whole on reload; read without a lock.
#[derive(Debug, Clone)]
pub struct KeyRing(Arc<ArcSwap<ApiKeys>>);

impl KeyRing {
    /// A ring holding `keys`.
    pub fn new(keys: Arc<ApiKeys>) -> Self {
        KeyRing(Arc::new(ArcSwap::new(keys)))
    }

    /// The keys in force now.
    pub fn current(&self) -> Arc<ApiKeys> {
        self.0.load_full()
    }

    /// A guard on the keys in force now, for one lookup (cheaper than
    /// [`KeyRing::current`]: no reference count is taken).
    pub fn load(&self) -> arc_swap::Guard<Arc<ApiKeys>> {
        self.0.load()
    }

    /// Puts `keys` in force for every call from now on.
    pub fn replace(&self, keys: Arc<ApiKeys>) {
        self.0.store(keys);
    }
}

/// Extracts the key from an `authorization` header value: `Bearer <key>`.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, key) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_by_value_and_named() {
        let keys = ApiKeys::parse(
            "# team keys, one per line\nbilling:0123456789abcdef0123\n\nsearch: fedcba9876543210fedc ",
            "test",
        )
        .unwrap();
        let name = |k: &str| keys.identify(k).map(|p| p.name.to_string());
        assert_eq!(name("0123456789abcdef0123").as_deref(), Some("billing"));
        assert_eq!(name("fedcba9876543210fedc").as_deref(), Some("search"));
        assert_eq!(name("0123456789abcdef012"), None);
        assert_eq!(name(""), None);
        assert!(
            !format!("{keys:?}").contains("0123"),
            "keys never appear in Debug"
        );
    }

    #[test]
    fn bad_key_lists_are_refused_without_echoing_keys() {
        for (text, fragment) in [
            ("nocolon", "not `name:key`"),
            ("a:short", "at least 16"),
            ("a:0123456789abcdef,a:fedcba9876543210", "used twice"),
            ("# nothing", "no keys"),
        ] {
            let err = ApiKeys::parse(text, "BEDROCK_GATEWAY_API_KEYS").unwrap_err();
            assert!(err.contains(fragment), "{err}");
            assert!(!err.contains("0123456789abcdef"), "{err}");
        }
    }

    #[test]
    fn errors_name_the_line_and_entry() {
        let text = "# team keys\nbilling:0123456789abcdef0123\n\nsearch:short\n";
        let err = ApiKeys::parse(text, "keys.txt").unwrap_err();
        assert!(err.starts_with("keys.txt line 4, entry 1:"), "{err}");
        let err = ApiKeys::parse("a:0123456789abcdef0000,b", "--api-keys").unwrap_err();
        assert!(err.starts_with("--api-keys line 1, entry 2:"), "{err}");
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("abc"), None);
    }
}
