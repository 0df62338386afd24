//! Scenarios: what a client sends: garbage, forged and duplicated
//! cookies, the CSRF rules, and the limits on bodies and fields.

use reqwest::Method;
use serde_json::json;
use session_core::CsrfGuard;

use super::{Answer, Launcher, StoreKind, removes_cookie, start};

/// Garbage, forged, oversized and duplicated cookies: 401 (never 5xx), the
/// cookie removed, and no store call.
pub async fn garbage_cookies(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b).await;
    let b = env.browser();
    b.login("alice", "laptop").await;
    let good = b.cookie().expect("a cookie");
    let other = start(l, StoreKind::Memory, |b| b).await;
    let foreign = other.browser();
    foreign.login("alice", "elsewhere").await;
    let forged = foreign.cookie().expect("a cookie");
    let name = &env.cookie_name;
    let before = env.probe.calls();
    for cookie in [
        format!("{name}=garbage"),
        forged,
        format!("{name}={}", "A".repeat(4000)),
        format!("{name}="),
    ] {
        let a = b
            .send_raw(Method::GET, "/api/me", None, Some(cookie.clone()))
            .await;
        assert_eq!(a.status, 401, "cookie {cookie:.40}");
        assert!(removes_cookie(&a), "the bad cookie must be removed");
    }
    // Cookie tossing: no session, and no removal.
    let tossed = b
        .send_raw(
            Method::GET,
            "/api/me",
            None,
            Some(format!("{good}; {good}")),
        )
        .await;
    assert_eq!(tossed.status, 401);
    assert!(
        tossed.set_cookies.is_empty(),
        "duplicated cookies get no removal: {:?}",
        tossed.set_cookies
    );
    assert_eq!(env.probe.calls(), before, "a bad cookie reached the store");
}

/// The CSRF rules: a cross-site or cross-origin state change gets 403, a
/// body that is not JSON gets 415; both before any store call and with no
/// cookie change. Same-origin requests and non-browser clients pass.
pub async fn csrf_rules(l: &dyn Launcher, kind: StoreKind) {
    // The public origin of a deployment behind a proxy that rewrites Host.
    let public = "https://public.example";
    let env = start(l, kind, |b| {
        b.with_csrf(
            CsrfGuard::default()
                .with_json_bodies_only(true)
                .with_allowed_origin(public),
        )
    })
    .await;
    let b = env.browser();
    b.login("alice", "laptop").await;
    let cookie = b.cookie().expect("a cookie");
    let host = env.base.trim_start_matches("http://").to_owned();
    let json = Some(r#"{"username":"mallory"}"#.to_owned());
    let before = env.probe.calls();
    let refused = [
        (
            "/api/logout-all",
            None,
            vec![("sec-fetch-site", "cross-site".to_owned())],
            403,
        ),
        (
            "/api/logout",
            None,
            vec![("origin", "http://evil.example".to_owned())],
            403,
        ),
        (
            "/api/logout",
            None,
            vec![("origin", "null".to_owned())],
            403,
        ),
        // Another port of the same host is same-site but another origin.
        (
            "/api/logout",
            None,
            vec![("origin", "http://127.0.0.1:1".to_owned())],
            403,
        ),
        // The cookie is Secure, so the site is https: the same host's
        // http page is another origin.
        (
            "/api/logout",
            None,
            vec![
                ("host", "app.example".to_owned()),
                ("origin", "http://app.example".to_owned()),
            ],
            403,
        ),
        // Behind a proxy that rewrites Host, the public origin is not the
        // request's authority; the allow-list names it (below, it passes).
        (
            "/api/logout",
            None,
            vec![
                ("host", "backend.internal:9000".to_owned()),
                ("origin", "https://other.example".to_owned()),
            ],
            403,
        ),
        // A plain HTML form (text/plain) cannot reach a JSON route.
        (
            "/api/login",
            json.clone(),
            vec![("content-type", "text/plain".to_owned())],
            415,
        ),
        ("/api/ttl", Some(r#"{"seconds":1}"#.to_owned()), vec![], 415),
    ];
    for (path, body, mut headers, want) in refused {
        headers.push(("cookie", cookie.clone()));
        let a = b.send_with(Method::POST, path, body, &headers).await;
        assert_eq!(a.status, want, "{path} with {headers:?}");
        let code = if want == 403 {
            "forbidden"
        } else {
            "unsupported_media_type"
        };
        assert_eq!(a.json["error"], code);
        assert!(
            a.set_cookies.is_empty(),
            "a refused request changes no cookie"
        );
    }
    assert_eq!(
        env.probe.calls(),
        before,
        "a refused request reached the store"
    );
    assert_eq!(b.me().await.status, 200, "nothing changed");
    // The page's own requests pass: same origin, JSON.
    let ok = b
        .send_with(
            Method::POST,
            "/api/ttl",
            Some(r#"{"seconds":600}"#.to_owned()),
            &[
                ("cookie", cookie.clone()),
                ("origin", format!("http://{host}")),
                ("sec-fetch-site", "same-origin".to_owned()),
                ("content-type", "application/json; charset=utf-8".to_owned()),
            ],
        )
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.json);
    let proxied = b
        .send_with(
            Method::POST,
            "/api/ttl",
            Some(r#"{"seconds":600}"#.to_owned()),
            &[
                ("cookie", cookie.clone()),
                ("host", "backend.internal:9000".to_owned()),
                ("origin", public.to_owned()),
                ("content-type", "application/json".to_owned()),
            ],
        )
        .await;
    assert_eq!(proxied.status, 200, "{:?}", proxied.json);
    let own = b
        .send_with(
            Method::POST,
            "/api/ttl",
            Some(r#"{"seconds":600}"#.to_owned()),
            &[
                ("cookie", cookie.clone()),
                ("host", "app.example".to_owned()),
                ("origin", "https://app.example".to_owned()),
                ("content-type", "application/json".to_owned()),
            ],
        )
        .await;
    assert_eq!(
        own.status, 200,
        "the site's own https origin: {:?}",
        own.json
    );
}

/// The limits on what a client sends: a body over 16 KiB is refused with
/// 413 `payload_too_large` before any store call and with no cookie (one
/// of exactly 16 KiB passes); `username` is at most 256 bytes and `device`
/// at most 100 characters (400 past them); the stored user agent is cut to
/// 256 bytes; no error answer repeats what the client sent. On a single
/// Redis, one login with the largest inputs adds under 4 KiB to the
/// server's memory.
pub async fn client_input_limits(l: &dyn Launcher, kind: StoreKind) {
    /// Put in every refused input: no answer may repeat it.
    const MARKER: &str = "ECHO-MARKER-7f3a";
    let env = start(l, kind, |b| b).await;
    let json = ("content-type", "application/json".to_owned());
    let no_echo = |what: &str, a: &Answer| {
        assert!(
            !a.text.contains(MARKER),
            "{what}: the answer repeats the client's input: {}",
            a.text
        );
        assert!(a.json["error"].is_string(), "{what}: {}", a.text);
    };
    let b = env.browser();
    assert_eq!(b.login("alice", "laptop").await.status, 200);
    let cookie = b.cookie().expect("a cookie");

    // A body over 16 KiB: 413, no store call, no cookie; signed in or not,
    // on every route that reads a body.
    let big = |field: &str| {
        let mut body = json!({ field: MARKER }).to_string();
        body.insert_str(1, &format!(r#""pad":"{}","#, "x".repeat(17 * 1024)));
        body
    };
    let before = env.probe.calls();
    for (path, field, cookie) in [
        ("/api/login", "username", None),
        ("/api/login", "username", Some(cookie.clone())),
        ("/api/ttl", "seconds", Some(cookie.clone())),
        ("/api/logout-all", "reason", Some(cookie.clone())),
    ] {
        let mut headers = vec![json.clone()];
        headers.extend(cookie.clone().map(|c| ("cookie", c)));
        let body = big(field);
        assert!(body.len() > 17 * 1024);
        let a = b.send_with(Method::POST, path, Some(body), &headers).await;
        let what = format!("{path} with a 17 KiB body (cookie: {})", cookie.is_some());
        assert_eq!(a.status, 413, "{what}: {}", a.text);
        assert_eq!(a.json["error"], "payload_too_large", "{what}: {}", a.text);
        assert!(a.json["message"].is_string(), "{what}: {}", a.text);
        assert!(a.set_cookies.is_empty(), "{what}: {:?}", a.set_cookies);
        no_echo(&what, &a);
    }
    assert_eq!(
        env.probe.calls(),
        before,
        "a body over the limit reached the store"
    );
    let me = b.me().await;
    assert_eq!(me.json["user"], "alice", "nothing changed: {}", me.text);
    // Exactly 16 KiB is within the limit.
    let mut body = json!({"username": "bob", "device": "d"}).to_string();
    body.push_str(&" ".repeat(16 * 1024 - body.len()));
    let a = env
        .browser()
        .send_with(
            Method::POST,
            "/api/login",
            Some(body),
            std::slice::from_ref(&json),
        )
        .await;
    assert_eq!(a.status, 200, "a 16 KiB body: {}", a.text);

    // username: 256 bytes pass, 257 do not; device: 100 characters pass
    // (here 184 bytes), 101 do not.
    let login = |username: String, device: String| {
        let c = env.browser();
        async move {
            c.send(
                Method::POST,
                "/api/login",
                Some(json!({"username": username, "device": device})),
            )
            .await
        }
    };
    let name = |len: usize| format!("{MARKER}{}", "u".repeat(len - MARKER.len()));
    let device = |chars: usize| format!("{MARKER}{}", "é".repeat(chars - MARKER.len()));
    let a = login(name(257), "d".into()).await;
    assert_eq!(a.status, 400, "a 257-byte username: {}", a.text);
    assert!(a.set_cookies.is_empty());
    no_echo("a 257-byte username", &a);
    let a = login(name(256), "d".into()).await;
    assert_eq!(a.status, 200, "a 256-byte username: {}", a.text);
    let a = login("carol".into(), device(101)).await;
    assert_eq!(a.status, 400, "a 101-character device: {}", a.text);
    assert!(a.set_cookies.is_empty());
    no_echo("a 101-character device", &a);
    let a = login("carol".into(), device(100)).await;
    assert_eq!(a.status, 200, "a 100-character device: {}", a.text);

    // A 60 KB User-Agent signs in; the stored one is its first 256 bytes.
    let agent = format!("Mozilla/5.0 {}", "a".repeat(60_000));
    let ua = env.browser();
    let a = ua
        .send_with(
            Method::POST,
            "/api/login",
            Some(json!({"username": "dave"}).to_string()),
            &[json.clone(), ("user-agent", agent.clone())],
        )
        .await;
    assert_eq!(a.status, 200, "a 60 KB User-Agent: {}", a.text);
    let me = ua.me().await;
    let stored = me.json["metadata"]["user_agent"]
        .as_str()
        .expect("the user agent is recorded");
    assert!(stored.len() <= 256, "{} bytes stored", stored.len());
    assert!(agent.starts_with(stored) && stored.starts_with("Mozilla/5.0"));

    // Other refused input: the answer never repeats it.
    let probes = [
        (
            "/api/login",
            r#"{"username":"x","remember":"ECHO-MARKER-7f3a"}"#,
            400,
        ),
        (
            "/api/login",
            r#"{"username":"ECHO-MARKER-7f3a\u0001"}"#,
            400,
        ),
        (
            "/api/login",
            r#"{"username":"x","device":"ECHO-MARKER-7f3a"#,
            400,
        ),
        ("/api/login", "ECHO-MARKER-7f3a", 400),
        ("/api/ttl", r#"{"seconds":"ECHO-MARKER-7f3a"}"#, 400),
        (
            "/api/logout-all",
            r#"{"keep_current":"ECHO-MARKER-7f3a"}"#,
            400,
        ),
    ];
    for (path, body, want) in probes {
        let a = b
            .send_with(
                Method::POST,
                path,
                Some(body.to_owned()),
                &[json.clone(), ("cookie", cookie.clone())],
            )
            .await;
        assert_eq!(a.status, want, "{path} {body}: {}", a.text);
        no_echo(&format!("{path} {body}"), &a);
    }
    let a = b
        .send(Method::POST, &format!("/api/work?ms={MARKER}"), None)
        .await;
    assert_eq!(a.status, 400, "{}", a.text);
    no_echo("/api/work?ms=MARKER", &a);
    // A path segment that is not UTF-8 is a malformed public id too.
    for path in [
        format!("/api/sessions/{MARKER}"),
        format!("/api/sessions/{MARKER}%FF"),
    ] {
        let a = b.send(Method::DELETE, &path, None).await;
        assert_eq!(a.status, 404, "DELETE {path}: {}", a.text);
        no_echo(&format!("DELETE {path}"), &a);
    }
    assert_eq!(b.me().await.json["user"], "alice", "nothing changed");

    // What one login with the largest inputs (a 256-byte username, a
    // device of 100 four-byte characters, a 60 KB User-Agent; a new user
    // each time) adds to a single Redis server in use. The first logins
    // also build the store's per-bucket structures (made once for its 64
    // buckets, not per login), so the cost is measured after 200 of them.
    let Some(port) = env.redis_standalone_port() else {
        return;
    };
    let used_memory = || {
        let info = redis_harness::raw_command(port, &["INFO", "memory"]).expect("INFO memory");
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse::<i64>().ok())
            .expect("used_memory in INFO memory")
    };
    const WARM_UP: i64 = 200;
    const LOGINS: i64 = 20;
    let mut used = vec![used_memory()];
    for (phase, count) in [(0, WARM_UP), (1, LOGINS)] {
        for i in 0..count {
            let username = format!("{phase}{i:03}{}", "u".repeat(252));
            let a = env
                .browser()
                .send_with(
                    Method::POST,
                    "/api/login",
                    Some(json!({"username": username, "device": "𝄞".repeat(100)}).to_string()),
                    &[json.clone(), ("user-agent", agent.clone())],
                )
                .await;
            assert_eq!(a.status, 200, "{}", a.text);
        }
        used.push(used_memory());
    }
    let warm_up = (used[1] - used[0]) / WARM_UP;
    let per_login = (used[2] - used[1]) / LOGINS;
    eprintln!(
        "client_input_limits: one login with the largest inputs adds {per_login} bytes to Redis's used_memory ({warm_up} bytes each over the first {WARM_UP}, which build the per-bucket structures)"
    );
    assert!(
        per_login < 4096,
        "one login adds {per_login} bytes to Redis (limit 4 KiB)"
    );
}
