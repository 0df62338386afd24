//! [`EndWatcher`]: waits for one session's end, for a page held open on
//! Server-Sent Events ([`crate::Session::until_ended`]).
//!
//! One poller task per watched slot reads the tail of the stream that
//! records that slot's sessions (a few reads a second, shared by every
//! waiter on the slot; none when nobody waits) and broadcasts what it
//! reads; each waiter picks its own session's `ended` event. A waiter also
//! wakes at its session's deadline and asks the store (a passive load), so
//! an expiry is seen on time even though nobody sweeps; and a store
//! without a lifecycle stream is asked every [`FALLBACK_POLL`] instead.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, broadcast};

use crate::ending::Ending;
use crate::error::StoreFailure;
use crate::events::{EventKind, SessionEvent, StreamCursor};
use crate::id::{PublicId, SessionId, SlotTag};
use crate::shared::Shared;
use crate::store::Loaded;

/// How often a poller reads its stream's tail.
const TAIL_POLL: Duration = Duration::from_millis(200);
/// How often a waiter asks the store when the store keeps no stream, and
/// the longest it sleeps before asking anyway.
const FALLBACK_POLL: Duration = Duration::from_secs(1);
/// The longest a waiter on a store with a stream sleeps before asking the
/// store anyway (its deadline may have moved; the clock may be manual).
const DEADLINE_RECHECK: Duration = Duration::from_secs(30);
/// The most events one tail read takes.
const TAIL_BATCH: usize = 500;

/// The pollers of one manager, by slot.
#[derive(Debug, Default)]
pub(crate) struct EndWatcher {
    slots: Mutex<HashMap<SlotTag, broadcast::Sender<SessionEvent>>>,
}

impl EndWatcher {
    /// A receiver of the events recorded for `slot` from now on, starting
    /// a poller for the slot if none runs. `None` when the store keeps no
    /// stream.
    async fn subscribe(
        &self,
        shared: &Arc<Shared>,
        slot: SlotTag,
    ) -> Result<Option<broadcast::Receiver<SessionEvent>>, StoreFailure> {
        let mut slots = self.slots.lock().await;
        if let Some(tx) = slots.get(&slot) {
            return Ok(Some(tx.subscribe()));
        }
        // The cursor is taken before the caller checks the session, so an
        // end between the two is still read.
        let cursor = match shared.store.tail_events(slot, None, 0).await {
            Ok((_, cursor)) => cursor,
            Err(StoreFailure::Unsupported(_)) => return Ok(None),
            Err(f) => return Err(f),
        };
        let (tx, rx) = broadcast::channel(1024);
        slots.insert(slot, tx.clone());
        tokio::spawn(poll_slot(Arc::downgrade(shared), slot, cursor, tx));
        Ok(Some(rx))
    }
}

/// Reads the tail of `slot`'s stream until nobody listens.
async fn poll_slot(
    shared: std::sync::Weak<Shared>,
    slot: SlotTag,
    mut cursor: StreamCursor,
    tx: broadcast::Sender<SessionEvent>,
) {
    loop {
        tokio::time::sleep(TAIL_POLL).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        {
            let mut slots = shared.watcher.slots.lock().await;
            if tx.receiver_count() == 0 {
                slots.remove(&slot);
                return;
            }
        }
        match shared
            .store
            .tail_events(slot, Some(&cursor), TAIL_BATCH)
            .await
        {
            Ok((events, next)) => {
                cursor = next;
                for e in events {
                    let _ = tx.send(e);
                }
            }
            // Read again next round; a waiter still wakes at its deadline.
            Err(_) => continue,
        }
    }
}

/// Waits until session `id` (public id `public_id`) ends, and says why
/// (a session the store no longer knows at all is reported expired).
/// Passive: never moves its idle deadline.
pub(crate) async fn until_ended(
    shared: &Arc<Shared>,
    id: &SessionId,
    public_id: PublicId,
) -> Result<Ending, StoreFailure> {
    let mut rx = shared.watcher.subscribe(shared, id.slot()).await?;
    loop {
        // Checked after subscribing: an end before this is seen here, an
        // end after it arrives on `rx`.
        let deadline = match shared.peek(id).await? {
            Loaded::Active { record, .. } => record.idle_deadline.min(record.absolute_deadline),
            Loaded::Ended(ending) => return Ok(ending),
            Loaded::Unknown => {
                return Ok(Ending {
                    reason: crate::EndReason::Expired,
                    at: shared.clock.now(),
                });
            }
        };
        let longest = if rx.is_some() {
            DEADLINE_RECHECK
        } else {
            FALLBACK_POLL
        };
        let nap = shared
            .clock
            .now()
            .until(deadline)
            .saturating_add(Duration::from_millis(5))
            .min(longest);
        let Some(events) = rx.as_mut() else {
            tokio::time::sleep(nap).await;
            continue;
        };
        let sleep = tokio::time::sleep(nap);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                got = events.recv() => match got {
                    Ok(e) if e.public_id == public_id && e.kind == EventKind::Ended => {
                        if let Some(reason) = e.reason {
                            return Ok(Ending { reason, at: e.at });
                        }
                        break;
                    }
                    // Rotated by another request: this id has ended (as
                    // `Rotated`), which the store says at once.
                    Ok(e) if e.public_id == public_id && e.kind == EventKind::Rotated => break,
                    Ok(_) => {}
                    // Missed some, or the poller stopped: ask the store.
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => {
                        *events = match shared.watcher.subscribe(shared, id.slot()).await? {
                            Some(rx) => rx,
                            None => break,
                        };
                        break;
                    }
                },
            }
        }
    }
}
