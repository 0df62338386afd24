//! Which Redis to talk to, from the URL.
//!
//! The URL forms are tabled in the crate docs.

use crate::error::RedisStoreError;

/// `url` with any password replaced by `***`, for logs and `Debug`.
pub(crate) fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // Credentials end at the last '@' before the first '/' (the path).
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split_once(':').map_or(&rest[..at], |(u, _)| u);
            format!("{scheme}://{user}:***@{}", &rest[at + 1..])
        }
        None => url.to_owned(),
    }
}

/// The parsed target. Its `Debug` output hides passwords.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Topology {
    /// One server, by its redis-rs URL (`rediss://` for TLS).
    Single(String),
    /// A cluster: seed URLs and optional ACL credentials.
    #[cfg(feature = "cluster")]
    Cluster {
        seeds: Vec<String>,
        credentials: Option<(String, String)>,
        tls: bool,
    },
    /// Sentinels (URLs), the monitored primary's name, optional ACL
    /// credentials for the data nodes, and whether to use TLS.
    #[cfg(feature = "sentinel")]
    Sentinel {
        sentinels: Vec<String>,
        master: String,
        credentials: Option<(String, String)>,
        tls: bool,
    },
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Topology::Single(url) => write!(f, "Single({})", redacted(url)),
            #[cfg(feature = "cluster")]
            Topology::Cluster { seeds, tls, .. } => write!(f, "Cluster({seeds:?}, tls: {tls})"),
            #[cfg(feature = "sentinel")]
            Topology::Sentinel {
                sentinels,
                master,
                tls,
                ..
            } => write!(f, "Sentinel({sentinels:?}, {master}, tls: {tls})"),
        }
    }
}

/// The URL schemes this store knows, each with whether it is TLS and the
/// topology it names. `redis-sentinel` is the spelling other stacks use
/// for `redis+sentinel`.
const SCHEMES: [(&str, bool, Kind); 8] = [
    ("redis", false, Kind::Single),
    ("rediss", true, Kind::Single),
    ("redis+cluster", false, Kind::Cluster),
    ("rediss+cluster", true, Kind::Cluster),
    ("redis+sentinel", false, Kind::Sentinel),
    ("rediss+sentinel", true, Kind::Sentinel),
    ("redis-sentinel", false, Kind::Sentinel),
    ("rediss-sentinel", true, Kind::Sentinel),
];

/// Which topology a scheme names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Single,
    Cluster,
    Sentinel,
}

/// A URL's scheme (before `://`), whether it is TLS, and the same scheme
/// with TLS; `None` when it is not a Redis scheme.
pub(crate) fn scheme_tls(scheme: &str) -> Option<(bool, String)> {
    let (_, tls, _) = SCHEMES.iter().find(|(s, _, _)| *s == scheme)?;
    let secure = if *tls {
        scheme.to_owned()
    } else {
        scheme.replacen("redis", "rediss", 1)
    };
    Some((*tls, secure))
}

/// Parses a store URL. A form whose feature is off (`rediss://` without
/// `tls`, `redis+cluster://` without `cluster`, …) is
/// [`RedisStoreError::FeatureNeeded`].
pub(crate) fn parse(url: &str) -> Result<Topology, RedisStoreError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| RedisStoreError::BadUrl("expected scheme://host:port".into()))?;
    let Some(&(_, tls, kind)) = SCHEMES.iter().find(|(s, _, _)| *s == scheme) else {
        return Err(RedisStoreError::Unsupported(scheme.to_owned()));
    };
    match kind {
        Kind::Single => match tls_missing(tls) {
            Some(tls) => Err(feature_needed(scheme, vec![tls])),
            None => Ok(Topology::Single(url.to_owned())),
        },
        Kind::Cluster => cluster(scheme, rest, tls),
        Kind::Sentinel => sentinel(scheme, rest, tls),
    }
}

/// `Some("tls")` when `tls` is asked for and the feature is off.
fn tls_missing(tls: bool) -> Option<&'static str> {
    (tls && !cfg!(feature = "tls")).then_some("tls")
}

fn feature_needed(scheme: &str, features: Vec<&'static str>) -> RedisStoreError {
    RedisStoreError::FeatureNeeded {
        scheme: scheme.to_owned(),
        features,
    }
}

/// `h:p,h:p` after the cluster scheme (`tls`: `rediss+cluster`).
#[cfg(feature = "cluster")]
fn cluster(scheme: &str, rest: &str, tls: bool) -> Result<Topology, RedisStoreError> {
    if let Some(missing) = tls_missing(tls) {
        return Err(feature_needed(scheme, vec![missing]));
    }
    let (credentials, hosts) = split_credentials(rest)?;
    let hosts = hosts.trim_end_matches('/');
    if hosts.contains('/') {
        return Err(RedisStoreError::BadUrl(
            "a cluster URL lists host:port seeds separated by commas".into(),
        ));
    }
    let node_scheme = if tls { "rediss" } else { "redis" };
    Ok(Topology::Cluster {
        seeds: host_list(hosts, node_scheme)?,
        credentials,
        tls,
    })
}

#[cfg(not(feature = "cluster"))]
fn cluster(scheme: &str, _rest: &str, tls: bool) -> Result<Topology, RedisStoreError> {
    Err(feature_needed(
        scheme,
        std::iter::once("cluster").chain(tls_missing(tls)).collect(),
    ))
}

/// `h:p,…/MASTER` after a sentinel scheme (`tls`: `rediss+sentinel`).
#[cfg(feature = "sentinel")]
fn sentinel(scheme: &str, rest: &str, tls: bool) -> Result<Topology, RedisStoreError> {
    if let Some(missing) = tls_missing(tls) {
        return Err(feature_needed(scheme, vec![missing]));
    }
    let (credentials, rest) = split_credentials(rest)?;
    let (hosts, master) = rest
        .split_once('/')
        .ok_or_else(|| RedisStoreError::BadUrl("a sentinel URL ends with /MASTER-NAME".into()))?;
    if master.is_empty() || master.contains('/') {
        return Err(RedisStoreError::BadUrl(
            "a sentinel URL ends with /MASTER-NAME".into(),
        ));
    }
    let node_scheme = if tls { "rediss" } else { "redis" };
    Ok(Topology::Sentinel {
        sentinels: host_list(hosts, node_scheme)?,
        master: master.to_owned(),
        credentials,
        tls,
    })
}

#[cfg(not(feature = "sentinel"))]
fn sentinel(scheme: &str, _rest: &str, tls: bool) -> Result<Topology, RedisStoreError> {
    Err(feature_needed(
        scheme,
        std::iter::once("sentinel")
            .chain(tls_missing(tls))
            .collect(),
    ))
}

/// Whether a URL carries credentials (`user:pass@` before the host).
pub(crate) fn has_credentials(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    rest[..authority_end].contains('@')
}

/// A user name (empty for the default user) and password.
#[cfg(any(feature = "cluster", feature = "sentinel"))]
type Credentials = (String, String);

/// `user:pass@rest` → (Some((user, pass)), rest); `rest` → (None, rest).
/// The user and password are percent-decoded, as in any URL (a password
/// holding `@` or `:` is written `%40`, `%3A`).
#[cfg(any(feature = "cluster", feature = "sentinel"))]
fn split_credentials(rest: &str) -> Result<(Option<Credentials>, &str), RedisStoreError> {
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return Ok((None, rest));
    };
    let (userinfo, hosts) = (&rest[..at], &rest[at + 1..]);
    let (user, password) = userinfo.split_once(':').unwrap_or(("", userinfo));
    let decode = |part: &str, what: &str| {
        percent_encoding::percent_decode_str(part)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| {
                RedisStoreError::BadUrl(format!("the {what} is not UTF-8 once percent-decoded"))
            })
    };
    Ok((
        Some((decode(user, "user name")?, decode(password, "password")?)),
        hosts,
    ))
}

/// `h:p,h:p` → `SCHEME://h:p` URLs.
#[cfg(any(feature = "cluster", feature = "sentinel"))]
fn host_list(hosts: &str, scheme: &str) -> Result<Vec<String>, RedisStoreError> {
    let list: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| format!("{scheme}://{h}"))
        .collect();
    if list.is_empty() {
        return Err(RedisStoreError::BadUrl("no host:port given".into()));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_debug_output_prints_a_password() {
        for url in [
            "redis://app:s3cret@10.0.0.1:6379/2",
            "rediss://:s3cret@h:1",
            "redis+cluster://app:s3cret@a:1,b:2",
            "redis+sentinel://app:s3cret@s1:26379,s2:26379/mymaster",
        ] {
            let builder = format!("{:?}", crate::RedisStore::builder(url));
            assert!(!builder.contains("s3cret"), "{builder}");
            assert!(builder.contains("***"), "{builder}");
            if let Ok(t) = parse(url) {
                assert!(!format!("{t:?}").contains("s3cret"), "{t:?}");
            }
        }
        assert_eq!(redacted("redis://h:1/0"), "redis://h:1/0");
        assert_eq!(redacted("redis://u:p@h:1/0"), "redis://u:***@h:1/0");
    }

    #[test]
    #[cfg(all(feature = "cluster", feature = "sentinel", feature = "tls"))]
    fn credentials_are_percent_decoded() {
        let Topology::Cluster { credentials, .. } =
            parse("redis+cluster://app%2B1:p%40ss%3Aw%2Frd@a:1,b:2").unwrap()
        else {
            panic!("a cluster")
        };
        assert_eq!(credentials, Some(("app+1".into(), "p@ss:w/rd".into())));
        let Topology::Sentinel {
            credentials,
            tls,
            sentinels,
            ..
        } = parse("rediss+sentinel://:s%40cret@s1:1,s2:2/mymaster").unwrap()
        else {
            panic!("sentinel")
        };
        assert_eq!(credentials, Some(("".into(), "s@cret".into())));
        assert!(tls);
        assert_eq!(sentinels, vec!["rediss://s1:1", "rediss://s2:2"]);
        assert!(matches!(
            parse("redis+cluster://u:%FF@a:1"),
            Err(RedisStoreError::BadUrl(_))
        ));
    }

    #[test]
    #[cfg(all(feature = "cluster", feature = "tls"))]
    fn tls_urls_keep_tls() {
        assert_eq!(
            parse("rediss+cluster://a:1").unwrap(),
            Topology::Cluster {
                seeds: vec!["rediss://a:1".into()],
                credentials: None,
                tls: true
            }
        );
        assert_eq!(
            parse("rediss://a:1").unwrap(),
            Topology::Single("rediss://a:1".into())
        );
    }

    #[test]
    #[cfg(feature = "cluster")]
    fn urls_pick_the_topology() {
        assert_eq!(
            parse("redis://127.0.0.1:7000/2").unwrap(),
            Topology::Single("redis://127.0.0.1:7000/2".into())
        );
        assert_eq!(
            parse("redis+cluster://a:1,b:2").unwrap(),
            Topology::Cluster {
                seeds: vec!["redis://a:1".into(), "redis://b:2".into()],
                credentials: None,
                tls: false
            }
        );
        assert_eq!(
            parse("redis+cluster://app:secret@a:1").unwrap(),
            Topology::Cluster {
                seeds: vec!["redis://a:1".into()],
                credentials: Some(("app".into(), "secret".into())),
                tls: false
            }
        );
        assert!(matches!(
            parse("redis+cluster://"),
            Err(RedisStoreError::BadUrl(_))
        ));
        assert!(matches!(
            parse("localhost"),
            Err(RedisStoreError::BadUrl(_))
        ));
        assert!(matches!(
            parse("memcached://x"),
            Err(RedisStoreError::Unsupported(_))
        ));
    }

    #[test]
    #[cfg(all(feature = "sentinel", feature = "tls"))]
    fn sentinel_urls_have_the_common_alias() {
        assert_eq!(
            parse("redis-sentinel://app:pw@s1:1,s2:2/mymaster").unwrap(),
            parse("redis+sentinel://app:pw@s1:1,s2:2/mymaster").unwrap()
        );
        assert_eq!(
            parse("rediss-sentinel://s1:1/mymaster").unwrap(),
            parse("rediss+sentinel://s1:1/mymaster").unwrap()
        );
    }

    /// Each URL form either parses or, when this build lacks its features,
    /// is `FeatureNeeded` naming exactly the missing ones (run under every
    /// feature set).
    #[test]
    fn forms_need_their_features() {
        let enabled: Vec<&str> = [
            ("tls", cfg!(feature = "tls")),
            ("cluster", cfg!(feature = "cluster")),
            ("sentinel", cfg!(feature = "sentinel")),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
        for (url, needs) in [
            ("redis://h:1", &[][..]),
            ("rediss://h:1", &["tls"][..]),
            ("redis+cluster://a:1,b:2", &["cluster"][..]),
            ("rediss+cluster://a:1", &["cluster", "tls"][..]),
            ("redis+sentinel://s:1/m", &["sentinel"][..]),
            ("redis-sentinel://s:1/m", &["sentinel"][..]),
            ("rediss+sentinel://s:1/m", &["sentinel", "tls"][..]),
            ("rediss-sentinel://s:1/m", &["sentinel", "tls"][..]),
        ] {
            let missing: Vec<&str> = needs
                .iter()
                .copied()
                .filter(|f| !enabled.contains(f))
                .collect();
            match parse(url) {
                Ok(_) => assert!(missing.is_empty(), "{url} parsed without {missing:?}"),
                Err(RedisStoreError::FeatureNeeded { features, scheme }) => {
                    assert_eq!(features, missing, "{url}");
                    assert!(url.starts_with(&format!("{scheme}://")));
                    let message = parse(url).err().map(|e| e.to_string()).unwrap_or_default();
                    for f in &missing {
                        assert!(message.contains(f), "{message}");
                    }
                }
                Err(other) => panic!("{url}: {other}"),
            }
        }
    }

    #[test]
    fn schemes_have_tls_forms() {
        for (scheme, tls, secure) in [
            ("redis", false, "rediss"),
            ("rediss", true, "rediss"),
            ("redis+cluster", false, "rediss+cluster"),
            ("redis+sentinel", false, "rediss+sentinel"),
            ("redis-sentinel", false, "rediss-sentinel"),
            ("rediss-sentinel", true, "rediss-sentinel"),
        ] {
            assert_eq!(scheme_tls(scheme), Some((tls, secure.to_owned())));
        }
        assert_eq!(scheme_tls("memcached"), None);
        assert!(has_credentials("redis://:p@h:1/0"));
        assert!(has_credentials("redis+cluster://u:p@a:1,b:2"));
        assert!(!has_credentials("redis://h:1/0"));
        assert!(!has_credentials("redis+sentinel://s:1/m@x"));
    }
}
