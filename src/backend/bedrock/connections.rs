//! Bedrock Runtime calls spread over several HTTP/2 connections.
//!
//! Against Bedrock's HTTPS endpoints the SDK's HTTP client negotiates HTTP/2
//! and carries every call as a stream of one connection. A server caps the
//! streams of a connection (`SETTINGS_MAX_CONCURRENT_STREAMS`; AWS endpoints
//! commonly announce 128), and the SDK's pool does not open a second
//! connection when the first is full: calls beyond the cap wait, unsent, for
//! others to end. A gateway holding thousands of streams would serve 128 of
//! them and stall the rest.
//!
//! So the runtime is a set of SDK clients, each with an HTTP client (and so a
//! connection) of its own. Each call leases the first client with fewer than
//! `calls_per_connection` calls in flight; when none has room, one more
//! client is added. Light load thus stays on the first connection, and those
//! a burst added go idle and close. The lease ends when the call does (a
//! stream's, at its end or when it is dropped). Over HTTP/1.1, where the SDK
//! opens a connection per call in flight whatever the client, the same
//! connections are opened; a burst's spare ones sit in several idle pools
//! instead of one.
//!
//! The hot path takes no lock: a lock-free load of the client list, a scan
//! of counters up to the first with room and one increment. Only adding a
//! client locks. Two calls may both take a client's last place, so a
//! connection can carry a few more than `calls_per_connection` (as many as
//! there are worker threads): keep it below the server's limit by more.

use crate::backend::EventStream;
use arc_swap::ArcSwap;
use aws_sdk_bedrockruntime::Client;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// Makes one more SDK client with an HTTP client of its own.
type MakeClient = Box<dyn Fn() -> Client + Send + Sync>;

/// The runtime's SDK clients and how many calls each has in flight.
pub(super) struct RuntimeClients {
    clients: ArcSwap<Vec<Arc<Slot>>>,
    /// `None`: one client only (a client given whole, as tests give mocks).
    make: Option<MakeClient>,
    calls_per_connection: usize,
    /// Held only while adding a client.
    adding: Mutex<()>,
}

struct Slot {
    client: Client,
    in_flight: AtomicUsize,
}

/// A call's hold on one client; the client's count drops with it.
pub(super) struct Lease {
    slot: Arc<Slot>,
}

impl Lease {
    pub(super) fn client(&self) -> &Client {
        &self.slot.client
    }

    /// A stream's events that keep this lease until they end or are dropped:
    /// the connection carries the stream until then.
    pub(super) fn hold(self, events: EventStream) -> EventStream {
        Box::pin(Leased {
            events,
            lease: Some(self),
        })
    }
}

struct Leased {
    events: EventStream,
    lease: Option<Lease>,
}

impl futures::Stream for Leased {
    type Item = <EventStream as futures::Stream>::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.events.as_mut().poll_next(cx);
        if let Poll::Ready(None) = next {
            self.lease = None;
        }
        next
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.events.size_hint()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.slot.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for RuntimeClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeClients")
            .field("clients", &self.clients.load().len())
            .field("calls_per_connection", &self.calls_per_connection)
            .finish()
    }
}

impl RuntimeClients {
    /// Clients made by `make` as calls need them, `calls_per_connection`
    /// calls in flight each before another is made.
    pub(super) fn growing(make: MakeClient, calls_per_connection: usize) -> Self {
        RuntimeClients {
            clients: ArcSwap::from_pointee(vec![Self::slot(make())]),
            make: Some(make),
            calls_per_connection: calls_per_connection.max(1),
            adding: Mutex::new(()),
        }
    }

    /// One client for every call.
    pub(super) fn single(client: Client) -> Self {
        RuntimeClients {
            clients: ArcSwap::from_pointee(vec![Self::slot(client)]),
            make: None,
            calls_per_connection: usize::MAX,
            adding: Mutex::new(()),
        }
    }

    fn slot(client: Client) -> Arc<Slot> {
        Arc::new(Slot {
            client,
            in_flight: AtomicUsize::new(0),
        })
    }

    /// The first client with room; one more client if none has, or (when
    /// clients are given whole) the least loaded.
    pub(super) fn lease(&self) -> Lease {
        let clients = self.clients.load();
        let slot = match self.with_room(&clients) {
            Some(slot) => slot.clone(),
            None => self.add().unwrap_or_else(|| least_loaded(&clients).clone()),
        };
        slot.in_flight.fetch_add(1, Ordering::Relaxed);
        Lease { slot }
    }

    fn with_room<'a>(&self, clients: &'a [Arc<Slot>]) -> Option<&'a Arc<Slot>> {
        clients
            .iter()
            .find(|s| s.in_flight.load(Ordering::Relaxed) < self.calls_per_connection)
    }

    /// Adds a client, unless another call just did (then that one is used)
    /// or clients are given whole.
    fn add(&self) -> Option<Arc<Slot>> {
        let make = self.make.as_ref()?;
        let _adding = self.adding.lock().unwrap_or_else(|e| e.into_inner());
        let clients = self.clients.load_full();
        if let Some(slot) = self.with_room(&clients) {
            return Some(slot.clone());
        }
        let slot = Self::slot(make());
        let mut more = Vec::with_capacity(clients.len() + 1);
        more.extend(clients.iter().cloned());
        more.push(slot.clone());
        tracing::info!(
            clients = more.len(),
            calls_per_connection = self.calls_per_connection,
            "Bedrock runtime: every connection has its calls in flight; opening another"
        );
        self.clients.store(Arc::new(more));
        Some(slot)
    }

    /// How many clients there are (for tests and the log).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.clients.load().len()
    }
}

/// The client with the fewest calls in flight.
fn least_loaded(clients: &[Arc<Slot>]) -> &Arc<Slot> {
    clients
        .iter()
        .min_by_key(|s| s.in_flight.load(Ordering::Relaxed))
        .expect("there is always one client")
}

/// The SDK's default HTTPS client, as aws-smithy-runtime builds it for the
/// current behaviour version (rustls with aws-lc, the connector settings
/// and sleep of each call, the proxy from the environment): one more is one
/// more connection pool. A copy of aws-smithy-runtime 1.16's
/// `default_https_client`, which is crate-private: check it against the new
/// one when the SDK is upgraded.
pub(super) fn default_https_client() -> aws_sdk_bedrockruntime::config::SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::{tls, Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        let config = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(aws_sdk_bedrockruntime::config::BehaviorVersion::latest())
            .region(aws_sdk_bedrockruntime::config::Region::new("us-east-1"))
            .build();
        Client::from_conf(config)
    }

    #[test]
    fn calls_stay_on_one_connection_until_it_is_full_then_another_opens() {
        let clients = RuntimeClients::growing(Box::new(client), 2);
        let a = clients.lease();
        let b = clients.lease();
        assert_eq!(clients.len(), 1, "two calls fit the first connection");
        let c = clients.lease();
        assert_eq!(clients.len(), 2, "the third opens a second");
        assert_eq!(c.slot.in_flight.load(Ordering::Relaxed), 1);
        drop((a, b));
        // The first has room again, and light load goes back to it.
        let d = clients.lease();
        assert!(Arc::ptr_eq(&d.slot, &clients.clients.load()[0]));
        let e = clients.lease();
        assert!(Arc::ptr_eq(&e.slot, &clients.clients.load()[0]));
        assert_eq!(clients.len(), 2, "no client is added while one has room");
        drop(c);
        assert_eq!(clients.clients.load()[1].in_flight.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_stream_gives_its_lease_back_when_it_ends_not_only_when_dropped() {
        use futures::StreamExt;
        let clients = RuntimeClients::single(client());
        let mut events = clients.lease().hold(futures::stream::empty().boxed());
        assert_eq!(clients.clients.load()[0].in_flight.load(Ordering::Relaxed), 1);
        assert!(events.next().await.is_none());
        assert_eq!(clients.clients.load()[0].in_flight.load(Ordering::Relaxed), 0);
        drop(events);
        assert_eq!(clients.clients.load()[0].in_flight.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_client_given_whole_takes_every_call() {
        let clients = RuntimeClients::single(client());
        let leases: Vec<_> = (0..300).map(|_| clients.lease()).collect();
        assert_eq!(clients.len(), 1);
        assert_eq!(leases[0].slot.in_flight.load(Ordering::Relaxed), 300);
        drop(leases);
        assert_eq!(clients.clients.load()[0].in_flight.load(Ordering::Relaxed), 0);
    }
}
