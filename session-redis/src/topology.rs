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
    Cluster {
        seeds: Vec<String>,
        credentials: Option<(String, String)>,
        tls: bool,
    },
    /// Sentinels (URLs), the monitored primary's name, optional ACL
    /// credentials for the data nodes, and whether to use TLS.
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
            Topology::Cluster { seeds, tls, .. } => write!(f, "Cluster({seeds:?}, tls: {tls})"),
            Topology::Sentinel {
                sentinels,
                master,
                tls,
                ..
            } => write!(f, "Sentinel({sentinels:?}, {master}, tls: {tls})"),
        }
    }
}

/// Parses a store URL.
pub(crate) fn parse(url: &str) -> Result<Topology, RedisStoreError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| RedisStoreError::BadUrl("expected scheme://host:port".into()))?;
    match scheme {
        "redis" | "rediss" => Ok(Topology::Single(url.to_owned())),
        "redis+cluster" | "rediss+cluster" => {
            let (credentials, hosts) = split_credentials(rest)?;
            let hosts = hosts.trim_end_matches('/');
            if hosts.contains('/') {
                return Err(RedisStoreError::BadUrl(
                    "a cluster URL lists host:port seeds separated by commas".into(),
                ));
            }
            let tls = scheme == "rediss+cluster";
            let scheme = if tls { "rediss" } else { "redis" };
            Ok(Topology::Cluster {
                seeds: host_list(hosts)?
                    .into_iter()
                    .map(|h| h.replacen("redis://", &format!("{scheme}://"), 1))
                    .collect(),
                credentials,
                tls,
            })
        }
        "redis+sentinel" | "rediss+sentinel" => {
            let (credentials, rest) = split_credentials(rest)?;
            let tls = scheme == "rediss+sentinel";
            let (hosts, master) = rest.split_once('/').ok_or_else(|| {
                RedisStoreError::BadUrl("a sentinel URL ends with /MASTER-NAME".into())
            })?;
            if master.is_empty() || master.contains('/') {
                return Err(RedisStoreError::BadUrl(
                    "a sentinel URL ends with /MASTER-NAME".into(),
                ));
            }
            let scheme = if tls { "rediss" } else { "redis" };
            Ok(Topology::Sentinel {
                sentinels: host_list(hosts)?
                    .into_iter()
                    .map(|h| h.replacen("redis://", &format!("{scheme}://"), 1))
                    .collect(),
                master: master.to_owned(),
                credentials,
                tls,
            })
        }
        other => Err(RedisStoreError::Unsupported(other.to_owned())),
    }
}

/// A user name (empty for the default user) and password.
type Credentials = (String, String);

/// `user:pass@rest` → (Some((user, pass)), rest); `rest` → (None, rest).
/// The user and password are percent-decoded, as in any URL (a password
/// holding `@` or `:` is written `%40`, `%3A`).
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

/// `h:p,h:p` → `redis://h:p` URLs.
fn host_list(hosts: &str) -> Result<Vec<String>, RedisStoreError> {
    let list: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| format!("redis://{h}"))
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
}
