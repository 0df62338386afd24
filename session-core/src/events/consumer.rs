//! [`EventConsumer`]: one member of a consumer group on the lifecycle
//! stream, handing each event out once.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::StoreFailure;
use crate::events::{ConsumerName, EventKey, ReadFrom, SessionEvent};
use crate::shared::Shared;

/// How a consumer reads, sweeps and claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerOptions {
    /// The most events one [`EventConsumer::next_batch`] reads per stream
    /// (default 100).
    pub batch: usize,
    /// How often the consumer runs the expiry sweep (default 1 s): the
    /// bound on how late an unobserved expiry's event is written. Zero
    /// sweeps before every read.
    pub sweep_every: Duration,
    /// How long another consumer's event may stay unacknowledged before
    /// this one takes it over (default 60 s): the consumer is taken as
    /// crashed.
    pub claim_after: Duration,
    /// How long [`EventConsumer::run`] waits before reading again when
    /// there was nothing to read (default 200 ms).
    pub idle_wait: Duration,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        ConsumerOptions {
            batch: 100,
            sweep_every: Duration::from_secs(1),
            claim_after: Duration::from_secs(60),
            idle_wait: Duration::from_millis(200),
        }
    }
}

/// Where the consumer stands in its read cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Re-reading its own unacknowledged events first: after a start, and
    /// after any failed call (whose reply may have delivered events).
    Pending,
    /// Taking over events crashed consumers left behind.
    Abandoned,
    /// Reading new events.
    New,
}

/// A member of a consumer group on the lifecycle stream
/// ([`crate::SessionManager::events`]).
///
/// Call [`Self::next_batch`], handle the events, then [`Self::ack`] them;
/// or let [`Self::run`] do it. Within one consumer an event is handed out
/// once: a key handed out and not yet acknowledged is skipped when the
/// consumer re-reads its pending events, and a failed acknowledgement is
/// retried by the next batch. After a crash, a consumer with the same name
/// receives its unacknowledged events again (see the module's delivery
/// promise).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use session_core::events::{ConsumerName, EventKind};
/// use session_core::{KeyRing, MemoryStore, Metadata, SessionConfig, SessionManager, UserId};
/// use std::sync::Arc;
///
/// let config = SessionConfig::builder(KeyRing::generate()).build()?;
/// let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
/// let mut consumer = manager.events(ConsumerName::new("token-revoker", "host-1")?);
/// let alice = UserId::new("alice")?;
/// manager.create_for_user(&alice, Metadata::default(), None).await?;
/// manager.revoke_all(&alice, None).await?;
///
/// let batch = consumer.next_batch().await?;
/// let kinds: Vec<EventKind> = batch.iter().map(|e| e.kind).collect();
/// assert_eq!(kinds, [EventKind::SignedIn, EventKind::Ended]);
/// consumer.ack(&batch).await?;
/// assert!(consumer.next_batch().await?.is_empty());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct EventConsumer {
    shared: Arc<Shared>,
    name: ConsumerName,
    options: ConsumerOptions,
    phase: Phase,
    /// Keys handed out and not yet acknowledged (confirmed by the store).
    outstanding: HashSet<EventKey>,
    /// Keys the application acknowledged whose acknowledgement the store
    /// has not confirmed: retried by the next batch.
    unconfirmed: Vec<EventKey>,
    last_sweep: Option<Instant>,
}

impl EventConsumer {
    pub(crate) fn new(shared: Arc<Shared>, name: ConsumerName, options: ConsumerOptions) -> Self {
        EventConsumer {
            shared,
            name,
            options,
            phase: Phase::Pending,
            outstanding: HashSet::new(),
            unconfirmed: Vec::new(),
            last_sweep: None,
        }
    }

    /// The group and consumer name.
    pub fn name(&self) -> &ConsumerName {
        &self.name
    }

    /// The next events to handle, oldest first per stream: this consumer's
    /// unacknowledged ones first, then those crashed consumers left, then
    /// new ones. Runs the expiry sweep when it is due. Empty when there is
    /// nothing to read right now.
    ///
    /// A failed call is reported and changes nothing handed out; call
    /// again (the consumer then re-reads its pending events first, so an
    /// event whose delivery reply was lost is not skipped).
    pub async fn next_batch(&mut self) -> Result<Vec<SessionEvent>, StoreFailure> {
        let r = self.next_batch_inner().await;
        if r.is_err() {
            self.phase = Phase::Pending;
        }
        r
    }

    async fn next_batch_inner(&mut self) -> Result<Vec<SessionEvent>, StoreFailure> {
        // Neither an acknowledgement nor the sweep blocks reading: both are
        // retried on the next batch (acknowledgements stay tracked, the
        // sweep stays due), so a store that loses some replies still
        // delivers.
        if let Err(failure) = self.confirm_acks().await {
            warn("acknowledging", &failure);
        }
        if let Err(failure) = self.sweep_if_due().await {
            warn("the expiry sweep", &failure);
        }
        loop {
            let from = match self.phase {
                Phase::Pending => ReadFrom::Pending,
                Phase::Abandoned => ReadFrom::Abandoned(self.options.claim_after),
                Phase::New => ReadFrom::New,
            };
            let cx = self.shared.cx();
            let read = self
                .shared
                .store
                .read_events(&self.name, from, self.options.batch, &cx)
                .await?;
            let fresh: Vec<SessionEvent> = read
                .into_iter()
                .filter(|e| !self.outstanding.contains(&e.key))
                .collect();
            if !fresh.is_empty() {
                self.outstanding.extend(fresh.iter().map(|e| e.key.clone()));
                return Ok(fresh);
            }
            match self.phase {
                Phase::Pending => self.phase = Phase::Abandoned,
                Phase::Abandoned => self.phase = Phase::New,
                Phase::New => return Ok(Vec::new()),
            }
        }
    }

    /// Marks `events` done: acknowledges them to the store. When the
    /// store's reply is lost they are retried by the next batch, and never
    /// handed out again by this consumer.
    pub async fn ack(&mut self, events: &[SessionEvent]) -> Result<(), StoreFailure> {
        self.unconfirmed
            .extend(events.iter().map(|e| e.key.clone()));
        self.confirm_acks().await
    }

    /// Sends the unconfirmed acknowledgements, one call per stream (so one
    /// stream's lost reply does not hold back the others); those confirmed
    /// are done. Reports the first failure.
    async fn confirm_acks(&mut self) -> Result<(), StoreFailure> {
        let mut by_stream: BTreeMap<String, Vec<EventKey>> = BTreeMap::new();
        for key in self.unconfirmed.drain(..) {
            by_stream
                .entry(key.stream().to_owned())
                .or_default()
                .push(key);
        }
        let mut first_failure = None;
        for (_, keys) in by_stream {
            match self.shared.store.ack_events(&self.name, &keys).await {
                Ok(()) => {
                    for key in &keys {
                        self.outstanding.remove(key);
                    }
                }
                Err(failure) => {
                    first_failure.get_or_insert(failure);
                    self.unconfirmed.extend(keys);
                }
            }
        }
        first_failure.map_or(Ok(()), Err)
    }

    /// Runs the expiry sweep now (until a pass finds fewer than a batch),
    /// whatever its schedule. Returns how many sessions it expired.
    pub async fn sweep(&mut self) -> Result<u64, StoreFailure> {
        let mut total = 0u64;
        loop {
            let cx = self.shared.cx();
            let n = self
                .shared
                .store
                .sweep_expired(self.options.batch, &cx)
                .await?;
            total = total.saturating_add(n);
            if n < self.options.batch as u64 {
                self.last_sweep = Some(Instant::now());
                return Ok(total);
            }
        }
    }

    async fn sweep_if_due(&mut self) -> Result<(), StoreFailure> {
        let due = self
            .last_sweep
            .is_none_or(|at| at.elapsed() >= self.options.sweep_every);
        if due {
            self.sweep().await?;
        }
        Ok(())
    }

    /// Hands every event to `handler`, one at a time, acknowledging each
    /// once the handler returns `Ok`, until the handler fails (its error
    /// is returned; the event stays pending and is handed out again after
    /// a restart). Store failures are retried after
    /// [`ConsumerOptions::idle_wait`], forever: run it in its own task.
    pub async fn run<F, Fut, E>(&mut self, mut handler: F) -> E
    where
        F: FnMut(SessionEvent) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        loop {
            let batch = match self.next_batch().await {
                Ok(batch) => batch,
                Err(failure) => {
                    warn("reading", &failure);
                    tokio::time::sleep(self.options.idle_wait).await;
                    continue;
                }
            };
            if batch.is_empty() {
                tokio::time::sleep(self.options.idle_wait).await;
                continue;
            }
            for event in batch {
                let done = [event.clone()];
                if let Err(e) = handler(event).await {
                    return e;
                }
                // A lost acknowledgement is retried by the next batch.
                let _ = self.ack(&done).await;
            }
        }
    }
}

/// Logs a failed stream call that the consumer retries.
fn warn(what: &str, failure: &StoreFailure) {
    tracing::warn!(
        target: crate::lifecycle::TARGET,
        error = %failure,
        "lifecycle stream: {what} failed; retrying"
    );
}
