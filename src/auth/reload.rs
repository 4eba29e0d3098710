//! Reloading the keys while serving: on SIGHUP, and when the file changes
//! on disk (a Kubernetes ConfigMap or Secret update swaps a symlink, which
//! file-change notifications miss, so the file is read again every
//! interval and compared by digest).
//!
//! A reload is atomic: the whole file parses, or nothing changes and the
//! error is logged (once per version of the file) while the old keys stay
//! in force.

use super::{ApiKeys, KeyRing};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where the keys came from, so they can be read again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `--keys-file`: TOML, a policy per key.
    Toml(PathBuf),
    /// `--api-keys-file`: `name:key` lines.
    List(PathBuf),
}

impl KeySource {
    /// The file's path.
    pub fn path(&self) -> &std::path::Path {
        match self {
            KeySource::Toml(p) | KeySource::List(p) => p,
        }
    }

    /// Reads and parses the file.
    pub fn load(&self) -> Result<ApiKeys, String> {
        let text = self.read()?;
        self.parse(&text)
    }

    fn read(&self) -> Result<String, String> {
        std::fs::read_to_string(self.path())
            .map_err(|e| format!("cannot read the keys file {}: {e}", self.path().display()))
    }

    fn parse(&self, text: &str) -> Result<ApiKeys, String> {
        let source = self.path().display().to_string();
        match self {
            KeySource::Toml(_) => ApiKeys::from_toml(text, &source),
            KeySource::List(_) => ApiKeys::parse(text, &source),
        }
    }
}

/// Keeps `ring` in step with `source` until `stop` turns true: the file is
/// read every `interval` and on SIGHUP, and a version that parses is put in
/// force after `before_swap` has seen it (the limits make room for new keys
/// there, so no call of a new key finds none).
pub async fn watch(
    source: KeySource,
    ring: KeyRing,
    interval: Duration,
    before_swap: impl Fn(&ApiKeys) + Send + 'static,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut seen = source.read().ok().map(|t| digest_of(&t));
    let mut unreadable: Option<String> = None;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        #[cfg(unix)]
        let signalled = async {
            match &mut hangup {
                Some(s) => s.recv().await.is_some(),
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let signalled = std::future::pending::<bool>();
        let forced = tokio::select! {
            _ = stop.changed() => return,
            _ = ticks.tick() => false,
            got = signalled => got,
        };
        let text = match source.read() {
            Ok(text) => {
                unreadable = None;
                text
            }
            Err(e) => {
                // Mid-swap, a ConfigMap's file can vanish for a moment: the
                // same error is logged once, not every interval.
                if forced || unreadable.as_ref() != Some(&e) {
                    tracing::error!(error = %e, "keys not reloaded; the keys in force stay");
                    unreadable = Some(e);
                }
                continue;
            }
        };
        let digest = digest_of(&text);
        if !forced && seen == Some(digest) {
            continue;
        }
        seen = Some(digest);
        match source.parse(&text) {
            Ok(keys) => {
                before_swap(&keys);
                let names: Vec<&str> = keys.names().map(|n| &**n).collect();
                tracing::info!(file = %source.path().display(), keys = ?names, "keys reloaded");
                ring.replace(Arc::new(keys));
            }
            Err(e) => tracing::error!(error = %e, "keys file not reloaded; the keys in force stay"),
        }
    }
}

fn digest_of(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}
