//! The keys file (`--keys-file`): one TOML table per key, naming the key (or
//! its SHA-256 digest) and its policy. `deploy/keys.example.toml` names
//! every field.
//!
//! ```toml
//! [[keys]]
//! name = "search"
//! key_sha256 = "9c56cc51b374c3ba189210d5b6d4bf57790d351c96c47c02190ecf1e430635ab"
//! requests_per_minute = 600
//! tokens_per_day = 5_000_000
//! models = ["anthropic.claude-*"]
//! ```

use super::policy::{KeyLimits, KeyPolicy, ModelAllowList};
use crate::model::capabilities::ServiceTier;
use serde::Deserialize;
use std::sync::Arc;

/// The file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    #[serde(default)]
    keys: Vec<KeyEntry>,
}

/// One `[[keys]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    name: String,
    key: Option<String>,
    key_sha256: Option<String>,
    #[serde(default)]
    admin: bool,
    requests_per_minute: Option<u64>,
    tokens_per_minute: Option<u64>,
    tokens_per_day: Option<u64>,
    tokens_per_month: Option<u64>,
    models: Option<Vec<String>>,
    service_tier: Option<ServiceTier>,
    #[serde(default = "yes")]
    count_tokens: bool,
    #[serde(default = "yes")]
    list_models: bool,
}

fn yes() -> bool {
    true
}

/// A key's name: what logs, metrics and the limits store call it.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the name `{name}` must be 1 to 64 letters, digits, `-`, `_`, `.` or `@`"
        ))
    }
}

fn hex_digest(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(digest)
}

/// Parses the keys file into digests and policies. `source` names the file
/// in errors, which never include a key.
pub(super) fn parse(text: &str, source: &str) -> Result<Vec<([u8; 32], Arc<KeyPolicy>)>, String> {
    // The message and line only: TOML's own rendering quotes the line,
    // which may hold a key.
    let file: KeysFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| {
            text.as_bytes()[..s.start.min(text.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1
        });
        // serde's "invalid type" quotes the value, which may be a key.
        let message = e.message().trim();
        let message = match message.split_once("invalid type: ") {
            Some((before, rest)) => format!(
                "{before}wrong type ({})",
                rest.split_once(", expected ").map_or("", |(_, expected)| expected)
            ),
            None => message.to_owned(),
        };
        match line {
            Some(n) => format!("{source} line {n}: {message}"),
            None => format!("{source}: {message}"),
        }
    })?;
    let mut entries: Vec<([u8; 32], Arc<KeyPolicy>)> = Vec::with_capacity(file.keys.len());
    let mut names = std::collections::HashSet::new();
    let mut digests = std::collections::HashSet::new();
    for (i, entry) in file.keys.into_iter().enumerate() {
        let here = format!("{source}: keys[{i}] (`{}`)", entry.name);
        let fail = |why: String| format!("{here}: {why}");
        check_name(&entry.name).map_err(fail)?;
        if entry.name == super::ANONYMOUS {
            return Err(fail(format!(
                "`{}` names the callers of a gateway without keys; choose another name",
                super::ANONYMOUS
            )));
        }
        if !names.insert(entry.name.clone()) {
            return Err(fail("the name is used twice".into()));
        }
        let digest = match (&entry.key, &entry.key_sha256) {
            (Some(key), None) => {
                if key.len() < 16 {
                    return Err(fail(format!(
                        "the key is {} characters; use at least 16",
                        key.len()
                    )));
                }
                super::digest(key)
            }
            (None, Some(hex)) => hex_digest(hex).ok_or_else(|| {
                fail(
                    "key_sha256 must be 64 hexadecimal digits (`printf %s KEY | sha256sum`)".into(),
                )
            })?,
            _ => return Err(fail("set exactly one of `key` and `key_sha256`".into())),
        };
        if !digests.insert(digest) {
            return Err(fail("the same key is given to two names".into()));
        }
        let models =
            match &entry.models {
                None => None,
                Some(patterns) if patterns.is_empty() => return Err(fail(
                    "`models = []` would allow no model; leave `models` out to allow every model"
                        .into(),
                )),
                Some(patterns) => Some(ModelAllowList::new(patterns).map_err(fail)?),
            };
        let policy = KeyPolicy {
            name: Arc::from(entry.name),
            admin: entry.admin,
            limits: KeyLimits {
                requests_per_minute: entry.requests_per_minute,
                tokens_per_minute: entry.tokens_per_minute,
                tokens_per_day: entry.tokens_per_day,
                tokens_per_month: entry.tokens_per_month,
            },
            models,
            service_tier: entry.service_tier,
            count_tokens: entry.count_tokens,
            list_models: entry.list_models,
        };
        entries.push((digest, Arc::new(policy)));
    }
    if entries.is_empty() {
        return Err(format!("{source}: no keys found (add a `[[keys]]` table)"));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::policy::Rpc;

    const FULL: &str = r#"
# Every field.
[[keys]]
name = "ops"
key = "ops-key-0123456789abcdef"
admin = true

[[keys]]
name = "search"
key_sha256 = "9C56CC51B374C3BA189210D5B6D4BF57790D351C96C47C02190ECF1E430635AB"
requests_per_minute = 600
tokens_per_minute = 100_000
tokens_per_day = 5_000_000
tokens_per_month = 100_000_000
models = ["anthropic.claude-*", "amazon.titan-text-express-v1"]
service_tier = "flex"
count_tokens = false
list_models = false
"#;

    #[test]
    fn every_field_is_read() {
        let entries = parse(FULL, "keys.toml").unwrap();
        let (digest, ops) = &entries[0];
        assert_eq!(*digest, crate::auth::digest("ops-key-0123456789abcdef"));
        assert!(ops.admin && ops.allows(Rpc::CountTokens) && ops.models.is_none());
        let (digest, search) = &entries[1];
        assert_eq!(
            hex_digest("9c56cc51b374c3ba189210d5b6d4bf57790d351c96c47c02190ecf1e430635ab"),
            Some(*digest)
        );
        assert_eq!(
            search.limits,
            KeyLimits {
                requests_per_minute: Some(600),
                tokens_per_minute: Some(100_000),
                tokens_per_day: Some(5_000_000),
                tokens_per_month: Some(100_000_000),
            }
        );
        assert_eq!(search.service_tier, Some(ServiceTier::Flex));
        assert!(
            !search.allows(Rpc::CountTokens) && !search.allows(Rpc::ListModels) && !search.admin
        );
        assert!(search.allows_model(["amazon.titan-text-express-v1"]));
        assert!(!search.allows_model(["amazon.titan-text-lite-v1"]));
    }

    #[test]
    fn the_deployed_example_names_every_field_and_parses() {
        let text = include_str!("../../deploy/keys.example.toml");
        for field in [
            "name",
            "key",
            "key_sha256",
            "admin",
            "requests_per_minute",
            "tokens_per_minute",
            "tokens_per_day",
            "tokens_per_month",
            "models",
            "service_tier",
            "count_tokens",
            "list_models",
        ] {
            assert!(
                text.contains(&format!("\n{field} =")),
                "deploy/keys.example.toml lacks `{field}`"
            );
        }
        let entries = parse(text, "deploy/keys.example.toml").unwrap();
        let names: Vec<&str> = entries.iter().map(|(_, p)| &*p.name).collect();
        assert_eq!(names, ["ops", "search", "nightly-batch"]);
        assert_eq!(
            entries[1].0,
            crate::auth::digest("search-REPLACE-ME-0123456789abcdef")
        );
        assert!(entries[0].1.admin && !entries[1].1.admin);
        assert_eq!(
            entries[2].1.limits.requests_per_minute,
            Some(0),
            "0 lifts the flag's limit"
        );
    }

    #[test]
    fn broken_files_are_refused_with_the_entry_named_and_no_key_echoed() {
        let key = "key = \"0123456789abcdef0123\"";
        for (text, fragment) in [
            ("[[keys]]\nname = \"a\"\n", "exactly one of `key` and `key_sha256`"),
            (&format!("[[keys]]\nname = \"a\"\n{key}\nkey_sha256 = \"00\"\n"), "exactly one"),
            ("[[keys]]\nname = \"a\"\nkey_sha256 = \"xyz\"\n", "64 hexadecimal digits"),
            ("[[keys]]\nname = \"a\"\nkey = \"short\"\n", "at least 16"),
            (&format!("[[keys]]\nname = \"a b\"\n{key}\n"), "letters, digits"),
            (&format!("[[keys]]\nname = \"a\"\n{key}\n[[keys]]\nname = \"a\"\nkey = \"fedcba9876543210fedc\"\n"), "used twice"),
            (&format!("[[keys]]\nname = \"a\"\n{key}\n[[keys]]\nname = \"b\"\n{key}\n"), "two names"),
            (&format!("[[keys]]\nname = \"a\"\n{key}\nmodels = []\n"), "allow no model"),
            (&format!("[[keys]]\nname = \"a\"\n{key}\nmodels = [\"[x\"]\n"), "not a glob"),
            (&format!("[[keys]]\nname = \"a\"\n{key}\nservice_tier = \"gold\"\n"), "gold"),
            (&format!("[[keys]]\nname = \"a\"\n{key}\nrequests_per_hour = 5\n"), "requests_per_hour"),
            (&format!("[[keys]]\nname = \"anonymous\"\n{key}\n"), "without keys"),
            ("[[keys]]\nname = \"a\"\nkey = 1234567890123456789\n", "wrong type (a string)"),
            ("# nothing yet\n", "no keys found"),
            ("[[keys]\n", "keys.toml"),
        ] {
            let err = parse(text, "keys.toml").unwrap_err();
            assert!(err.contains(fragment), "{fragment}: {err}");
            assert!(err.starts_with("keys.toml"), "{err}");
            assert!(!err.contains("0123456789abcdef0123"), "{err}");
        }
    }
}
