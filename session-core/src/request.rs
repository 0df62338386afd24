//! From a request's headers to a candidate session id, without touching the
//! store (guarantee 10).
//!
//! Garbage, oversized, non-UTF-8 and forged values, and requests carrying
//! the session cookie more than once (cookie tossing), all become "no
//! session". Nothing here panics on any input: property tests feed it
//! arbitrary bytes.

use crate::id::{IdError, SESSION_ID_LEN, SessionId};
use crate::secret::KeyRing;

/// Values longer than this are rejected unread.
const MAX_ID_VALUE_BYTES: usize = 256;

/// Why a presented id was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Not of the id's shape.
    Malformed,
    /// The integrity tag does not verify: forged, guessed, or signed by a
    /// retired key.
    Forged,
    /// Longer than [`MAX_ID_VALUE_BYTES`].
    Oversized,
    /// Not UTF-8.
    NotUtf8,
    /// The session cookie appeared more than once (cookie tossing).
    Duplicate,
}

/// Who is asking: a browser (the id travels in the cookie) or a
/// non-browser client that presented the configured id header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Client {
    /// The id comes and goes in the session cookie.
    Browser,
    /// The id comes and goes in the id header; no cookie is ever sent, and
    /// the id never goes to a browser (page scripts could read it).
    Header,
}

/// What a request presented as its session id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IncomingId {
    /// No session cookie (or an empty id header).
    None,
    /// A well-formed id whose integrity tag verifies. It may still name an
    /// ended or unknown session: only the store knows.
    Present(SessionId),
    /// Something was presented and refused.
    Rejected(Rejection),
}

impl IncomingId {
    /// Reads the candidate id from the request's `Cookie` header values (all
    /// of them: HTTP/2 may split cookies over several headers).
    pub(crate) fn from_cookies<'a>(
        cookie_name: &str,
        keys: &KeyRing,
        cookie_headers: impl IntoIterator<Item = &'a [u8]>,
    ) -> IncomingId {
        let mut found: Option<&[u8]> = None;
        for header in cookie_headers {
            for pair in header.split(|&b| b == b';') {
                let pair = pair.trim_ascii();
                let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                    continue;
                };
                if pair[..eq].trim_ascii() != cookie_name.as_bytes() {
                    continue;
                }
                if found.is_some() {
                    return IncomingId::Rejected(Rejection::Duplicate);
                }
                found = Some(pair[eq + 1..].trim_ascii());
            }
        }
        match found {
            None => IncomingId::None,
            Some(value) => parse_value(value, keys),
        }
    }

    /// Reads the candidate id from the id header's value; empty means none.
    pub(crate) fn from_header(value: &[u8], keys: &KeyRing) -> IncomingId {
        match value.trim_ascii() {
            [] => IncomingId::None,
            value => parse_value(value, keys),
        }
    }
}

fn parse_value(value: &[u8], keys: &KeyRing) -> IncomingId {
    if value.len() > MAX_ID_VALUE_BYTES {
        return IncomingId::Rejected(Rejection::Oversized);
    }
    // RFC 6265 allows a cookie value in double quotes.
    let value = match value {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    };
    let Ok(text) = std::str::from_utf8(value) else {
        return IncomingId::Rejected(Rejection::NotUtf8);
    };
    if text.len() != SESSION_ID_LEN {
        return IncomingId::Rejected(Rejection::Malformed);
    }
    match SessionId::parse(text, keys) {
        Ok(id) => IncomingId::Present(id),
        Err(IdError::Forged) => IncomingId::Rejected(Rejection::Forged),
        Err(_) => IncomingId::Rejected(Rejection::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SlotTag;
    use proptest::prelude::*;

    fn ring() -> KeyRing {
        KeyRing::new(vec![vec![3; 32]]).unwrap()
    }

    fn read_incoming_id<'a>(
        name: &str,
        keys: &KeyRing,
        cookies: impl IntoIterator<Item = &'a [u8]>,
        header: Option<&[u8]>,
    ) -> IncomingId {
        match header {
            Some(h) => IncomingId::from_header(h, keys),
            None => IncomingId::from_cookies(name, keys, cookies),
        }
    }

    #[test]
    fn finds_the_cookie_among_others_and_in_quotes() {
        let r = ring();
        let sid = SessionId::generate(&r, SlotTag::random());
        let h1 = format!("a=1; sid={}; b=2", sid.expose_secret());
        assert_eq!(
            read_incoming_id("sid", &r, [h1.as_bytes()], None),
            IncomingId::Present(sid.clone())
        );
        let h2 = format!("sid=\"{}\"", sid.expose_secret());
        assert_eq!(
            read_incoming_id("sid", &r, [h2.as_bytes()], None),
            IncomingId::Present(sid.clone())
        );
        assert_eq!(
            read_incoming_id("sid", &r, [b"sidx=1".as_slice()], None),
            IncomingId::None
        );
    }

    #[test]
    fn tossed_cookies_are_refused_even_across_headers() {
        let r = ring();
        let sid = SessionId::generate(&r, SlotTag::random());
        let h = format!("sid={}", sid.expose_secret());
        assert_eq!(
            read_incoming_id("sid", &r, [h.as_bytes(), h.as_bytes()], None),
            IncomingId::Rejected(Rejection::Duplicate)
        );
    }

    #[test]
    fn a_header_client_is_read_from_the_header_only() {
        let r = ring();
        let b = SessionId::generate(&r, SlotTag::random());
        assert_eq!(
            IncomingId::from_header(b.expose_secret().as_bytes(), &r),
            IncomingId::Present(b)
        );
        assert_eq!(IncomingId::from_header(b"  ", &r), IncomingId::None);
        assert_eq!(IncomingId::from_header(b"", &r), IncomingId::None);
        assert_eq!(
            IncomingId::from_header(b"x", &r),
            IncomingId::Rejected(Rejection::Malformed)
        );
    }

    #[test]
    fn rejections_name_the_case() {
        let r = ring();
        let other = SessionId::generate(&KeyRing::generate(), SlotTag::random());
        let cases: [(Vec<u8>, Rejection); 4] = [
            (
                format!("sid={}", other.expose_secret()).into_bytes(),
                Rejection::Forged,
            ),
            (
                format!("sid={}", "x".repeat(300)).into_bytes(),
                Rejection::Oversized,
            ),
            (b"sid=\xff\xfe".to_vec(), Rejection::NotUtf8),
            (b"sid=abc".to_vec(), Rejection::Malformed),
        ];
        for (header, want) in cases {
            assert_eq!(
                read_incoming_id("sid", &r, [header.as_slice()], None),
                IncomingId::Rejected(want)
            );
        }
    }

    proptest! {
        #[test]
        fn arbitrary_header_bytes_never_panic_and_never_verify(
            headers in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 0..4),
            id_header in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        ) {
            let r = ring();
            let got = read_incoming_id("sid", &r, headers.iter().map(Vec::as_slice), id_header.as_deref());
            prop_assert!(!matches!(got, IncomingId::Present(_)));
        }

        #[test]
        fn a_valid_id_survives_arbitrary_neighbouring_cookies(
            before in "[a-z]{1,8}=[ -:<-~]{0,40}",
            after in "[a-z]{1,8}=[ -:<-~]{0,40}",
        ) {
            prop_assume!(!before.starts_with("sid=") && !after.starts_with("sid="));
            let r = ring();
            let sid = SessionId::generate(&r, SlotTag::random());
            let header = format!("{before}; sid={}; {after}", sid.expose_secret());
            prop_assert_eq!(
                read_incoming_id("sid", &r, [header.as_bytes()], None),
                IncomingId::Present(sid)
            );
        }
    }
}
