//! Two applications on one Redis, separated by `SESSION_KEY_PREFIX` alone,
//! with the same `SESSION_SECRET` and the same user: each is set up the way
//! the README says (`setup_from_env`), and neither accepts the other's
//! cookie, lists, counts or revokes the other's sessions; every key each
//! writes starts with its own prefix. On a single server and on a
//! 3-primary Cluster.

use redis_harness::{Cluster, Server};
use session_core::{Environment, SessionManager, UserId};

const SECRET: &str = "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=";

/// An application configured from its environment: `REDIS_URL`, the shared
/// secret and its own prefix.
async fn application(redis_url: &str, prefix: &str) -> SessionManager {
    let vars = [
        ("REDIS_URL", redis_url.to_owned()),
        ("SESSION_SECRET", SECRET.to_owned()),
        ("SESSION_KEY_PREFIX", prefix.to_owned()),
    ];
    let env = Environment::from_lookup(move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    });
    let setup = session_redis::setup_from_env(env)
        .await
        .expect("the application sets up from its environment");
    assert!(setup.store_description.starts_with("Redis"));
    setup.into_manager()
}

/// Signs `user` in on `app` and returns the cookie pair to send back.
async fn sign_in(app: &SessionManager, user: &UserId) -> String {
    let session = app.session_for_request([]);
    session.login(user.clone()).await.expect("login");
    session.insert("app", "data").await.expect("insert");
    let update = session.finish().await;
    let set_cookie = update.set_cookie().expect("a new session sets a cookie");
    set_cookie
        .split(';')
        .next()
        .expect("a cookie pair")
        .to_owned()
}

/// Starts an anonymous session holding data, so its keys exist too.
async fn anonymous(app: &SessionManager) {
    let session = app.session_for_request([]);
    session.insert("cart", 1).await.expect("insert");
    assert!(session.finish().await.set_cookie().is_some());
}

async fn user_of(app: &SessionManager, cookie: &str) -> Option<UserId> {
    let session = app.session_for_request([cookie.as_bytes()]);
    session.user().await.expect("the store answers")
}

/// The whole check; `keys` lists every key in the Redis (all nodes).
async fn two_applications_stay_apart(redis_url: &str, keys: impl Fn() -> Vec<String>) {
    let alice = UserId::new("alice").unwrap();
    let a = application(redis_url, "app-a").await;
    let b = application(redis_url, "app-b").await;
    let cookie_a = sign_in(&a, &alice).await;
    let cookie_b = sign_in(&b, &alice).await;
    anonymous(&a).await;
    anonymous(&b).await;

    // Each accepts its own cookie, not the other's.
    assert_eq!(user_of(&a, &cookie_a).await.as_ref(), Some(&alice));
    assert_eq!(user_of(&b, &cookie_b).await.as_ref(), Some(&alice));
    assert_eq!(user_of(&b, &cookie_a).await, None, "B accepted A's cookie");
    assert_eq!(user_of(&a, &cookie_b).await, None, "A accepted B's cookie");

    // Each lists and counts only its own.
    for app in [&a, &b] {
        assert_eq!(app.list_user_sessions(&alice).await.unwrap().len(), 1);
        assert_eq!(app.count_user_sessions(&alice).await.unwrap(), 1);
        assert_eq!(app.count_active_users().await.unwrap(), 1);
    }

    // Revoking everything of alice's in A leaves B's session alone.
    let listed_b = b.list_user_sessions(&alice).await.unwrap();
    assert!(
        !a.revoke_device(&alice, &listed_b[0].public_id, "")
            .await
            .unwrap(),
        "A revoked B's session by its public id"
    );
    assert_eq!(a.revoke_all(&alice, None).await.unwrap(), 1);
    assert_eq!(user_of(&a, &cookie_a).await, None);
    assert_eq!(user_of(&b, &cookie_b).await.as_ref(), Some(&alice));
    assert_eq!(b.count_user_sessions(&alice).await.unwrap(), 1);

    // Every key starts with its application's prefix, and both wrote some.
    let keys = keys();
    assert!(keys.iter().any(|k| k.starts_with("app-a")), "{keys:?}");
    assert!(keys.iter().any(|k| k.starts_with("app-b")), "{keys:?}");
    let stray: Vec<&String> = keys
        .iter()
        .filter(|k| !k.starts_with("app-a") && !k.starts_with("app-b"))
        .collect();
    assert!(stray.is_empty(), "keys outside both prefixes: {stray:?}");
}

fn lines(output: String) -> Vec<String> {
    output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_prefixes_on_one_server_share_nothing() {
    let server = Server::standalone().expect("redis-server starts");
    two_applications_stay_apart(&server.url(), || {
        lines(server.cli(&["--raw", "KEYS", "*"]).expect("redis-cli"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_prefixes_on_one_cluster_share_nothing() {
    let cluster = Cluster::start(3).expect("the cluster starts");
    two_applications_stay_apart(&cluster.url(), || {
        cluster
            .nodes()
            .iter()
            .flat_map(|node| lines(node.cli(&["--raw", "KEYS", "*"]).expect("redis-cli")))
            .collect()
    })
    .await;
}
