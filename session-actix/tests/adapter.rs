//! What only the actix adapter can get wrong: the extractors with and
//! without the middleware, `SessionExt` from a guard, errors as responses
//! that never leak internals, and a handler that never touches the session
//! costing no store call and sending no cookie.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{COOKIE, SET_COOKIE};
use actix_web::{App, HttpResponse, test, web};
use session_actix::{Session, SessionExt, SessionMiddleware, SessionRejection, SignedIn};
use session_core::store::testkit::FaultyStore;
use session_core::{KeyRing, MemoryStore, SessionConfig, SessionManager, UserId};

fn manager() -> (SessionManager, Arc<FaultyStore>) {
    let store = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new())));
    let config = SessionConfig::builder(KeyRing::generate())
        .with_cookie(session_core::CookieConfig::default().with_secure(false))
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
