//! The model directory: which models exist, and what an identifier resolves
//! to. One per backend, over a [`ModelSource`] (the seed catalogue offline,
//! Bedrock's control plane online).
//!
//! A fetched [`Listing`] becomes one immutable snapshot held in an
//! `ArcSwap`: readers on the request path load it without a lock, and every
//! listed model's [`ModelProfile`] (catalogue entry plus capability row) is
//! built when the snapshot is, not per request. A snapshot older than the
//! TTL is refreshed by one task at a time while everyone else keeps using
//! the stale one, so generation never waits on the control plane.
//!
//! Application inference profiles hide their model. Those the account lists
//! arrive with the snapshot; one that is not listed (another account's, or
//! one created since) is read once with GetInferenceProfile and remembered
//! for the TTL (a refusal for [`NEGATIVE_TTL`]), so a generation call pays
//! for the control plane at most once per profile per TTL.

use super::capabilities::CapabilityTable;
use super::catalogue::{Catalogue, ModelFilter, ModelInfo};
use super::identifier::{model_id_of_arn, Identifier, IdentifierKind};
use super::target::{ModelArns, ModelProfile, Target};
use crate::error::{ErrorKind, GatewayError};
use arc_swap::{ArcSwap, ArcSwapOption};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a refused GetInferenceProfile (not found, access denied) is
/// remembered: long enough that a client retrying in a loop does not turn
/// every call into a control-plane call, short enough that a profile created
/// a moment ago is soon usable.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(30);

/// The most application profiles remembered from one-by-one lookups. Past
/// it, expired entries are dropped first, and a new answer is not
/// remembered if none has expired: a client sending endless made-up ARNs
/// cannot grow the gateway's memory.
pub const MAX_LOOKED_UP: usize = 1024;

/// How long after a failed catalogue refresh the stale snapshot is served
/// without trying again. (Without a snapshot, ListModels, GetModel and the
/// readiness probe still try at once: there is nothing to serve instead.)
pub const REFRESH_PAUSE: Duration = Duration::from_secs(10);

/// An inference profile and the foundation models it routes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InferenceProfile {
    /// The profile's ID (`us.anthropic…`, or an application profile's ID).
    pub id: String,
    /// The profile's ARN.
    pub arn: String,
    /// The foundation-model ARNs behind it, one per region.
    pub model_arns: Vec<String>,
}

/// One fetch from a model source.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// The foundation models (ListFoundationModels).
    pub models: Vec<ModelInfo>,
    /// The system-defined inference profiles (ListInferenceProfiles, SYSTEM_DEFINED).
    pub system_profiles: Vec<InferenceProfile>,
    /// The account's application inference profiles (ListInferenceProfiles, APPLICATION).
    pub application_profiles: Vec<InferenceProfile>,
}

/// Where a directory's models come from.
#[async_trait::async_trait]
pub trait ModelSource: Send + Sync + std::fmt::Debug + 'static {
    /// Everything listable, in one go.
    async fn list(&self) -> Result<Listing, GatewayError>;

    /// One inference profile by ARN (GetInferenceProfile): NOT_FOUND when it
    /// does not exist, PERMISSION_DENIED when it may not be read.
    async fn inference_profile(&self, arn: &str) -> Result<InferenceProfile, GatewayError>;

    /// One foundation model the listing lacks (GetFoundationModel), for
    /// GetModel. NOT_FOUND unless the source can look models up one by one.
    async fn foundation_model(&self, model_id: &str) -> Result<ModelInfo, GatewayError> {
        Err(GatewayError::model_not_found(model_id))
    }
}

/// How a directory treats identifiers its snapshot does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// The snapshot is the whole truth: anything else is NOT_FOUND (the
    /// simulated backend).
    NotFound,
    /// The snapshot may lag (a model released since, a custom model): pass
    /// the identifier to the backend under the table's rules (Bedrock).
    PassThrough,
}

/// A directory's settings.
#[derive(Debug, Clone, Copy)]
pub struct DirectoryConfig {
    /// How long a snapshot (and a looked-up profile) is used before refresh.
    pub ttl: Duration,
    /// What an unknown identifier gets.
    pub unknown: Unknown,
    /// The geography prefix of this region's system profiles (`us`), for
    /// routing models without on-demand throughput; `None`: no routing.
    pub geography: Option<&'static str>,
}

/// An application profile, resolved.
#[derive(Debug, Clone)]
struct ResolvedProfile {
    model_arns: ModelArns,
    model: Arc<ModelProfile>,
}

/// One snapshot of the source, with every model's profile built.
#[derive(Debug)]
struct Snapshot {
    catalogue: Catalogue,
    /// By foundation model ID.
    models: HashMap<String, Arc<ModelProfile>>,
    /// System profile ID → its model ARNs.
    system_profiles: HashMap<String, ModelArns>,
    /// Application profile ARN → its model.
    application_profiles: HashMap<String, ResolvedProfile>,
    /// When the snapshot goes stale; `None`: never (a fixed listing).
    stale_at: Option<Instant>,
}

/// What the snapshot alone says about an identifier.
enum Resolution {
    /// Resolved.
    Done(Target),
    /// An application profile the snapshot does not hold: ask the source.
    LookUp {
        /// The identifier, already shared.
        requested: Arc<str>,
    },
}

impl Snapshot {
    fn is_stale(&self) -> bool {
        self.stale_at.is_some_and(|at| Instant::now() >= at)
    }
}

/// A GetInferenceProfile answer, remembered.
#[derive(Debug, Clone)]
struct LookedUp {
    result: Result<ResolvedProfile, GatewayError>,
    until: Instant,
}

/// The directory: a cached, resolving view of a [`ModelSource`].
#[derive(Debug)]
pub struct ModelDirectory {
    source: Arc<dyn ModelSource>,
    config: DirectoryConfig,
    table: &'static CapabilityTable,
    current: ArcSwapOption<Snapshot>,
    refreshing: Arc<tokio::sync::Mutex<()>>,
    /// After a failed refresh, no other is started before this instant
    /// (milliseconds since `born`): a control plane that is down or refusing
    /// is asked again every [`REFRESH_PAUSE`] at most, not on every call.
    refresh_paused_until_ms: std::sync::atomic::AtomicU64,
    born: Instant,
    looked_up: ArcSwap<HashMap<String, LookedUp>>,
}

impl ModelDirectory {
    /// A directory over `source`; nothing is fetched until first use.
    pub fn new(source: Arc<dyn ModelSource>, config: DirectoryConfig) -> Arc<Self> {
        Arc::new(ModelDirectory {
            source,
            config,
            table: CapabilityTable::shipped(),
            current: ArcSwapOption::empty(),
            refreshing: Arc::new(tokio::sync::Mutex::new(())),
            refresh_paused_until_ms: std::sync::atomic::AtomicU64::new(0),
            born: Instant::now(),
            looked_up: ArcSwap::from_pointee(HashMap::new()),
        })
    }

    /// A directory whose snapshot is built now from a fixed listing and never
    /// goes stale (the simulated backend, tests).
    pub fn fixed(listing: Listing, unknown: Unknown) -> Arc<Self> {
        #[derive(Debug)]
        struct Fixed(Listing);
        #[async_trait::async_trait]
        impl ModelSource for Fixed {
            async fn list(&self) -> Result<Listing, GatewayError> {
                Ok(self.0.clone())
            }
            async fn inference_profile(&self, arn: &str) -> Result<InferenceProfile, GatewayError> {
                Err(profile_not_found(arn))
            }
        }
        let config = DirectoryConfig {
            ttl: Duration::MAX,
            unknown,
            geography: None,
        };
        let directory = ModelDirectory::new(Arc::new(Fixed(listing.clone())), config);
        directory.store(listing);
        directory
    }

    /// The current snapshot without waiting: possibly stale, possibly none.
    /// A stale or missing snapshot starts one background refresh. A guard,
    /// not a clone: no shared reference count is touched per call.
    fn peek(self: &Arc<Self>) -> arc_swap::Guard<Option<Arc<Snapshot>>> {
        let current = self.current.load();
        if current.as_ref().is_none_or(|s| s.is_stale()) && !self.refresh_paused() {
            if let Ok(guard) = self.refreshing.clone().try_lock_owned() {
                let this = self.clone();
                tokio::spawn(async move {
                    let _guard = guard;
                    if let Err(e) = this.fetch_and_store().await {
                        tracing::warn!(error = %e, "model catalogue refresh failed; keeping the previous one");
                    }
                });
            }
        }
        current
    }

    /// A fresh snapshot, fetching if the current one is missing or stale. If
    /// a refresh is already running, waits for it instead of starting
    /// another. A failed refresh falls back to the stale snapshot.
    async fn fresh(&self) -> Result<Arc<Snapshot>, GatewayError> {
        if let Some(s) = self.current.load_full().filter(|s| !s.is_stale()) {
            return Ok(s);
        }
        if self.refresh_paused() {
            if let Some(stale) = self.current.load_full() {
                return Ok(stale);
            }
        }
        let _guard = self.refreshing.lock().await;
        if let Some(s) = self.current.load_full().filter(|s| !s.is_stale()) {
            return Ok(s);
        }
        match self.fetch_and_store().await {
            Ok(s) => Ok(s),
            Err(e) => match self.current.load_full() {
                Some(stale) => {
                    tracing::warn!(error = %e, "model catalogue refresh failed; serving the previous one");
                    Ok(stale)
                }
                None => Err(e),
            },
        }
    }

    /// Whether the catalogue can be had now (the backend's readiness).
    pub async fn ready(&self) -> Result<(), GatewayError> {
        self.fresh().await.map(|_| ())
    }

    /// Whether a failed refresh was too recent to try again.
    fn refresh_paused(&self) -> bool {
        let now_ms = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        now_ms
            < self
                .refresh_paused_until_ms
                .load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn fetch_and_store(&self) -> Result<Arc<Snapshot>, GatewayError> {
        let started = Instant::now();
        let listing = match self.source.list().await {
            Ok(listing) => listing,
            Err(e) => {
                let until = self.born.elapsed().saturating_add(REFRESH_PAUSE);
                self.refresh_paused_until_ms.store(
                    u64::try_from(until.as_millis()).unwrap_or(u64::MAX),
                    std::sync::atomic::Ordering::Relaxed,
                );
                return Err(e);
            }
        };
        tracing::info!(
            models = listing.models.len(),
            system_profiles = listing.system_profiles.len(),
            application_profiles = listing.application_profiles.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "model catalogue fetched"
        );
        Ok(self.store(listing))
    }

    fn store(&self, listing: Listing) -> Arc<Snapshot> {
        let snapshot = Arc::new(self.build(listing));
        self.current.store(Some(snapshot.clone()));
        snapshot
    }

    /// Builds a snapshot: every model's profile, once.
    fn build(&self, listing: Listing) -> Snapshot {
        let Listing {
            models,
            system_profiles,
            application_profiles,
        } = listing;
        let profiles: HashMap<String, Arc<ModelProfile>> = models
            .iter()
            .map(|m| {
                let profile = ModelProfile {
                    model_id: Arc::from(m.model_id.as_str()),
                    info: Some(m.clone()),
                    capabilities: self.table.lookup(&m.model_id),
                };
                (m.model_id.clone(), Arc::new(profile))
            })
            .collect();
        let catalogue = Catalogue::new(models);
        let mut snapshot = Snapshot {
            catalogue,
            models: profiles,
            system_profiles: system_profiles
                .into_iter()
                .map(|p| (p.id, arns(p.model_arns)))
                .collect(),
            application_profiles: HashMap::new(),
            stale_at: Instant::now().checked_add(self.config.ttl),
        };
        for p in application_profiles {
            let resolved = self.resolve_profile(Some(&snapshot), &p);
            snapshot.application_profiles.insert(p.arn, resolved);
        }
        snapshot
    }

    /// The profile of a foundation model: the snapshot's, or one made from
    /// the table for a model the snapshot does not list.
    fn model_profile(
        &self,
        snapshot: Option<&Snapshot>,
        model_id: &str,
    ) -> Option<Arc<ModelProfile>> {
        if let Some(p) = snapshot.and_then(|s| s.models.get(model_id)) {
            return Some(p.clone());
        }
        match self.config.unknown {
            Unknown::NotFound => None,
            Unknown::PassThrough => Some(Arc::new(ModelProfile {
                model_id: Arc::from(model_id),
                info: None,
                capabilities: self.table.lookup(model_id),
            })),
        }
    }

    /// The profile of an identifier that names no foundation model the
    /// gateway can know (routers, provisioned and custom models): only the
    /// rules common to every model apply.
    fn opaque_profile(&self, identifier: &str) -> Arc<ModelProfile> {
        Arc::new(ModelProfile {
            model_id: Arc::from(identifier),
            info: None,
            capabilities: self.table.fallback(),
        })
    }

    fn resolve_profile(
        &self,
        snapshot: Option<&Snapshot>,
        p: &InferenceProfile,
    ) -> ResolvedProfile {
        let model = p
            .model_arns
            .iter()
            .find_map(|arn| model_id_of_arn(arn))
            .and_then(|id| {
                self.model_profile(snapshot, id).or_else(|| {
                    // Listed by the profile but not by the catalogue: keep the
                    // table's rules for it even in a closed directory.
                    Some(Arc::new(ModelProfile {
                        model_id: Arc::from(id),
                        info: None,
                        capabilities: self.table.lookup(id),
                    }))
                })
            })
            .unwrap_or_else(|| self.opaque_profile(&p.arn));
        ResolvedProfile {
            model_arns: arns(p.model_arns.clone()),
            model,
        }
    }

    /// Resolves a request's model identifier into its [`Target`]: the one
    /// place an identifier is parsed for generation. Only an application
    /// profile missing from the snapshot may wait, once, on the source.
    pub async fn resolve(self: &Arc<Self>, identifier: &str) -> Result<Target, GatewayError> {
        self.resolve_shared(Arc::from(identifier)).await
    }

    /// [`ModelDirectory::resolve`] of an identifier already shared: the
    /// target keeps it rather than copy it.
    pub async fn resolve_shared(
        self: &Arc<Self>,
        requested: Arc<str>,
    ) -> Result<Target, GatewayError> {
        let identifier = &*requested;
        match self.resolve_from_snapshot(requested.clone())? {
            Resolution::Done(target) => Ok(target),
            Resolution::LookUp { requested } => {
                let resolved = self.look_up_profile(identifier).await?;
                Ok(Target {
                    requested,
                    kind: IdentifierKind::ApplicationProfileArn,
                    invoke_id: Arc::from(identifier),
                    foundation_model_arns: resolved.model_arns,
                    model: resolved.model,
                })
            }
        }
    }

    /// [`ModelDirectory::resolve`] without waiting on the source: an
    /// application profile the snapshot does not hold is NOT_FOUND.
    pub fn resolve_listed(self: &Arc<Self>, identifier: &str) -> Result<Target, GatewayError> {
        match self.resolve_from_snapshot(Arc::from(identifier))? {
            Resolution::Done(target) => Ok(target),
            Resolution::LookUp { .. } => Err(profile_not_found(identifier)),
        }
    }

    fn resolve_from_snapshot(
        self: &Arc<Self>,
        requested: Arc<str>,
    ) -> Result<Resolution, GatewayError> {
        let identifier = &*requested;
        let parsed = Identifier::parse(identifier)
            .map_err(|e| GatewayError::invalid_field("model_id", format!("must be {}", e.0)))?;
        let snapshot = self.peek();
        let snapshot = snapshot.as_deref();
        let kind = parsed.kind();
        let target = |invoke_id: Arc<str>, arns: ModelArns, model: Arc<ModelProfile>| Target {
            requested: requested.clone(),
            kind,
            invoke_id,
            foundation_model_arns: arns,
            model,
        };
        match parsed {
            Identifier::ModelId { model_id }
            | Identifier::FoundationModelArn { model_id, .. }
            | Identifier::SystemProfile { model_id, .. }
            | Identifier::SystemProfileArn { model_id, .. } => {
                let model = self
                    .model_profile(snapshot, model_id)
                    .ok_or_else(|| GatewayError::model_not_found(identifier))?;
                let profile_id = match parsed {
                    Identifier::SystemProfile { .. } => Some(identifier),
                    Identifier::SystemProfileArn { arn, .. } => Some(arn.resource_id),
                    _ => None,
                };
                if let Some(profile_id) = profile_id {
                    let arns = snapshot
                        .and_then(|s| s.system_profiles.get(profile_id).cloned())
                        .flatten();
                    return Ok(Resolution::Done(target(requested.clone(), arns, model)));
                }
                if kind == IdentifierKind::ModelId {
                    if let Some((profile, arns)) = self.on_demand_route(snapshot, &model) {
                        tracing::debug!(
                            model_id,
                            profile = &*profile,
                            "routed to an inference profile"
                        );
                        return Ok(Resolution::Done(target(profile, arns, model)));
                    }
                }
                Ok(Resolution::Done(target(requested.clone(), None, model)))
            }
            Identifier::ApplicationProfileArn { .. } => {
                match snapshot.and_then(|s| s.application_profiles.get(identifier)) {
                    Some(r) => Ok(Resolution::Done(target(
                        requested.clone(),
                        r.model_arns.clone(),
                        r.model.clone(),
                    ))),
                    None => Ok(Resolution::LookUp { requested }),
                }
            }
            Identifier::PromptRouterArn { .. }
            | Identifier::ProvisionedModelArn { .. }
            | Identifier::OtherArn { .. } => match self.config.unknown {
                Unknown::NotFound => Err(GatewayError::model_not_found(identifier)),
                Unknown::PassThrough => Ok(Resolution::Done(target(
                    requested.clone(),
                    None,
                    self.opaque_profile(identifier),
                ))),
            },
        }
    }

    /// For a model without on-demand throughput, the system profile of this
    /// region's geography (or the global one) that serves it, if listed.
    fn on_demand_route(
        &self,
        snapshot: Option<&Snapshot>,
        model: &ModelProfile,
    ) -> Option<(Arc<str>, ModelArns)> {
        let (snapshot, geography, info) = (snapshot?, self.config.geography?, model.info.as_ref()?);
        if info.supports_on_demand() {
            return None;
        }
        [geography, "global"].iter().find_map(|prefix| {
            let profile = format!("{prefix}.{}", info.model_id);
            snapshot
                .system_profiles
                .get(&profile)
                .map(|arns| (Arc::from(profile.as_str()), arns.clone()))
        })
    }

    /// An application profile the snapshot lacks: remembered, or read now.
    async fn look_up_profile(self: &Arc<Self>, arn: &str) -> Result<ResolvedProfile, GatewayError> {
        if let Some(entry) = self.looked_up.load().get(arn) {
            if entry.until > Instant::now() {
                return entry.result.clone();
            }
            if let Ok(stale) = &entry.result {
                // Serve the stale answer; refresh it in the background, and
                // push its expiry out so only this call starts a refresh.
                let stale = stale.clone();
                self.remember(arn, Ok(stale.clone()), self.config.ttl);
                let this = self.clone();
                let arn = arn.to_owned();
                tokio::spawn(async move {
                    let _ = this.fetch_profile(&arn).await;
                });
                return Ok(stale);
            }
        }
        self.fetch_profile(arn).await
    }

    async fn fetch_profile(&self, arn: &str) -> Result<ResolvedProfile, GatewayError> {
        let snapshot = self.current.load_full();
        let result = self
            .source
            .inference_profile(arn)
            .await
            .map(|p| self.resolve_profile(snapshot.as_deref(), &p));
        match &result {
            // Resolved without a catalogue (none fetched yet): kept briefly,
            // so the model's catalogue entry is picked up soon.
            Ok(_) if snapshot.is_none() => {
                self.remember(arn, result.clone(), NEGATIVE_TTL.min(self.config.ttl))
            }
            Ok(_) => self.remember(arn, result.clone(), self.config.ttl),
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied) => {
                self.remember(arn, result.clone(), NEGATIVE_TTL.min(self.config.ttl))
            }
            // Throttling or an outage of the control plane: the runtime may
            // still serve the ARN. A pass-through directory invokes it under
            // the rules common to every model rather than fail the call.
            Err(e) => {
                tracing::warn!(arn, error = %e, "cannot read the application profile; invoking it under the common rules");
                if self.config.unknown == Unknown::PassThrough {
                    return Ok(ResolvedProfile {
                        model_arns: None,
                        model: self.opaque_profile(arn),
                    });
                }
            }
        }
        result
    }

    fn remember(&self, arn: &str, result: Result<ResolvedProfile, GatewayError>, ttl: Duration) {
        let until = Instant::now()
            .checked_add(ttl)
            .unwrap_or_else(|| Instant::now() + NEGATIVE_TTL);
        self.looked_up.rcu(|map| {
            let mut map = HashMap::clone(map);
            if map.len() >= MAX_LOOKED_UP && !map.contains_key(arn) {
                let now = Instant::now();
                map.retain(|_, entry| entry.until > now);
                if map.len() >= MAX_LOOKED_UP {
                    return map;
                }
            }
            map.insert(
                arn.to_owned(),
                LookedUp {
                    result: result.clone(),
                    until,
                },
            );
            map
        });
    }

    /// The models passing `filter` (ListModels).
    pub async fn list(&self, filter: &ModelFilter) -> Result<Vec<ModelInfo>, GatewayError> {
        Ok(self.fresh().await?.catalogue.filtered(filter))
    }

    /// One model's summary (GetModel), by any identifier: a profile answers
    /// with the model behind it.
    pub async fn get(self: &Arc<Self>, identifier: &str) -> Result<ModelInfo, GatewayError> {
        let snapshot = self.fresh().await.ok();
        if let Some(m) = snapshot.as_ref().and_then(|s| s.catalogue.get(identifier)) {
            return Ok(m.clone());
        }
        let parsed = Identifier::parse(identifier)
            .map_err(|e| GatewayError::invalid_field("model_id", format!("must be {}", e.0)))?;
        let model_id = match parsed {
            Identifier::ApplicationProfileArn { .. } => {
                let target = self.resolve(identifier).await?;
                if let Some(info) = &target.model.info {
                    return Ok(info.clone());
                }
                target.model.model_id.to_string()
            }
            other => match other.model_id() {
                Some(id) => id.to_owned(),
                None => identifier.to_owned(),
            },
        };
        if let Some(m) = snapshot.as_ref().and_then(|s| s.catalogue.get(&model_id)) {
            return Ok(m.clone());
        }
        self.source.foundation_model(&model_id).await
    }
}

/// A profile's model ARNs, shared; `None` when it lists none.
fn arns(model_arns: Vec<String>) -> ModelArns {
    (!model_arns.is_empty()).then(|| Arc::from(model_arns))
}

/// Bedrock's ResourceNotFoundException wording for a profile, as NOT_FOUND.
pub fn profile_not_found(arn: &str) -> GatewayError {
    GatewayError::not_found(
        "bedrock inference profile",
        arn,
        format!("inference profile `{arn}` was not found; check the ARN, its region and account"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::catalogue::Catalogue;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const APP: &str = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123";
    const TITAN: &str = "amazon.titan-text-express-v1";
    const CLAUDE_37: &str = "anthropic.claude-3-7-sonnet-20250219-v1:0";

    fn profile(id: &str, arn: &str, model: &str) -> InferenceProfile {
        InferenceProfile {
            id: id.to_owned(),
            arn: arn.to_owned(),
            model_arns: ["us-east-1", "us-west-2"]
                .iter()
                .map(|r| format!("arn:aws:bedrock:{r}::foundation-model/{model}"))
                .collect(),
        }
    }

    fn listing() -> Listing {
        Listing {
            models: Catalogue::seed().models().to_vec(),
            system_profiles: vec![profile(
                &format!("us.{CLAUDE_37}"),
                &format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{CLAUDE_37}"),
                CLAUDE_37,
            )],
            application_profiles: vec![profile("abc123", APP, TITAN)],
        }
    }

    /// A source counting its calls, with one unlisted profile and one refused.
    #[derive(Debug, Default)]
    struct Counting {
        lists: AtomicUsize,
        gets: AtomicUsize,
    }

    const UNLISTED: &str =
        "arn:aws:bedrock:us-east-1:999999999999:application-inference-profile/shared1";
    const FORBIDDEN: &str =
        "arn:aws:bedrock:us-east-1:999999999999:application-inference-profile/secret";

    #[async_trait::async_trait]
    impl ModelSource for Counting {
        async fn list(&self) -> Result<Listing, GatewayError> {
            self.lists.fetch_add(1, Ordering::SeqCst);
            Ok(listing())
        }
        async fn inference_profile(&self, arn: &str) -> Result<InferenceProfile, GatewayError> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            match arn {
                UNLISTED => Ok(profile("shared1", UNLISTED, CLAUDE_37)),
                FORBIDDEN => Err(GatewayError::new(ErrorKind::PermissionDenied, "denied")),
                _ => Err(profile_not_found(arn)),
            }
        }
    }

    fn open(source: Arc<Counting>) -> Arc<ModelDirectory> {
        ModelDirectory::new(
            source,
            DirectoryConfig {
                ttl: Duration::from_secs(300),
                unknown: Unknown::PassThrough,
                geography: Some("us"),
            },
        )
    }

    #[tokio::test]
    async fn every_identifier_form_resolves_to_its_model() {
        let source = Arc::new(Counting::default());
        let d = open(source.clone());
        d.ready().await.unwrap();
        let cases = [
            (TITAN.to_owned(), TITAN, IdentifierKind::ModelId),
            (
                format!("arn:aws:bedrock:us-east-1::foundation-model/{TITAN}"),
                TITAN,
                IdentifierKind::FoundationModelArn,
            ),
            (
                format!("us.{CLAUDE_37}"),
                CLAUDE_37,
                IdentifierKind::SystemProfile,
            ),
            (
                format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.{CLAUDE_37}"),
                CLAUDE_37,
                IdentifierKind::SystemProfileArn,
            ),
            (APP.to_owned(), TITAN, IdentifierKind::ApplicationProfileArn),
            (
                UNLISTED.to_owned(),
                CLAUDE_37,
                IdentifierKind::ApplicationProfileArn,
            ),
        ];
        for (id, model, kind) in cases {
            let t = d.resolve(&id).await.unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!((t.resolved_model_id(), t.kind), (model, kind), "{id}");
            assert!(t.model.info.is_some(), "{id} has its catalogue entry");
            assert_eq!(&*t.requested, id.as_str());
        }
        let app = d.resolve(APP).await.unwrap();
        assert_eq!(
            &*app.invoke_id, APP,
            "an application profile is invoked as given"
        );
        assert_eq!(
            app.foundation_model_arns().len(),
            2,
            "both regions' models are kept"
        );
        assert_eq!(app.capabilities().name, "Titan Text Express");
    }

    #[tokio::test]
    async fn a_model_without_on_demand_is_routed_to_its_geography_profile() {
        let d = open(Arc::new(Counting::default()));
        d.ready().await.unwrap();
        let t = d.resolve(CLAUDE_37).await.unwrap();
        assert_eq!(&*t.invoke_id, format!("us.{CLAUDE_37}").as_str());
        assert_eq!(&*t.requested, CLAUDE_37);
        let t = d.resolve(TITAN).await.unwrap();
        assert_eq!(
            &*t.invoke_id, TITAN,
            "on-demand models are invoked directly"
        );
    }

    #[tokio::test]
    async fn routers_provisioned_and_unknown_models_pass_through_under_the_common_rules() {
        let d = open(Arc::new(Counting::default()));
        d.ready().await.unwrap();
        let table = CapabilityTable::shipped();
        for id in [
            "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1",
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/p1",
            "someone.brand-new-model-v1:0",
        ] {
            let t = d.resolve(id).await.unwrap();
            assert!(table.is_fallback(t.capabilities()), "{id}");
            assert_eq!(&*t.invoke_id, id);
        }
        // A new model of a known family gets its family's row.
        let t = d
            .resolve("anthropic.claude-opus-9-20300101-v1:0")
            .await
            .unwrap();
        assert_eq!(t.capabilities().name, "Claude 4.5 and later");
    }

    #[tokio::test]
    async fn unlisted_profiles_are_read_once_and_refusals_remembered() {
        let source = Arc::new(Counting::default());
        let d = open(source.clone());
        d.ready().await.unwrap();
        for _ in 0..5 {
            d.resolve(UNLISTED).await.unwrap();
            d.resolve(APP).await.unwrap();
        }
        assert_eq!(
            source.gets.load(Ordering::SeqCst),
            1,
            "one GetInferenceProfile for the unlisted profile, none for the listed"
        );
        let missing = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/nope";
        for _ in 0..3 {
            let e = d.resolve(missing).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotFound);
            assert!(e.message().contains(missing), "{}", e.message());
            let e = d.resolve(FORBIDDEN).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        }
        assert_eq!(source.gets.load(Ordering::SeqCst), 3);
        assert_eq!(
            source.lists.load(Ordering::SeqCst),
            1,
            "generation never lists again within the TTL"
        );
    }

    /// A source whose listing works once, then fails.
    #[derive(Debug, Default)]
    struct Flaky {
        lists: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl ModelSource for Flaky {
        async fn list(&self) -> Result<Listing, GatewayError> {
            match self.lists.fetch_add(1, Ordering::SeqCst) {
                0 => Ok(listing()),
                _ => Err(GatewayError::new(
                    ErrorKind::Unavailable,
                    "control plane down",
                )),
            }
        }
        async fn inference_profile(&self, _arn: &str) -> Result<InferenceProfile, GatewayError> {
            Err(GatewayError::new(ErrorKind::ResourceExhausted, "throttled"))
        }
    }

    #[tokio::test]
    async fn a_failing_control_plane_is_asked_again_only_after_a_pause() {
        let source = Arc::new(Flaky::default());
        let d = ModelDirectory::new(
            source.clone(),
            DirectoryConfig {
                ttl: Duration::from_millis(1),
                unknown: Unknown::PassThrough,
                geography: None,
            },
        );
        d.ready().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        for _ in 0..5 {
            // Stale and failing: the stale catalogue is served.
            assert!(d.list(&ModelFilter::default()).await.unwrap().len() > 10);
            d.resolve(TITAN).await.unwrap();
        }
        assert!(
            source.lists.load(Ordering::SeqCst) <= 3,
            "{} listings",
            source.lists.load(Ordering::SeqCst)
        );

        // A throttled GetInferenceProfile does not fail the call: the ARN
        // goes to Bedrock under the common rules.
        let t = d.resolve(UNLISTED).await.unwrap();
        assert!(CapabilityTable::shipped().is_fallback(t.capabilities()));
        assert_eq!(&*t.invoke_id, UNLISTED);
    }

    #[tokio::test]
    async fn remembered_lookups_are_bounded() {
        let source = Arc::new(Counting::default());
        let d = open(source.clone());
        d.ready().await.unwrap();
        for i in 0..(MAX_LOOKED_UP + 50) {
            let arn = format!(
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/made-up-{i}"
            );
            assert_eq!(
                d.resolve(&arn).await.unwrap_err().kind(),
                ErrorKind::NotFound
            );
        }
        assert_eq!(d.looked_up.load().len(), MAX_LOOKED_UP);
    }

    #[tokio::test]
    async fn a_closed_directory_refuses_what_it_does_not_list() {
        let d = ModelDirectory::fixed(listing(), Unknown::NotFound);
        assert!(d.resolve(TITAN).await.is_ok());
        assert_eq!(d.resolve(APP).await.unwrap().resolved_model_id(), TITAN);
        for id in [
            "amazon.nope-v1",
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/p1",
            UNLISTED,
        ] {
            assert_eq!(
                d.resolve(id).await.unwrap_err().kind(),
                ErrorKind::NotFound,
                "{id}"
            );
        }
        let e = d.resolve("arn:aws:s3:::bucket/key").await.unwrap_err();
        assert_eq!(e.violations()[0].field, "model_id");
    }

    #[tokio::test]
    async fn get_model_answers_a_profile_with_its_model() {
        let d = ModelDirectory::fixed(listing(), Unknown::NotFound);
        assert_eq!(d.get(APP).await.unwrap().model_id, TITAN);
        assert_eq!(
            d.get(&format!("us.{CLAUDE_37}")).await.unwrap().model_id,
            CLAUDE_37
        );
        assert_eq!(
            d.get("amazon.nope-v1").await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
}
