//! API keys: who is calling.
//!
//! Keys come from a file (`name:key` per line) or an environment variable
//! (`name:key,name:key`). Only their SHA-256 digests are kept in memory, and a
//! presented key is compared with every stored digest in constant time, with
//! no early exit, so neither timing nor a memory dump reveals a key. Keys are
//! never logged; their names are, and label metrics.

use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The name used for calls when authentication is off.
pub const ANONYMOUS: &str = "anonymous";

/// The configured keys, hashed.
pub struct ApiKeys {
    entries: Vec<([u8; 32], Arc<str>)>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: digests stay out of logs too.
        f.debug_list().entries(self.entries.iter().map(|(_, n)| n)).finish()
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
        let mut entries: Vec<([u8; 32], Arc<str>)> = Vec::new();
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
            for (n, entry) in line.split(',').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
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
                if entries.iter().any(|(_, existing)| &**existing == name) {
                    return Err(format!("{}: the name `{name}` is used twice", here(n + 1)));
                }
                entries.push((digest(key), Arc::from(name)));
            }
        }
        if entries.is_empty() {
            return Err(format!("{source}: no keys found"));
        }
        Ok(ApiKeys { entries })
    }

    /// The names of the keys.
    pub fn names(&self) -> impl Iterator<Item = &Arc<str>> {
        self.entries.iter().map(|(_, n)| n)
    }

    /// The name of the key presented, if it is one of ours.
    pub fn identify(&self, presented: &str) -> Option<Arc<str>> {
        let presented = digest(presented);
        let mut found = None;
        // Compare against every key, always, so the time taken says nothing.
        for (stored, name) in &self.entries {
            if bool::from(stored.ct_eq(&presented)) {
                found = Some(name.clone());
            }
        }
        found
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
        assert_eq!(keys.identify("0123456789abcdef0123").as_deref(), Some("billing"));
        assert_eq!(keys.identify("fedcba9876543210fedc").as_deref(), Some("search"));
        assert_eq!(keys.identify("0123456789abcdef012"), None);
        assert_eq!(keys.identify(""), None);
        assert!(!format!("{keys:?}").contains("0123"), "keys never appear in Debug");
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
