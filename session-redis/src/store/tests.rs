//! The Redis store's unit tests.
use super::*;

fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

/// The URL the variables give (the merging rules, which hold in every
/// feature set; whether this build can use it is tested below).
fn url_of(pairs: &'static [(&'static str, &'static str)]) -> String {
    crate::env::unchecked_url(env(pairs)).unwrap().unwrap().0
}

#[test]
fn the_environment_gives_only_urls_this_build_can_use() {
    let tls =
        RedisStore::builder_from_lookup(env(&[("REDIS_HOST", "cache"), ("REDIS_SSL", "true")]));
    if cfg!(feature = "tls") {
        assert_eq!(tls.unwrap().unwrap().url, "rediss://cache:6379/0");
    } else {
        assert!(matches!(
            tls,
            Err(RedisStoreError::FeatureNeeded { ref features, .. }) if features == &["tls"]
        ));
    }
    let cluster = RedisStore::builder_from_lookup(env(&[("REDIS_URL", "redis+cluster://a:1,b:2")]));
    assert_eq!(cluster.is_ok(), cfg!(feature = "cluster"), "{cluster:?}");
    let sentinel =
        RedisStore::builder_from_lookup(env(&[("REDIS_URL", "redis-sentinel://s:1/mymaster")]));
    assert_eq!(sentinel.is_ok(), cfg!(feature = "sentinel"), "{sentinel:?}");
    // A URL that is wrong whatever the features names the variable.
    assert!(matches!(
        RedisStore::builder_from_lookup(env(&[("REDIS_URL", "redis+cluster://")])),
        Err(RedisStoreError::BadSetting {
            variable: "REDIS_URL",
            ..
        }) | Err(RedisStoreError::FeatureNeeded { .. })
    ));
}

#[test]
fn settings_from_the_environment() {
    assert_eq!(url_of(&[("REDIS_HOST", "cache")]), "redis://cache:6379/0");
    assert_eq!(
        url_of(&[
            ("REDIS_HOST", "cache"),
            ("REDIS_PORT", "6380"),
            ("REDIS_DB", "2"),
            ("REDIS_USERNAME", "app"),
            ("REDIS_PASSWORD", "p@ss:w/rd"),
            ("REDIS_SSL", "true"),
        ]),
        "rediss://app:p%40ss%3Aw%2Frd@cache:6380/2"
    );
    for (pairs, variable) in [
        (&[("REDIS_URL", "memcached://x")][..], "REDIS_URL"),
        (
            &[("REDIS_HOST", "h"), ("REDIS_SSL", "maybe")][..],
            "REDIS_SSL",
        ),
        (&[("REDIS_HOST", "h"), ("REDIS_DB", "-1")][..], "REDIS_DB"),
        (&[("REDIS_HOST", "a/b")][..], "REDIS_HOST"),
    ] {
        let pairs: &'static [(&'static str, &'static str)] = pairs;
        match RedisStore::builder_from_lookup(env(pairs)) {
            Err(RedisStoreError::BadSetting { variable: v, .. }) => assert_eq!(v, variable),
            other => panic!("{pairs:?}: expected an error naming {variable}, got {other:?}"),
        }
    }
    assert!(RedisStore::builder_from_lookup(env(&[])).unwrap().is_none());
    let builder = RedisStore::builder_from_lookup(env(&[
        ("REDIS_HOST", "cache"),
        ("REDIS_PASSWORD", "s3cret"),
    ]))
    .unwrap()
    .unwrap();
    assert!(!format!("{builder:?}").contains("s3cret"));
}

fn refused(pairs: &'static [(&'static str, &'static str)]) -> &'static str {
    match RedisStore::builder_from_lookup(env(pairs)) {
        Err(RedisStoreError::BadSetting { variable, .. }) => variable,
        other => panic!("{pairs:?}: expected a BadSetting, got {other:?}"),
    }
}

fn prefix_of(pairs: &'static [(&'static str, &'static str)]) -> String {
    RedisStore::builder_from_lookup(env(pairs))
        .unwrap()
        .unwrap()
        .prefix
}

#[test]
fn the_key_prefix_comes_from_the_environment() {
    assert_eq!(prefix_of(&[("REDIS_HOST", "cache")]), "session");
    assert_eq!(
        prefix_of(&[("REDIS_HOST", "cache"), ("SESSION_KEY_PREFIX", " shop ")]),
        "shop"
    );
    assert_eq!(
        prefix_of(&[
            ("REDIS_URL", "redis://cache:6379"),
            ("SESSION_KEY_PREFIX", "billing-v2:eu")
        ]),
        "billing-v2:eu"
    );
    assert_eq!(
        prefix_of(&[("REDIS_HOST", "cache"), ("SESSION_KEY_PREFIX", "  ")]),
        "session"
    );
    for bad in ["my app", "a/b", "é", &*"x".repeat(65)] {
        let bad: &'static str = Box::leak(bad.to_owned().into_boxed_str());
        let pairs: &'static [(&'static str, &'static str)] = Box::leak(Box::new([
            ("REDIS_HOST", "cache"),
            ("SESSION_KEY_PREFIX", bad),
        ]));
        assert_eq!(refused(pairs), "SESSION_KEY_PREFIX", "{bad:?}");
    }
}

#[test]
fn url_and_credentials_are_merged_or_refused() {
    // Credentials only in the variables: merged into the URL, encoded.
    assert_eq!(
        url_of(&[
            ("REDIS_URL", "redis://cache:6379/2"),
            ("REDIS_USERNAME", "app"),
            ("REDIS_PASSWORD", "p@ss:w/rd"),
        ]),
        "redis://app:p%40ss%3Aw%2Frd@cache:6379/2"
    );
    assert_eq!(
        url_of(&[
            ("REDIS_URL", "redis+cluster://a:1,b:2"),
            ("REDIS_PASSWORD", "s3cret"),
        ]),
        "redis+cluster://:s3cret@a:1,b:2"
    );
    assert_eq!(
        url_of(&[
            ("REDIS_URL", "redis+sentinel://s1:26379,s2:26379/mymaster"),
            ("REDIS_USERNAME", "app"),
            ("REDIS_PASSWORD", "pw"),
        ]),
        "redis+sentinel://app:pw@s1:26379,s2:26379/mymaster"
    );
    // Credentials in both places: refused, naming the variable.
    assert_eq!(
        refused(&[
            ("REDIS_URL", "redis://app:one@cache:6379"),
            ("REDIS_PASSWORD", "two"),
        ]),
        "REDIS_PASSWORD"
    );
    assert_eq!(
        refused(&[
            ("REDIS_URL", "redis://:one@cache:6379"),
            ("REDIS_USERNAME", "app"),
        ]),
        "REDIS_USERNAME"
    );
    // A user name alone would be ignored by the client: refused.
    assert_eq!(
        refused(&[
            ("REDIS_URL", "redis://cache:6379"),
            ("REDIS_USERNAME", "app")
        ]),
        "REDIS_USERNAME"
    );
    assert_eq!(
        refused(&[("REDIS_HOST", "cache"), ("REDIS_USERNAME", "app")]),
        "REDIS_USERNAME"
    );
}

#[test]
fn url_and_tls_setting_are_merged_or_refused() {
    for (url, upgraded) in [
        ("redis://cache:6379/1", "rediss://cache:6379/1"),
        ("rediss://cache:6379", "rediss://cache:6379"),
        ("redis+cluster://a:1,b:2", "rediss+cluster://a:1,b:2"),
        ("redis+sentinel://s:1/m", "rediss+sentinel://s:1/m"),
        ("redis-sentinel://s:1/m", "rediss-sentinel://s:1/m"),
    ] {
        let pairs: &'static [(&'static str, &'static str)] =
            Box::leak(Box::new([("REDIS_URL", url), ("REDIS_SSL", "true")]));
        assert_eq!(url_of(pairs), upgraded);
    }
    assert_eq!(
        url_of(&[("REDIS_URL", "redis://cache:6379"), ("REDIS_SSL", "false")]),
        "redis://cache:6379"
    );
    for url in [
        "rediss://cache:6379",
        "rediss+cluster://a:1",
        "rediss+sentinel://s:1/m",
    ] {
        let pairs: &'static [(&'static str, &'static str)] =
            Box::leak(Box::new([("REDIS_URL", url), ("REDIS_SSL", "false")]));
        assert_eq!(refused(pairs), "REDIS_SSL", "{url}");
    }
    assert_eq!(
        refused(&[("REDIS_URL", "redis://cache:6379"), ("REDIS_SSL", "maybe")]),
        "REDIS_SSL"
    );
}

#[test]
fn url_and_address_parts_are_refused_together() {
    for (part, value) in [
        ("REDIS_HOST", "x"),
        ("REDIS_PORT", "6380"),
        ("REDIS_DB", "2"),
    ] {
        let pairs: &'static [(&'static str, &'static str)] = Box::leak(Box::new([
            ("REDIS_URL", "redis+cluster://a:1,b:2"),
            (part, value),
        ]));
        assert_eq!(refused(pairs), part);
    }
}

#[test]
fn parts_without_a_host_are_refused() {
    for part in [
        "REDIS_PORT",
        "REDIS_DB",
        "REDIS_USERNAME",
        "REDIS_PASSWORD",
        "REDIS_SSL",
    ] {
        let pairs: &'static [(&'static str, &'static str)] = Box::leak(Box::new([(part, "1")]));
        assert_eq!(refused(pairs), part);
    }
}
