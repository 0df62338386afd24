//! What only the axum adapter can get wrong: `Option<SignedIn>` (signed
//! out is `None`, a store that is down or a missing layer still rejects),
//! `?` on every error a handler meets, and a handler reaching the user's
//! devices through the request's own session.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::Path;
use axum::http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::{Request, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use session_axum::{
    CookieConfig, KeyRing, MemoryStore, PublicId, Session, SessionConfig, SessionLayer,
    SessionManager, SessionRejection, SignedIn, UserId,
};
use session_core::store::testkit::FaultyStore;
use tower::ServiceExt;

fn manager() -> (SessionManager, Arc<FaultyStore>) {
    let store = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new())));
    let config = SessionConfig::builder(KeyRing::generate())
        .with_cookie(CookieConfig::default().with_secure(false))
        .build()
        .expect("config");
    (SessionManager::new(store.clone(), config), store)
}

/// Signs in the user the body names: `UserId::new(…)?` is a 400.
async fn login(session: Session, name: String) -> Result<&'static str, SessionRejection> {
    session.login(UserId::new(name.trim())?).await?;
    Ok("signed in")
}

async fn home(who: Option<SignedIn>) -> String {
    match who {
        Some(who) => format!("hello, {}", who.user),
        None => "hello, stranger".to_owned(),
    }
}

async fn me(who: SignedIn) -> String {
    who.user.to_string()
}

/// The devices as JSON, through the request's own session.
async fn devices(session: Session) -> Result<String, SessionRejection> {
    let devices = session.devices().await?;
    Ok(serde_json::to_string(&devices).unwrap_or_default())
}

async fn revoke(session: Session, Path(id): Path<String>) -> Result<String, SessionRejection> {
    let id = PublicId::parse(&id)?;
    Ok(session.revoke_device(&id, "not mine").await?.to_string())
}

async fn sign_out_others(who: SignedIn) -> Result<String, SessionRejection> {
    Ok(who.session.sign_out_others().await?.to_string())
}

fn routes() -> Router {
    Router::new()
        .route("/", get(home))
        .route("/me", get(me))
        .route("/login", post(login))
        .route("/devices", get(devices))
        .route("/devices/{id}/revoke", post(revoke))
        .route("/sign-out-others", post(sign_out_others))
}

fn app() -> (Router, Arc<FaultyStore>) {
    let (manager, store) = manager();
    (routes().layer(SessionLayer::new(manager)), store)
}

async fn call(app: &Router, method: &str, uri: &str, cookie: Option<&str>, body: &str) -> Response {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let request = request
        .body(Body::from(body.to_owned()))
        .expect("a request");
    app.clone().oneshot(request).await.expect("infallible")
}

async fn text(response: Response) -> String {
    let bytes = to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    String::from_utf8_lossy(&bytes).into_owned()
}

fn cookie_of(response: &Response) -> String {
    let set = response
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a Set-Cookie");
    set.split(';').next().unwrap_or_default().to_owned()
}

async fn sign_in(app: &Router, name: &str) -> String {
    let response = call(app, "POST", "/login", None, name).await;
    assert_eq!(response.status(), StatusCode::OK);
    cookie_of(&response)
}

#[tokio::test]
async fn option_signed_in_is_none_when_signed_out_and_some_when_signed_in() {
    let (app, _) = app();
    let anonymous = call(&app, "GET", "/", None, "").await;
    assert_eq!(anonymous.status(), StatusCode::OK);
    assert_eq!(text(anonymous).await, "hello, stranger");

    let cookie = sign_in(&app, "alice").await;
    let known = call(&app, "GET", "/", Some(&cookie), "").await;
    assert_eq!(known.status(), StatusCode::OK);
    assert_eq!(text(known).await, "hello, alice");

    // A session that ended is signed out too (where SignedIn says 401).
    let other = sign_in(&app, "alice").await;
    let response = call(&app, "POST", "/sign-out-others", Some(&other), "").await;
    assert_eq!(text(response).await, "1");
    let ended = call(&app, "GET", "/", Some(&cookie), "").await;
    assert_eq!(text(ended).await, "hello, stranger");
}

#[tokio::test]
async fn option_signed_in_still_rejects_when_the_store_is_down() {
    let (app, store) = app();
    let cookie = sign_in(&app, "alice").await;
    store.set_down(true);
    let response = call(&app, "GET", "/", Some(&cookie), "").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = text(response).await;
    assert!(body.contains("store_unavailable"), "{body}");
}

#[tokio::test]
async fn option_signed_in_still_rejects_without_the_layer() {
    let response = call(&routes(), "GET", "/", None, "").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = text(response).await;
    assert!(body.contains("not installed"), "{body}");
}

#[tokio::test]
async fn question_mark_on_an_invalid_user_id_is_a_400_with_a_json_body() {
    let (app, store) = app();
    let response = call(&app, "POST", "/login", None, "").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers().get(CONTENT_TYPE).map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );
    let body: serde_json::Value = serde_json::from_str(&text(response).await).expect("JSON");
    assert_eq!(body["error"], "bad_request");
    assert_eq!(store.calls(), 0, "refused before any store call");
}

#[tokio::test]
async fn a_handler_lists_revokes_and_signs_out_devices_through_its_own_session() {
    let (app, _) = app();
    let laptop = sign_in(&app, "alice").await;
    let phone = sign_in(&app, "alice").await;
    let tablet = sign_in(&app, "alice").await;
    sign_in(&app, "bob").await;

    // The phone lists alice's three devices, itself marked current.
    let listed = text(call(&app, "GET", "/devices", Some(&phone), "").await).await;
    let listed: Vec<serde_json::Value> = serde_json::from_str(&listed).expect("JSON");
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(listed.iter().filter(|d| d["current"] == true).count(), 1);

    // It revokes the laptop by its public id; the laptop is signed out,
    // with the reason.
    let me = text(call(&app, "GET", "/me", Some(&laptop), "").await).await;
    assert_eq!(me, "alice");
    let mut others = listed.iter().filter(|d| d["current"] == false);
    let first = others
        .next()
        .and_then(|d| d["public_id"].as_str())
        .expect("an id");
    let uri = format!("/devices/{first}/revoke");
    let revoked = text(call(&app, "POST", &uri, Some(&phone), "").await).await;
    assert_eq!(revoked, "true");
    let second = others
        .next()
        .and_then(|d| d["public_id"].as_str())
        .expect("an id");
    let mut statuses = Vec::new();
    for cookie in [&laptop, &tablet] {
        statuses.push(call(&app, "GET", "/me", Some(cookie), "").await.status());
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count(),
        1,
        "exactly the revoked device is signed out: {statuses:?}"
    );

    // A malformed public id is a 404, like an unknown one.
    let bad = call(&app, "POST", "/devices/nonsense/revoke", Some(&phone), "").await;
    assert_eq!(bad.status(), StatusCode::NOT_FOUND);

    // Signing out the others ends the remaining one and keeps the phone.
    let count = text(call(&app, "POST", "/sign-out-others", Some(&phone), "").await).await;
    assert_eq!(count, "1");
    let uri = format!("/devices/{second}/revoke");
    let again = text(call(&app, "POST", &uri, Some(&phone), "").await).await;
    assert_eq!(again, "false", "already ended");
    for cookie in [&laptop, &tablet] {
        let response = call(&app, "GET", "/me", Some(cookie), "").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body = text(response).await;
        assert!(body.contains("\"reason\""), "the reason is shown: {body}");
    }
    let me = text(call(&app, "GET", "/me", Some(&phone), "").await).await;
    assert_eq!(me, "alice");
}

/// An HTTP/2 request as hyper hands it to axum: no `Host` header, the
/// authority in the URI (`:authority`). A browser's same-origin write
/// passes, another origin and the site under `https` (the cookie is not
/// Secure here, so the site is `http`) do not.
#[tokio::test]
async fn the_csrf_guard_reads_the_http2_authority() {
    let (app, _) = app();
    for (origin, want) in [
        ("http://app.example:8080", StatusCode::OK),
        ("http://evil.example", StatusCode::FORBIDDEN),
        ("https://app.example:8080", StatusCode::FORBIDDEN),
    ] {
        let request = Request::builder()
            .method("POST")
            .uri("http://app.example:8080/login")
            .version(axum::http::Version::HTTP_2)
            .header("origin", origin)
            .body(Body::from("alice"))
            .expect("a request");
        assert!(request.headers().get("host").is_none());
        let response = app.clone().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), want, "from {origin}");
    }
}
