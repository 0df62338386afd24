//! Which Redis to talk to, from the URL.
//!
//! The URL forms are tabled in the crate docs.

use crate::error::RedisStoreError;

/// The parsed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Topology {
    /// One server, by its redis-rs URL.
    Single(String),
    /// A cluster: seed URLs and optional ACL credentials.
    Cluster {
        seeds: Vec<String>,
        credentials: Option<(String, String)>,
    },
}

/// Parses a store URL.
pub(crate) fn parse(url: &str) -> Result<Topology, RedisStoreError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| RedisStoreError::BadUrl("expected scheme://host:port".into()))?;
    match scheme {
        "redis" => Ok(Topology::Single(url.to_owned())),
        "redis+cluster" => {
            let (credentials, hosts) = match rest.rsplit_once('@') {
                Some((userinfo, hosts)) => {
                    let (user, password) = userinfo.split_once(':').unwrap_or(("", userinfo));
                    (Some((user.to_owned(), password.to_owned())), hosts)
                }
                None => (None, rest),
            };
            let hosts = hosts.trim_end_matches('/');
            let seeds: Vec<String> = hosts
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(|h| format!("redis://{h}"))
                .collect();
            if seeds.is_empty() || hosts.contains('/') {
                return Err(RedisStoreError::BadUrl(
                    "a cluster URL lists host:port seeds separated by commas".into(),
                ));
            }
            Ok(Topology::Cluster { seeds, credentials })
        }
        other => Err(RedisStoreError::Unsupported(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                credentials: None
            }
        );
        assert_eq!(
            parse("redis+cluster://app:secret@a:1").unwrap(),
            Topology::Cluster {
                seeds: vec!["redis://a:1".into()],
                credentials: Some(("app".into(), "secret".into()))
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
