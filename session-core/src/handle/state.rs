//! Where a request's session stands, as one enum whose variants carry
//! everything that belongs to them: the unsaved changes live inside the
//! active session they change, the settings given before a session exists
//! inside the absent state. Every transition is one of the named functions
//! below, so nothing is ever reset by hand: leaving a state drops what it
//! held.
//!
//! ```text
//!  Unloaded(id) ──load──▶ Active(presented) | Absent(ended?) | Failed
//!  Absent ──start (first write)──▶ New (stored at the end if it holds data)
//!  New ──stored──▶ Active(issued)
//!  Active | New | Absent ──login / rotate──▶ Active(issued)
//!  Unloaded | Active ──logout, refused save──▶ Absent(ended)
//!  any ──store failure──▶ Failed (sticky: nothing more is written)
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use crate::cookie::CookieLifetime;
use crate::delta::{AsLoaded, Delta, LoadedTimes};
use crate::ending::Ending;
use crate::error::{SessionError, StoreFailure};
use crate::expiry::idle_deadline;
use crate::id::{PublicId, SessionId, SlotTag};
use crate::record::{FORMAT_VERSION, Metadata, SessionRecord};
use crate::shared::Shared;
use crate::store::Loaded;

/// Where the session stands within this request.
#[derive(Debug)]
pub(super) enum State {
    /// The request presented a valid id; nothing is loaded yet.
    Unloaded(SessionId),
    /// No session: none presented, or the one presented is unknown or
    /// ended.
    Absent(Absent),
    /// A session made in this request, not yet stored.
    New(Draft),
    /// A stored, active session.
    Active(Box<Active>),
    /// The store failed; the request is not signed in.
    Failed(StoreFailure),
}

/// No session.
#[derive(Debug, Default)]
pub(super) struct Absent {
    /// Why the presented session ended, when known.
    pub(super) ended: Option<Ending>,
    /// Settings for the session this request may start.
    pub(super) settings: Settings,
}

/// Settings given before a session exists; the session this request starts
/// (by a write or a login) takes them.
#[derive(Debug, Default, Clone)]
pub(super) struct Settings {
    pub(super) metadata: Option<Metadata>,
    pub(super) idle_timeout: Option<Duration>,
}

/// A session made in this request. Its record is the whole change: it is
/// stored in one `create` at the end of the request if it holds data.
#[derive(Debug)]
pub(super) struct Draft {
    pub(super) id: SessionId,
    pub(super) record: SessionRecord,
}

/// A stored, active session and the changes this request made to it.
#[derive(Debug)]
pub(super) struct Active {
    pub(super) id: SessionId,
    pub(super) record: SessionRecord,
    pub(super) id_is: IdOrigin,
    /// Unsaved changes, written as one delta.
    pub(super) pending: Delta,
    /// What this request saw of the session, saved with the delta.
    pub(super) as_loaded: AsLoaded,
}

/// Whether the browser already holds the active session's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IdOrigin {
    /// The request presented it: no cookie to send.
    Presented,
    /// It was issued in this request: the cookie (or id header) must go out.
    Issued,
}

impl State {
    /// No session, with no known ending.
    pub(super) fn absent() -> State {
        State::Absent(Absent::default())
    }

    /// The state after a load of `id`.
    pub(super) fn loaded(id: SessionId, loaded: Result<Loaded, StoreFailure>) -> State {
        match loaded {
            Ok(Loaded::Active { record, .. }) => State::Active(Box::new(Active {
                id,
                id_is: IdOrigin::Presented,
                pending: Delta::default(),
                as_loaded: AsLoaded {
                    times: Some(LoadedTimes::of(&record)),
                    ..AsLoaded::default()
                },
                record,
            })),
            Ok(Loaded::Ended(ending)) => State::ended(Some(ending)),
            Ok(Loaded::Unknown) => State::absent(),
            Err(f) => State::Failed(f),
        }
    }

    /// A stored session whose id this request issued.
    pub(super) fn issued(id: SessionId, record: SessionRecord) -> State {
        State::Active(Box::new(Active {
            id,
            record,
            id_is: IdOrigin::Issued,
            pending: Delta::default(),
            as_loaded: AsLoaded::default(),
        }))
    }

    /// The session ended (`ending` says why, when known).
    pub(super) fn ended(ending: Option<Ending>) -> State {
        State::Absent(Absent {
            ended: ending,
            settings: Settings::default(),
        })
    }

    /// No session, keeping `settings` for the one this request may start.
    pub(super) fn absent_with(settings: Settings) -> State {
        State::Absent(Absent {
            ended: None,
            settings,
        })
    }

    /// A new, unstored session in a random slot, taking the absent state's
    /// settings.
    pub(super) fn started(shared: &Shared, settings: Settings) -> State {
        let now = shared.clock.now();
        let expiry = shared.config.expiry();
        let absolute = now.plus(expiry.absolute_lifetime());
        let idle_timeout = settings.idle_timeout.unwrap_or(expiry.idle_timeout());
        let id = shared.new_id(SlotTag::random());
        let public_id = PublicId::of_key(&id.storage_key());
        State::New(Draft {
            id,
            record: SessionRecord {
                format_version: FORMAT_VERSION,
                public_id,
                user: None,
                created_at: now,
                last_seen_at: now,
                idle_timeout,
                idle_deadline: idle_deadline(now, idle_timeout, absolute),
                absolute_deadline: absolute,
                metadata: settings.metadata.unwrap_or_default(),
                data: BTreeMap::new(),
            },
        })
    }

    /// The record, if there is a session; the failure if the store failed.
    pub(super) fn record(&self) -> Result<Option<&SessionRecord>, SessionError> {
        match self {
            State::Active(a) => Ok(Some(&a.record)),
            State::New(d) => Ok(Some(&d.record)),
            State::Failed(f) => Err(SessionError::Store(f.clone())),
            State::Absent(_) | State::Unloaded(_) => Ok(None),
        }
    }

    /// The settings a session started from this state would take: what was
    /// given before a session existed, or what this request changed on the
    /// current one (a sign-in as another user starts afresh with them).
    pub(super) fn settings(&self) -> Settings {
        match self {
            State::Absent(a) => a.settings.clone(),
            State::Active(a) => Settings {
                metadata: a.pending.metadata.clone(),
                idle_timeout: a.pending.idle_timeout,
            },
            State::New(d) => Settings {
                metadata: Some(d.record.metadata.clone()),
                idle_timeout: Some(d.record.idle_timeout),
            },
            State::Unloaded(_) | State::Failed(_) => Settings::default(),
        }
    }

    /// The size the session's data would have with `key` set to `value`:
    /// the sum of each key's length and its JSON value's length.
    pub(super) fn data_size_with(&self, key: &str, value: &serde_json::Value) -> usize {
        let data = match self {
            State::Active(a) => &a.record.data,
            State::New(d) => &d.record.data,
            _ => return key.len() + json_len(value),
        };
        let others: usize = data
            .iter()
            .filter(|(k, _)| k.as_str() != key)
            .map(|(k, v)| k.len() + json_len(v))
            .sum();
        others + key.len() + json_len(value)
    }

    /// Sets (`Some`) or removes (`None`) a data key of the current session,
    /// recording it as unsaved on a stored one.
    pub(super) fn set_data(&mut self, key: &str, value: Option<serde_json::Value>) {
        let data = match self {
            State::Active(a) => {
                let text = value.as_ref().map(serde_json::Value::to_string);
                if !a.pending.data.contains_key(key)
                    && let Some(old) = a.record.data.get(key)
                {
                    a.as_loaded.replaced.insert(key.to_owned(), json_len(old));
                }
                a.pending.data.insert(key.to_owned(), text);
                &mut a.record.data
            }
            State::New(d) => &mut d.record.data,
            _ => return,
        };
        match value {
            Some(v) => data.insert(key.to_owned(), v),
            None => data.remove(key),
        };
    }

    /// Replaces the metadata of the current session, or keeps it for the
    /// session this request may start.
    pub(super) fn set_metadata(&mut self, metadata: Metadata) {
        match self {
            State::Active(a) => {
                a.record.metadata = metadata.clone();
                a.pending.metadata = Some(metadata);
            }
            State::New(d) => d.record.metadata = metadata,
            State::Absent(a) => a.settings.metadata = Some(metadata),
            State::Unloaded(_) | State::Failed(_) => {}
        }
    }

    /// Records the cookie kind chosen at sign-in in the metadata of the
    /// current session (or of the session this request may start).
    pub(super) fn set_cookie_choice(&mut self, cookie: CookieLifetime) {
        let mut metadata = match self {
            State::Active(a) => a.record.metadata.clone(),
            State::New(d) => d.record.metadata.clone(),
            State::Absent(a) => a.settings.metadata.clone().unwrap_or_default(),
            State::Unloaded(_) | State::Failed(_) => return,
        };
        metadata.cookie = Some(cookie);
        self.set_metadata(metadata);
    }

    /// Sets the idle timeout of the current session, or keeps it for the
    /// session this request may start.
    pub(super) fn set_idle_timeout(&mut self, timeout: Duration) {
        let record = match self {
            State::Active(a) => {
                a.pending.idle_timeout = Some(timeout);
                &mut a.record
            }
            State::New(d) => &mut d.record,
            State::Absent(a) => {
                a.settings.idle_timeout = Some(timeout);
                return;
            }
            State::Unloaded(_) | State::Failed(_) => return,
        };
        record.idle_timeout = timeout;
        record.idle_deadline =
            idle_deadline(record.last_seen_at, timeout, record.absolute_deadline);
    }
}

/// The length of a value's JSON text, without building it.
fn json_len(value: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a Value into a counter cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}
