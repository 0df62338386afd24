//! What the store checks about the server when it is built: the version,
//! refused when the store cannot serve it, and the eviction policy, warned
//! about when Redis may drop session keys.

use crate::connection::Connection;
use crate::error::RedisStoreError;

/// What this store needs, as the refusal names it.
const NEEDED: &str = "Redis 7.0 or later, or Valkey 7.2 or later";

/// Refuses a server older than [`NEEDED`] (its scripts and commands fail
/// there on every write), then warns about a `maxmemory-policy` that may
/// evict. Either check is skipped, with a debug event, when the server
/// does not let this user run INFO or CONFIG.
pub(crate) async fn check_server(conn: &Connection) -> Result<(), RedisStoreError> {
    match conn.server_infos().await {
        None => tracing::debug!(
            target: "session_redis",
            "the server's version could not be read (INFO not allowed): not checked"
        ),
        Some(infos) => {
            for info in &infos {
                check_version(info)?;
            }
        }
    }
    check_maxmemory_policy(conn).await;
    Ok(())
}

/// Judges one server's `INFO server` text.
fn check_version(info: &str) -> Result<(), RedisStoreError> {
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    // Valkey also reports a `redis_version` (7.2.4, for clients that read
    // only that), so its own version is read when it names itself.
    let (server, version, needed) = match field("valkey_version") {
        Some(v) => ("Valkey", v, (7, 2)),
        None => match field("redis_version") {
            Some(v) => ("Redis", v, (7, 0)),
            None => {
                tracing::warn!(
                    target: "session_redis",
                    "the server's INFO names no version: not checked"
                );
                return Ok(());
            }
        },
    };
    let mut parts = version.split('.').map(|p| p.parse::<u32>());
    let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) else {
        tracing::warn!(
            target: "session_redis",
            server,
            "the server's version does not read as a number: not checked"
        );
        return Ok(());
    };
    if (major, minor) < needed {
        return Err(RedisStoreError::UnsupportedServer {
            found: format!("{server} {major}.{minor}"),
            needed: NEEDED,
        });
    }
    Ok(())
}

/// Warns when a primary may evict keys: any `maxmemory-policy` but
/// `noeviction` can drop an index or a tombstone under memory pressure, and
/// a dropped tombstone lets an ended session's id be forgotten early, a
/// dropped index hides sessions from revoke-all. Skipped (a debug event)
/// when CONFIG is not allowed.
async fn check_maxmemory_policy(conn: &Connection) {
    match conn.maxmemory_policies().await {
        None => tracing::debug!(
            target: "session_redis",
            "maxmemory-policy could not be read (CONFIG not allowed): not checked"
        ),
        Some(policies) => {
            for policy in policies.iter().filter(|p| p.as_str() != "noeviction") {
                tracing::warn!(
                    target: "session_redis",
                    policy = %policy,
                    "Redis may evict session keys under memory pressure: set maxmemory-policy noeviction (see the operations notes)"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(lines: &[&str]) -> String {
        let mut text = String::from("# Server\r\n");
        for l in lines {
            text.push_str(l);
            text.push_str("\r\n");
        }
        text
    }

    #[test]
    fn redis_older_than_7_0_is_refused_naming_both_versions() {
        let err = check_version(&info(&["redis_version:6.2.14", "redis_mode:standalone"]))
            .expect_err("Redis 6 is refused");
        let text = err.to_string();
        assert!(text.contains("Redis 6.2"), "{text}");
        assert!(text.contains("Redis 7.0 or later"), "{text}");
    }

    #[test]
    fn redis_7_and_valkey_7_2_and_later_are_served() {
        for lines in [
            &["redis_version:7.0.15"][..],
            &["redis_version:8.2.1"],
            &[
                "redis_version:7.2.4",
                "server_name:valkey",
                "valkey_version:9.0.0",
            ],
            &[
                "redis_version:7.2.4",
                "server_name:valkey",
                "valkey_version:7.2.5",
            ],
        ] {
            assert!(check_version(&info(lines)).is_ok(), "{lines:?}");
        }
    }

    #[test]
    fn valkey_is_judged_by_its_own_version() {
        let err = check_version(&info(&[
            "redis_version:7.2.4",
            "server_name:valkey",
            "valkey_version:7.1.0",
        ]))
        .expect_err("a Valkey before 7.2 is refused");
        assert!(err.to_string().contains("Valkey 7.1"), "{err}");
    }

    #[test]
    fn a_version_that_cannot_be_read_is_not_refused() {
        for lines in [&[][..], &["redis_version:"], &["redis_version:seven"]] {
            assert!(check_version(&info(lines)).is_ok(), "{lines:?}");
        }
    }
}
