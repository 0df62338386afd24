//! What only the rocket adapter can get wrong, through
//! `rocket::local::asynchronous::Client`: the guards with and without the
//! fairing, a route that never touches the session costing no store call
//! and sending no cookie, errors that never leak internals, and a request
//! the CSRF guard refuses never reaching its route.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::Client;
use rocket::{Build, Rocket, State, get, post, routes};
use session_core::store::testkit::FaultyStore;
use session_core::{CookieConfig, KeyRing, MemoryStore, SessionConfig, SessionManager, UserId};
use session_rocket::{Session, SessionFairing, SessionRejection, SignedIn};

/// Counts how often the state-changing route ran.
#[derive(Default)]
struct Ran(AtomicU64);

#[post("/login")]
async fn login(session: Session) -> Result<&'static str, SessionRejection> {
    session.login(UserId::new("alice").expect("id")).await?;
    Ok("signed in")
}

#[get("/me")]
fn me(who: SignedIn) -> String {
    who.user.to_string()
}

/// A state change that does not use the session (the CSRF guard covers
/// it all the same, as the other adapters' middleware does).
#[post("/transfer")]
fn transfer(ran: &State<Ran>) -> &'static str {
    ran.0.fetch_add(1, Ordering::SeqCst);
    "done"
}

#[get("/plain")]
fn plain() -> &'static str {
    "no session here"
}

fn app(with_fairing: bool) -> (Rocket<Build>, Arc<FaultyStore>) {
    let store = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new())));
    let config = SessionConfig::builder(KeyRing::generate())
        .with_cookie(CookieConfig::default().with_secure(false))
        .build()
        .expect("config");
    let manager = SessionManager::new(store.clone(), config);
    let mut rocket = rocket::build()
        .manage(Ran::default())
        .mount("/", routes![login, me, plain, transfer]);
    if with_fairing {
        rocket = rocket.attach(SessionFairing::new(manager));
    }
    (rocket, store)
}

async fn client(with_fairing: bool) -> (Client, Arc<FaultyStore>) {
    let (rocket, store) = app(with_fairing);
    (Client::untracked(rocket).await.expect("a client"), store)
}

fn cookie_of(response: &rocket::local::asynchronous::LocalResponse<'_>) -> String {
    let set = response
        .headers()
        .get_one("set-cookie")
        .expect("a Set-Cookie");
    set.split(';').next().unwrap_or_default().to_owned()
}

#[rocket::async_test]
async fn the_guards_work_with_the_fairing() {
    let (client, _) = client(true).await;
    let anonymous = client.get("/me").dispatch().await;
    assert_eq!(anonymous.status(), Status::Unauthorized);
    assert_eq!(anonymous.content_type(), Some(ContentType::JSON));
    let body = anonymous.into_string().await.unwrap_or_default();
    assert!(body.contains("unauthenticated"), "core's 401 body: {body}");
    let res = client.post("/login").dispatch().await;
    assert_eq!(res.status(), Status::Ok);
    let cookie = cookie_of(&res);
    let me = client
        .get("/me")
        .header(Header::new("cookie", cookie))
        .dispatch()
        .await;
    assert_eq!(me.into_string().await.as_deref(), Some("alice"));
}

#[rocket::async_test]
async fn without_the_fairing_the_guards_fail_with_500() {
    let (client, store) = client(false).await;
    assert_eq!(
        client.post("/login").dispatch().await.status(),
        Status::InternalServerError
    );
    assert_eq!(
        client.get("/me").dispatch().await.status(),
        Status::InternalServerError
    );
    assert_eq!(store.calls(), 0);
}

#[rocket::async_test]
async fn a_route_that_never_touches_the_session_costs_nothing() {
    let (client, store) = client(true).await;
    let cookie = cookie_of(&client.post("/login").dispatch().await);
    let before = store.calls();
    let res = client
        .get("/plain")
        .header(Header::new("cookie", cookie))
        .dispatch()
        .await;
    assert_eq!(res.status(), Status::Ok);
    assert!(
        res.headers().get_one("set-cookie").is_none(),
        "no cookie change"
    );
    assert_eq!(
        store.calls(),
        before,
        "no store call for an untouched session"
    );
}

#[rocket::async_test]
async fn a_store_failure_is_a_503_that_leaks_nothing() {
    let (client, store) = client(true).await;
    let cookie = cookie_of(&client.post("/login").dispatch().await);
    store.set_down(true);
    let res = client
        .get("/me")
        .header(Header::new("cookie", cookie))
        .dispatch()
        .await;
    assert_eq!(res.status(), Status::ServiceUnavailable);
    let body = res.into_string().await.unwrap_or_default();
    assert!(body.contains("store_unavailable"), "{body}");
    assert!(!body.contains("switched off"), "the cause leaked: {body}");
}

#[rocket::async_test]
async fn a_cross_site_post_never_reaches_its_route() {
    let (client, _) = client(true).await;
    let res = client
        .post("/transfer")
        .header(Header::new("origin", "https://evil.example"))
        .header(Header::new("host", "app.example"))
        .dispatch()
        .await;
    assert_eq!(res.status(), Status::Forbidden);
    let ran = client
        .rocket()
        .state::<Ran>()
        .map(|r| r.0.load(Ordering::SeqCst));
    assert_eq!(ran, Some(0), "the refused request ran its route");
}
