//! [`ResponseUpdate`]: what the end of a request changes in the response,
//! as data (re-exported from the `adapter` module, where adapters find it).

use crate::error::SessionError;
use crate::http::HttpError;

/// What to change in the response, from [`crate::Session::finish`].
#[derive(Debug, Default)]
pub struct ResponseUpdate {
    headers: Vec<(String, String)>,
    error: Option<SessionError>,
    guard_failure: Option<HttpError>,
}

impl ResponseUpdate {
    pub(crate) fn new(error: Option<SessionError>) -> Self {
        ResponseUpdate {
            headers: Vec::new(),
            error,
            guard_failure: None,
        }
    }

    pub(crate) fn set_guard_failure(&mut self, failure: Option<HttpError>) {
        self.guard_failure = failure;
    }

    pub(crate) fn push_cookie(&mut self, value: String) {
        self.headers.push(("set-cookie".into(), value));
    }

    pub(crate) fn push_id_header(&mut self, name: &str, id: &str) {
        self.headers.push((name.to_owned(), id.to_owned()));
    }

    /// Headers to append to the response: `(name, value)`, names in ASCII
    /// lowercase. At most one: a `Set-Cookie` for a browser, or the id
    /// header for a client that presented it.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The `Set-Cookie` value to send, if any.
    pub fn set_cookie(&self) -> Option<&str> {
        self.value_of("set-cookie")
    }

    /// The id sent back in the id header `name`, if any.
    pub fn id_header(&self, name: &str) -> Option<&str> {
        self.value_of(&name.to_ascii_lowercase())
    }

    fn value_of(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value)
    }

    /// What went wrong while saving at the end of the request, if anything.
    /// With [`SessionError::Ended`] the save was refused because the session
    /// ended meanwhile; with a store failure, nothing was written.
    pub fn error(&self) -> Option<&SessionError> {
        self.error.as_ref()
    }

    /// The answer to send instead of the handler's, if any: 503 when the
    /// end-of-request save failed in the store (the handler's answer would
    /// claim a change that was not stored), 401 when it was refused because
    /// the session ended meanwhile.
    pub fn replacement(&self) -> Option<HttpError> {
        self.error.as_ref().and_then(|e| match e {
            SessionError::Store(_) | SessionError::Ended(_) => Some(HttpError::from(e)),
            _ => None,
        })
    }

    /// The answer to send instead of a handler's answer with status
    /// `status`, if any: the [`Self::replacement`]; else what a signed-in
    /// guard ([`crate::adapter::signed_in`]) answered, when it was 503 (a
    /// framework's `Option<SignedIn>` that turned a store that is down into
    /// "signed out" must not answer as if nobody were signed in), or when
    /// the response already has its status (the framework's own error page
    /// for the guard's failure becomes core's JSON body with the reason).
    pub fn answer_for(&self, status: u16) -> Option<HttpError> {
        self.replacement().or_else(|| {
            self.guard_failure
                .clone()
                .filter(|f| f.status == 503 || f.status == status)
        })
    }
}
