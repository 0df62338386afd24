//! What only the rocket adapter can get wrong, through
//! `rocket::local::asynchronous::Client`: the guards with and without the
//! fairing, `Option<SignedIn>` (signed out is `None`, a store that is down
//! still answers 503), `?` on every error a route meets, a route reaching
//! the user's devices through the request's own session, a route that
//! never touches the session costing no store call and sending no cookie,
//! errors that never leak internals, and a request the CSRF guard refuses
//! never reaching its route.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::Client;
use rocket::{Build, Rocket, State, get, post, routes};
use session_core::store::testkit::FaultyStore;
use session_rocket::{
    CookieConfig, KeyRing, MemoryStore, PublicId, Session, SessionConfig, SessionFairing,
    SessionManager, SessionRejection, SignedIn, UserId,
};

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

/// Signs in the user the body names: `UserId::new(…)?` is a 400.
#[post("/login-as", data = "<name>")]
async fn login_as(session: Session, name: &str) -> Result<&'static str, SessionRejection> {
    session.login(UserId::new(name.trim())?).await?;
    Ok("signed in")
}

#[get("/")]
fn home(who: Option<SignedIn>) -> String {
    match who {
        Some(who) => format!("hello, {}", who.user),
        None => "hello, stranger".to_owned(),
    }
}

/// The devices as JSON, through the request's own session.
#[get("/devices")]
async fn devices(session: Session) -> Result<String, SessionRejection> {
    let devices = session.devices().await?;
    Ok(serde_json::to_string(&devices).unwrap_or_default())
}

#[post("/devices/<id>/revoke")]
async fn revoke(session: Session, id: &str) -> Result<String, SessionRejection> {
    let id = PublicId::parse(id)?;
    Ok(session.revoke_device(&id, "not mine").await?.to_string())
}

#[post("/sign-out-others")]
async fn sign_out_others(who: SignedIn) -> Result<String, SessionRejection> {
    Ok(who.session.sign_out_others().await?.to_string())
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
    let mut rocket = rocket::build().manage(Ran::default()).mount(
        "/",
        routes![
            login,
            me,
            plain,
            transfer,
            login_as,
            home,
            devices,
            revoke,
            sign_out_others
        ],
    );
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

/// One request: its status and body.
async fn call(
    client: &Client,
    post: bool,
    uri: &str,
    cookie: Option<&str>,
    body: &str,
) -> (Status, String) {
    let mut request = if post {
        client.post(uri.to_owned())
    } else {
        client.get(uri.to_owned())
    }
    .body(body);
    if let Some(cookie) = cookie {
        request = request.header(Header::new("cookie", cookie.to_owned()));
    }
    let response = request.dispatch().await;
    let status = response.status();
    (status, response.into_string().await.unwrap_or_default())
}

/// Signs `name` in on a new device; its cookie.
async fn sign_in(client: &Client, name: &str) -> String {
    let response = client.post("/login-as").body(name).dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    cookie_of(&response)
}

#[rocket::async_test]
async fn option_signed_in_is_none_when_signed_out_and_some_when_signed_in() {
    let (client, _) = client(true).await;
    let anonymous = call(&client, false, "/", None, "").await;
    assert_eq!(anonymous, (Status::Ok, "hello, stranger".to_owned()));

    let cookie = sign_in(&client, "alice").await;
    let known = call(&client, false, "/", Some(&cookie), "").await;
    assert_eq!(known, (Status::Ok, "hello, alice".to_owned()));

    // A session that ended is signed out too (where SignedIn says 401).
    let other = sign_in(&client, "alice").await;
    let ended = call(&client, true, "/sign-out-others", Some(&other), "").await;
    assert_eq!(ended, (Status::Ok, "1".to_owned()));
    let after = call(&client, false, "/", Some(&cookie), "").await;
    assert_eq!(after, (Status::Ok, "hello, stranger".to_owned()));
}

#[rocket::async_test]
async fn option_signed_in_still_answers_503_when_the_store_is_down() {
    let (client, store) = client(true).await;
    let cookie = sign_in(&client, "alice").await;
    store.set_down(true);
    let (status, body) = call(&client, false, "/", Some(&cookie), "").await;
    assert_eq!(status, Status::ServiceUnavailable, "{body}");
    assert!(body.contains("store_unavailable"), "{body}");
}

/// What the documentation says: Rocket's `Option` swallows the 500 of a
/// missing fairing, and nothing is left to answer it.
#[rocket::async_test]
async fn without_the_fairing_option_signed_in_is_none() {
    let (client, _) = client(false).await;
    let (status, body) = call(&client, false, "/", None, "").await;
    assert_eq!((status, body.as_str()), (Status::Ok, "hello, stranger"));
}

#[rocket::async_test]
async fn question_mark_on_an_invalid_user_id_is_a_400_with_a_json_body() {
    let (client, store) = client(true).await;
    let response = client.post("/login-as").dispatch().await;
    assert_eq!(response.status(), Status::BadRequest);
    assert_eq!(response.content_type(), Some(ContentType::JSON));
    let body = response.into_string().await.unwrap_or_default();
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["error"], "bad_request");
    assert_eq!(store.calls(), 0, "refused before any store call");
}

#[rocket::async_test]
async fn a_handler_lists_revokes_and_signs_out_devices_through_its_own_session() {
    let (client, _) = client(true).await;
    let c = &client;
    let laptop = sign_in(c, "alice").await;
    let phone = sign_in(c, "alice").await;
    let tablet = sign_in(c, "alice").await;
    sign_in(c, "bob").await;

    // The phone lists alice's three devices, itself marked current.
    let (_, listed) = call(c, false, "/devices", Some(&phone), "").await;
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
    assert_eq!(call(c, true, &uri, Some(&phone), "").await.1, "true");
    let mut statuses = Vec::new();
    for cookie in [&laptop, &tablet] {
        statuses.push(call(c, false, "/me", Some(cookie), "").await.0);
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == Status::Unauthorized)
            .count(),
        1,
        "exactly the revoked device is signed out: {statuses:?}"
    );

    // A malformed public id is a 404, like an unknown one.
    let bad = call(c, true, "/devices/nonsense/revoke", Some(&phone), "").await;
    assert_eq!(bad.0, Status::NotFound);

    // Signing out the others ends the remaining one and keeps the phone.
    let count = call(c, true, "/sign-out-others", Some(&phone), "").await;
    assert_eq!(count, (Status::Ok, "1".to_owned()));
    let uri = format!("/devices/{second}/revoke");
    assert_eq!(call(c, true, &uri, Some(&phone), "").await.1, "false");
    for cookie in [&laptop, &tablet] {
        let (status, body) = call(c, false, "/me", Some(cookie), "").await;
        assert_eq!(status, Status::Unauthorized);
        assert!(body.contains("\"reason\""), "the reason is shown: {body}");
    }
    let me = call(c, false, "/me", Some(&phone), "").await;
    assert_eq!(me, (Status::Ok, "alice".to_owned()));
}
