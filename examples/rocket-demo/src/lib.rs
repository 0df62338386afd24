//! The rocket demo: the shared demo application (`demo-app`: the page,
//! each route's logic and JSON) served by Rocket through `session-rocket`.
//!
//! [`rocket()`](fn@rocket) is the whole application; `main.rs` only reads the settings
//! and launches it.
//!
//! Request bodies are limited with Rocket's `bytes` limit (set to
//! [`demo_app::MAX_BODY_BYTES`] by [`rocket()`](fn@rocket)) and read by the
//! `Body` data guard, which fails with 413 over the limit (Rocket's own
//! `Vec<u8>` says 400); the demo's catchers answer 413 and 400 with the
//! contract's JSON error.
//!
//! `/api/events` answers with Rocket's [`EventStream`], each of demo-app's
//! frames as an [`Event`]; Rocket's own heartbeat is off, as demo-app
//! sends the keep-alive comments (the three demos send the same stream).

use std::future::Future;

use demo_app::{Answer, Client, Frame, Reply};
use rocket::data::{self, ByteUnit, Capped, Data, FromData};
use rocket::futures::Stream;
use rocket::http::uri::Origin;
use rocket::http::{ContentType, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::content::RawHtml;
use rocket::response::stream::{Event, EventStream};
use rocket::{Build, Config, Rocket, State, catch, catchers, delete, get, post, routes};
use session_core::SessionManager;
use session_rocket::{Session, SessionFairing, SessionRejection};

pub use demo_app::configure;

/// The demo over `manager` (configured with [`configure`]), with Rocket's
/// `config` (its `bytes` limit set to [`demo_app::MAX_BODY_BYTES`]).
pub fn rocket(manager: SessionManager, config: Config) -> Rocket<Build> {
    let limits = config
        .limits
        .clone()
        .limit("bytes", ByteUnit::from(demo_app::MAX_BODY_BYTES));
    rocket::custom(Config { limits, ..config })
        .attach(SessionFairing::new(manager.clone()))
        .register("/", catchers![payload_too_large, bad_request])
        .manage(manager)
        .mount(
            "/",
            routes![
                page,
                login,
                me,
                status,
                extend,
                counter,
                work,
                logout,
                sessions,
                revoke_device,
                logout_all,
                rotate,
                ttl,
                stats,
                events,
                audit
            ],
        )
}

type Api = Result<(Status, (ContentType, String)), SessionRejection>;

/// A route's answer as a Rocket response.
async fn answer(route: impl Future<Output = Answer>) -> Api {
    Ok(match route.await? {
        Reply::Json(body) => (Status::Ok, (ContentType::JSON, body.to_string())),
        Reply::NoContent => (Status::NoContent, (ContentType::JSON, String::new())),
    })
}

/// The request body, read up to Rocket's `bytes` limit; over it, the data
/// guard fails with 413 (answered by [`payload_too_large`]).
struct Body(Vec<u8>);

#[rocket::async_trait]
impl<'r> FromData<'r> for Body {
    type Error = std::io::Error;

    async fn from_data(request: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        use rocket::outcome::Outcome::{Error, Forward, Success};
        match <Capped<Vec<u8>>>::from_data(request, data).await {
            Success(body) if body.is_complete() => Success(Body(body.into_inner())),
            Success(_) => Error((
                Status::PayloadTooLarge,
                std::io::Error::other("over the body limit"),
            )),
            Error(e) => Error(e),
            Forward(f) => Forward(f),
        }
    }
}

/// Rocket's own 413 as the contract's JSON error.
#[catch(413)]
fn payload_too_large() -> SessionRejection {
    SessionRejection(demo_app::payload_too_large())
}

/// Rocket's own 400 (a body that could not be read) as the contract's
/// JSON error. The routes' own 400s are answers, not caught.
#[catch(400)]
fn bad_request() -> SessionRejection {
    SessionRejection(demo_app::unreadable_body())
}

/// The client facts the login records, as a request guard.
struct Peer(Client);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Peer {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(Peer(Client {
            ip: request.client_ip().map(|ip| ip.to_string()),
            user_agent: request.headers().get_one("user-agent").map(str::to_owned),
        }))
    }
}

#[get("/")]
fn page() -> RawHtml<&'static str> {
    RawHtml(demo_app::PAGE)
}

#[post("/api/login", data = "<body>")]
async fn login(session: Session, peer: Peer, body: Body) -> Api {
    answer(demo_app::login(&session, peer.0, &body.0)).await
}

#[get("/api/me")]
async fn me(session: Session) -> Api {
    answer(demo_app::me(&session)).await
}

#[get("/api/status")]
async fn status(session: Session) -> Api {
    answer(demo_app::status(&session)).await
}

#[post("/api/extend")]
async fn extend(session: Session) -> Api {
    answer(demo_app::extend(&session)).await
}

#[post("/api/counter")]
async fn counter(session: Session) -> Api {
    answer(demo_app::counter(&session)).await
}

#[post("/api/work")]
async fn work(session: Session, uri: &Origin<'_>) -> Api {
    answer(demo_app::work(
        &session,
        uri.query().map_or("", |q| q.as_str()),
    ))
    .await
}

#[post("/api/logout")]
async fn logout(session: Session) -> Api {
    answer(demo_app::logout(&session)).await
}

#[get("/api/sessions")]
async fn sessions(session: Session) -> Api {
    answer(demo_app::sessions(&session)).await
}

#[delete("/api/sessions/<public_id>")]
async fn revoke_device(session: Session, public_id: &str) -> Api {
    answer(demo_app::revoke_device(&session, public_id)).await
}

#[post("/api/logout-all", data = "<body>")]
async fn logout_all(session: Session, body: Body) -> Api {
    answer(demo_app::logout_all(&session, &body.0)).await
}

#[post("/api/rotate")]
async fn rotate(session: Session) -> Api {
    answer(demo_app::rotate(&session)).await
}

#[post("/api/ttl", data = "<body>")]
async fn ttl(session: Session, body: Body) -> Api {
    answer(demo_app::ttl(&session, &body.0)).await
}

#[get("/api/stats")]
async fn stats(manager: &State<SessionManager>) -> Api {
    answer(demo_app::stats(manager)).await
}

/// `GET /api/events`: 401 as `/api/status`, or the session's events
/// stream (see [`demo_app::events`](mod@demo_app::events)).
#[get("/api/events")]
async fn events(
    session: Session,
) -> Result<EventStream<impl Stream<Item = Event> + Send>, SessionRejection> {
    let watch = demo_app::events(&session).await?;
    let stream = demo_app::event_stream(watch, |frame| match frame {
        Frame::Retry(after) => Event::retry(after),
        Frame::KeepAlive => Event::comment("keep-alive"),
        Frame::Ended(data) => Event::data(data).event(demo_app::events::ENDED_EVENT),
    });
    Ok(EventStream::from(stream).heartbeat(None))
}

#[get("/api/audit")]
async fn audit(session: Session) -> Api {
    answer(demo_app::audit(&session)).await
}
