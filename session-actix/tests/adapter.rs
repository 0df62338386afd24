//! What only the actix adapter can get wrong: the extractors with and
//! without the middleware, `Option<SignedIn>` (signed out is `None`, a store
//! that is down still answers 503), `?` on every error a handler meets, a
//! handler reaching the user's devices through the request's own session,
//! `SessionExt` from a guard, errors as responses that never leak
//! internals, and a handler that never touches the session costing no store
//! call and sending no cookie.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use actix_web::{App, HttpResponse, test, web};
use session_actix::{
    CookieConfig, KeyRing, MemoryStore, PublicId, Session, SessionConfig, SessionExt,
    SessionManager, SessionMiddleware, SessionRejection, SignedIn, UserId,
};
use session_core::store::testkit::FaultyStore;

fn manager() -> (SessionManager, Arc<FaultyStore>) {
    let store = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new())));
    let config = SessionConfig::builder(KeyRing::generate())
        .with_cookie(CookieConfig::default().with_secure(false))
        .build()
        .expect("config");
    (SessionManager::new(store.clone(), config), store)
}

async fn login(session: Session) -> Result<HttpResponse, SessionRejection> {
    session.login(UserId::new("alice").expect("id")).await?;
    Ok(HttpResponse::Ok().finish())
}

async fn me(who: SignedIn) -> HttpResponse {
    HttpResponse::Ok().body(who.user.to_string())
}

async fn untouched() -> HttpResponse {
    HttpResponse::Ok().body("no session here")
}

fn cookie_of<B>(response: &actix_web::dev::ServiceResponse<B>) -> String {
    let set = response
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a Set-Cookie");
    set.split(';').next().unwrap_or_default().to_owned()
}

#[actix_web::test]
async fn extractors_work_with_the_middleware() {
    let (m, _) = manager();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(m))
            .route("/login", web::post().to(login))
            .route("/me", web::get().to(me)),
    )
    .await;
    let anonymous =
        test::call_service(&app, test::TestRequest::get().uri("/me").to_request()).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let res = test::call_service(&app, test::TestRequest::post().uri("/login").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = cookie_of(&res);
    let req = test::TestRequest::get()
        .uri("/me")
        .insert_header((COOKIE, cookie))
        .to_request();
    let body = test::call_and_read_body(&app, req).await;
    assert_eq!(body, "alice");
}

#[actix_web::test]
async fn without_the_middleware_extractors_answer_500_naming_the_mistake() {
    let app = test::init_service(
        App::new()
            .route("/login", web::post().to(login))
            .route("/me", web::get().to(me)),
    )
    .await;
    for req in [
        test::TestRequest::post().uri("/login").to_request(),
        test::TestRequest::get().uri("/me").to_request(),
    ] {
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = test::read_body(res).await;
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("not installed"), "{text}");
    }
}

#[actix_web::test]
async fn a_guard_reaches_the_session_through_session_ext() {
    let (m, store) = manager();
    let app = test::init_service(
        App::new().wrap(SessionMiddleware::new(m)).route(
            "/guarded",
            web::get()
                .guard(actix_web::guard::fn_guard(|ctx| {
                    ctx.get_session().is_some()
                }))
                .to(untouched),
        ),
    )
    .await;
    let res = test::call_service(&app, test::TestRequest::get().uri("/guarded").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK, "the guard saw the session");
    assert_eq!(store.calls(), 0, "a guard's look costs no store call");

    // Without the middleware the guard sees none, so the route does not match.
    let bare = test::init_service(
        App::new().route(
            "/guarded",
            web::get()
                .guard(actix_web::guard::fn_guard(|ctx| {
                    ctx.get_session().is_some()
                }))
                .to(untouched),
        ),
    )
    .await;
    let res =
        test::call_service(&bare, test::TestRequest::get().uri("/guarded").to_request()).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_handler_that_never_touches_the_session_costs_nothing() {
    let (m, store) = manager();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(m))
            .route("/login", web::post().to(login))
            .route("/plain", web::get().to(untouched)),
    )
    .await;
    let res = test::call_service(&app, test::TestRequest::post().uri("/login").to_request()).await;
    let cookie = cookie_of(&res);
    let before = store.calls();
    let req = test::TestRequest::get()
        .uri("/plain")
        .insert_header((COOKIE, cookie))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        store.calls(),
        before,
        "no store call for an untouched session"
    );
    assert!(res.headers().get(SET_COOKIE).is_none(), "no cookie change");
}

#[actix_web::test]
async fn a_store_failure_is_a_503_that_leaks_nothing() {
    let (m, store) = manager();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(m))
            .route("/login", web::post().to(login))
            .route("/me", web::get().to(me)),
    )
    .await;
    let res = test::call_service(&app, test::TestRequest::post().uri("/login").to_request()).await;
    let cookie = cookie_of(&res);
    store.set_down(true);
    let req = test::TestRequest::get()
        .uri("/me")
        .insert_header((COOKIE, cookie))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = test::read_body(res).await;
    let text = String::from_utf8_lossy(&body);
    assert!(!text.contains("switched off"), "the cause leaked: {text}");
    assert!(
        text.contains("store_unavailable"),
        "a JSON error body: {text}"
    );
}

/// Signs in the user the body names: `UserId::new(…)?` is a 400.
async fn login_as(session: Session, name: String) -> Result<HttpResponse, SessionRejection> {
    session.login(UserId::new(name.trim())?).await?;
    Ok(HttpResponse::Ok().finish())
}

async fn home(who: Option<SignedIn>) -> String {
    match who {
        Some(who) => format!("hello, {}", who.user),
        None => "hello, stranger".to_owned(),
    }
}

/// The devices as JSON, through the request's own session.
async fn devices(session: Session) -> Result<String, SessionRejection> {
    let devices = session.devices().await?;
    Ok(serde_json::to_string(&devices).unwrap_or_default())
}

async fn revoke(session: Session, id: web::Path<String>) -> Result<String, SessionRejection> {
    let id = PublicId::parse(&id)?;
    Ok(session.revoke_device(&id, "not mine").await?.to_string())
}

async fn sign_out_others(who: SignedIn) -> Result<String, SessionRejection> {
    Ok(who.session.sign_out_others().await?.to_string())
}

fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(home))
        .route("/me", web::get().to(me))
        .route("/login", web::post().to(login_as))
        .route("/devices", web::get().to(devices))
        .route("/devices/{id}/revoke", web::post().to(revoke))
        .route("/sign-out-others", web::post().to(sign_out_others));
}

/// One request to the routes above (behind the middleware over `manager`
/// when given): its status and body.
async fn call(
    manager: Option<&SessionManager>,
    method: &str,
    uri: &str,
    cookie: Option<&str>,
    body: &str,
) -> (StatusCode, String) {
    let mut request = match method {
        "POST" => test::TestRequest::post(),
        _ => test::TestRequest::get(),
    }
    .uri(uri)
    .set_payload(body.to_owned());
    if let Some(cookie) = cookie {
        request = request.insert_header((COOKIE, cookie.to_owned()));
    }
    let request = request.to_request();
    let (status, body) = match manager {
        Some(m) => {
            let app = App::new()
                .wrap(SessionMiddleware::new(m.clone()))
                .configure(routes);
            let response = test::call_service(&test::init_service(app).await, request).await;
            (response.status(), test::read_body(response).await)
        }
        None => {
            let app = App::new().configure(routes);
            let response = test::call_service(&test::init_service(app).await, request).await;
            (response.status(), test::read_body(response).await)
        }
    };
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Signs `name` in on a new device; its cookie.
async fn sign_in(m: &SessionManager, name: &str) -> String {
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(m.clone()))
            .configure(routes),
    )
    .await;
    let request = test::TestRequest::post()
        .uri("/login")
        .set_payload(name.to_owned())
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    cookie_of(&response)
}

#[actix_web::test]
async fn option_signed_in_is_none_when_signed_out_and_some_when_signed_in() {
    let (m, _) = manager();
    let anonymous = call(Some(&m), "GET", "/", None, "").await;
    assert_eq!(anonymous, (StatusCode::OK, "hello, stranger".to_owned()));

    let cookie = sign_in(&m, "alice").await;
    let known = call(Some(&m), "GET", "/", Some(&cookie), "").await;
    assert_eq!(known, (StatusCode::OK, "hello, alice".to_owned()));

    // A session that ended is signed out too (where SignedIn says 401).
    let other = sign_in(&m, "alice").await;
    let ended = call(Some(&m), "POST", "/sign-out-others", Some(&other), "").await;
    assert_eq!(ended, (StatusCode::OK, "1".to_owned()));
    let after = call(Some(&m), "GET", "/", Some(&cookie), "").await;
    assert_eq!(after, (StatusCode::OK, "hello, stranger".to_owned()));
}

#[actix_web::test]
async fn option_signed_in_still_answers_503_when_the_store_is_down() {
    let (m, store) = manager();
    let cookie = sign_in(&m, "alice").await;
    store.set_down(true);
    let (status, body) = call(Some(&m), "GET", "/", Some(&cookie), "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("store_unavailable"), "{body}");
}

/// What the documentation says: actix's `Option` swallows the 500 of a
/// missing middleware, and nothing is left to answer it.
#[actix_web::test]
async fn without_the_middleware_option_signed_in_is_none() {
    let (status, body) = call(None, "GET", "/", None, "").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "hello, stranger"));
}

#[actix_web::test]
async fn question_mark_on_an_invalid_user_id_is_a_400_with_a_json_body() {
    let (m, store) = manager();
    let app =
        test::init_service(App::new().wrap(SessionMiddleware::new(m)).configure(routes)).await;
    let request = test::TestRequest::post().uri("/login").to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers().get(CONTENT_TYPE).map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );
    let body = test::read_body(response).await;
    let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(body["error"], "bad_request");
    assert_eq!(store.calls(), 0, "refused before any store call");
}

#[actix_web::test]
async fn a_handler_lists_revokes_and_signs_out_devices_through_its_own_session() {
    let (manager, _) = manager();
    let m = Some(&manager);
    let laptop = sign_in(&manager, "alice").await;
    let phone = sign_in(&manager, "alice").await;
    let tablet = sign_in(&manager, "alice").await;
    sign_in(&manager, "bob").await;

    // The phone lists alice's three devices, itself marked current.
    let (_, listed) = call(m, "GET", "/devices", Some(&phone), "").await;
    let listed: Vec<serde_json::Value> = serde_json::from_str(&listed).expect("JSON");
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(listed.iter().filter(|d| d["current"] == true).count(), 1);

    // It revokes one of the others by its public id: exactly that device
    // is signed out.
    let mut others = listed.iter().filter(|d| d["current"] == false);
    let first = others
        .next()
        .and_then(|d| d["public_id"].as_str())
        .expect("an id");
    let second = others
        .next()
        .and_then(|d| d["public_id"].as_str())
        .expect("an id");
    let uri = format!("/devices/{first}/revoke");
    assert_eq!(call(m, "POST", &uri, Some(&phone), "").await.1, "true");
    let mut statuses = Vec::new();
    for cookie in [&laptop, &tablet] {
        statuses.push(call(m, "GET", "/me", Some(cookie), "").await.0);
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
    let bad = call(m, "POST", "/devices/nonsense/revoke", Some(&phone), "").await;
    assert_eq!(bad.0, StatusCode::NOT_FOUND);

    // Signing out the others ends the remaining one and keeps the phone.
    let count = call(m, "POST", "/sign-out-others", Some(&phone), "").await;
    assert_eq!(count, (StatusCode::OK, "1".to_owned()));
    let uri = format!("/devices/{second}/revoke");
    assert_eq!(call(m, "POST", &uri, Some(&phone), "").await.1, "false");
    for cookie in [&laptop, &tablet] {
        let (status, body) = call(m, "GET", "/me", Some(cookie), "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body.contains("\"reason\""), "the reason is shown: {body}");
    }
    let me = call(m, "GET", "/me", Some(&phone), "").await;
    assert_eq!(me, (StatusCode::OK, "alice".to_owned()));
}

/// An HTTP/2 request as actix-http hands it over: no `Host` header, the
/// authority in the URI (`:authority`). A browser's same-origin write
/// passes, another origin and the site under `https` (the cookie is not
/// Secure here, so the site is `http`) do not.
#[actix_web::test]
async fn the_csrf_guard_reads_the_http2_authority() {
    let (m, _) = manager();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(m))
            .route("/login", web::post().to(login)),
    )
    .await;
    for (origin, want) in [
        ("http://app.example:8080", StatusCode::OK),
        ("http://evil.example", StatusCode::FORBIDDEN),
        ("https://app.example:8080", StatusCode::FORBIDDEN),
    ] {
        let request = test::TestRequest::post()
            .uri("http://app.example:8080/login")
            .version(actix_web::http::Version::HTTP_2)
            .insert_header(("origin", origin))
            .to_request();
        assert!(
            actix_web::HttpMessage::headers(&request)
                .get("host")
                .is_none()
        );
        let response = test::call_service(&app, request).await;
        assert_eq!(response.status(), want, "from {origin}");
    }
}
