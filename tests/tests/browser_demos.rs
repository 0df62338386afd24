//! The demo page in a real browser: headless Chromium from Debian's
//! packages, driven over WebDriver (`chromedriver`, Debian's
//! `chromium-driver`) with fantoccini, for each of the three demos on the
//! in-memory store, on one Redis, on a 3-primary Cluster and on a Sentinel
//! set (the store finding the primary through the sentinels).
//!
//! Why WebDriver and fantoccini rather than chromiumoxide's DevTools
//! protocol: fantoccini is a small crate over the W3C standard (the test
//! adds seconds to the build, where chromiumoxide's generated protocol
//! types add minutes on two cores), Debian ships the matching driver with
//! the browser, and everything the test needs (typing, clicking, reading
//! the page, every cookie including HttpOnly ones, screenshots) is in the
//! standard.
//!
//! Each run signs in on two devices (two WebDriver sessions: two browser
//! profiles, two cookie jars), clicks the counter, starts the slow request
//! on one device and revokes that device from the other (the banner says
//! why, the page is signed out, the slow save is refused), rotates the id,
//! sets an idle timeout and lets it pass (on the demo's manual clock: no
//! waiting), and signs out everywhere with a reason. The page follows the
//! CSRF rules throughout (JSON bodies, same origin). Screenshots go under
//! `browser-screenshots/` under the target directory in use, printed by each test; they are not
//! asserted.
//!
//! A second scenario (`*_events_on_*`) opens the page with polling off,
//! revokes it from an HTTP client, and checks that the events stream
//! (`/api/events`) puts the reason on the page within a second.
//!
//! Waits poll the page for a condition (with a deadline), never sleep for a
//! fixed time.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use reqwest::Method;
use serde_json::{Value, json};
use session_tests::http_contract::{ActixDemo, AxumDemo, Launcher, RocketDemo, StoreKind, start};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long a condition may take to show on the page.
const PATIENCE: Duration = Duration::from_secs(30);

/// A chromedriver process on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "the browser tests need Debian's chromium and chromium-driver: \
             ./scripts/test installs them (apt-get install chromium chromium-driver)"
        );
        let port = redis_harness::free_port().expect("a free port");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A new browser profile: one device.
    async fn device(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", "--window-size=1100,1700"],
            }),
        );
        ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a browser session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One device's page, with its screenshots.
struct Page {
    client: Client,
    name: &'static str,
    shots: PathBuf,
}

impl Page {
    async fn eval(&self, js: &str) -> Value {
        self.client
            .execute(js, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("{}: script failed: {e}", self.name))
    }

    /// Polls until `condition` (a JavaScript expression) holds.
    async fn wait_until(&self, what: &str, condition: &str) {
        self.wait_within(what, condition, PATIENCE).await;
    }

    /// Polls until `condition` holds, failing after `limit`; returns how
    /// long it took.
    async fn wait_within(&self, what: &str, condition: &str, limit: Duration) -> Duration {
        let start = Instant::now();
        let deadline = start + limit;
        let script = format!("return !!({condition});");
        loop {
            if self.eval(&script).await == Value::Bool(true) {
                return start.elapsed();
            }
            if Instant::now() > deadline {
                self.shot(&format!("failed-{}", what.replace(' ', "-")))
                    .await;
                let text = self.eval("return document.body.innerText").await;
                panic!(
                    "{}: never saw {what} within {limit:?}; the page says:\n{text}",
                    self.name
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks `css`, finding it again when the page re-rendered it between
    /// the find and the click (the devices table is redrawn every 3 s).
    async fn click(&self, css: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let clicked = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.click().await,
                Err(e) => Err(e),
            };
            match clicked {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => {
                    panic!("{}: cannot click {css}: {e}", self.name)
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn type_into(&self, id: &str, text: &str) {
        let field = self
            .client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("{}: no #{id}: {e}", self.name));
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    async fn banner_says(&self, what: &str, text: &str) {
        let text = serde_json::to_string(text).expect("a JS string");
        self.wait_until(
            what,
            &format!("document.getElementById('banner').textContent.includes({text})"),
        )
        .await;
    }

    async fn sign_in(&self, user: &str, device: &str) {
        self.type_into("username", user).await;
        self.type_into("device", device).await;
        self.click("#login-form button[type=submit]").await;
        self.wait_until("signed in", "document.body.classList.contains('signed-in')")
            .await;
    }

    async fn signed_out(&self, what: &str) {
        self.wait_until(what, "!document.body.classList.contains('signed-in')")
            .await;
    }

    /// The session cookie's value (HttpOnly: only WebDriver sees it).
    async fn session_cookie(&self) -> Option<String> {
        let cookies = self.client.get_all_cookies().await.expect("cookies");
        cookies
            .iter()
            .find(|c| c.name().ends_with("sid"))
            .map(|c| c.value().to_owned())
    }

    async fn shot(&self, step: &str) {
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(self.shots.join(format!("{step}-{}.png", self.name)), png);
        }
    }
}

/// The target directory this test binary was built in
/// (`<target>/<profile>/deps/<binary>`), so screenshots land beside the
/// build whatever `CARGO_TARGET_DIR` or `build.target-dir` says; the
/// workspace's `target/` only if the binary is somewhere else.
fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let deps = exe.parent()?;
            (deps.file_name()? == "deps").then_some(())?;
            Some(deps.parent()?.parent()?.to_path_buf())
        })
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// A run's start: its screenshot directory (printed), the demo on `kind`,
/// a browser, and the laptop's page in it.
async fn begin(
    launcher: &dyn Launcher,
    kind: StoreKind,
    run: &str,
) -> (PathBuf, session_tests::http_contract::Env, Driver, Page) {
    let shots = target_dir().join("browser-screenshots").join(run);
    std::fs::create_dir_all(&shots).expect("the screenshot directory");
    println!("screenshots: {}", shots.display());
    let env = start(launcher, kind, |b| b).await;
    let driver = Driver::start();
    let laptop = Page {
        client: driver.device().await,
        name: "laptop",
        shots: shots.clone(),
    };
    (shots, env, driver, laptop)
}

async fn scenario(launcher: &dyn Launcher, kind: StoreKind, run: &str) {
    let (shots, env, driver, laptop) = begin(launcher, kind, run).await;
    let phone = Page {
        client: driver.device().await,
        name: "phone",
        shots: shots.clone(),
    };
    let url = format!("{}/", env.base);

    // 1. Sign in on two devices.
    for page in [&laptop, &phone] {
        page.client.goto(&url).await.expect("the page loads");
        page.sign_in("alice", page.name).await;
    }
    for page in [&laptop, &phone] {
        page.wait_until(
            "both devices listed",
            "document.querySelectorAll('#devices tr').length === 2",
        )
        .await;
    }
    laptop.shot("1-signed-in").await;
    // The sessions are in the store of the kind named (on Redis: keys on
    // its servers, the primary the sentinels name on Sentinel).
    env.assert_stored_in(kind, "signing in");

    // 2. The counter.
    laptop.click("#inc").await;
    laptop
        .wait_until(
            "the counter at 1",
            "document.getElementById('counter').textContent === '1'",
        )
        .await;
    laptop.click("#inc").await;
    laptop
        .wait_until(
            "the counter at 2",
            "document.getElementById('counter').textContent === '2'",
        )
        .await;

    // 3. A slow request on the laptop, revoked from the phone meanwhile.
    laptop.click("#work").await;
    laptop
        .wait_until(
            "the slow request running",
            "document.getElementById('work').disabled",
        )
        .await;
    phone
        .wait_until(
            "the laptop's revoke button",
            "document.querySelector('#devices button.danger') !== null",
        )
        .await;
    phone.click("#devices button.danger").await;
    phone
        .banner_says("the revocation confirmed", "Revoked laptop")
        .await;
    laptop.signed_out("the laptop signed out").await;
    laptop
        .banner_says(
            "why the laptop was signed out",
            "this device was revoked from another device",
        )
        .await;
    laptop
        .wait_until(
            "the slow request's save refused",
            "document.getElementById('work-status').textContent.includes('refused')",
        )
        .await;
    laptop.shot("2-revoked-during-slow-request").await;

    // 4. Rotate, then an idle timeout that passes.
    laptop.sign_in("alice", "laptop").await;
    let public = laptop
        .eval("return document.getElementById('me-public').textContent")
        .await;
    let before = laptop.session_cookie().await;
    laptop.click("#rotate").await;
    laptop
        .banner_says("the rotation confirmed", "rotated")
        .await;
    let after = laptop.session_cookie().await;
    assert!(
        before.is_some() && after.is_some() && before != after,
        "rotation changes the cookie"
    );
    laptop
        .wait_until(
            "the same public id after rotation",
            &format!("document.getElementById('me-public').textContent === {public}"),
        )
        .await;
    laptop.type_into("ttl", "60").await;
    laptop.click("#set-ttl").await;
    laptop
        .banner_says("the idle timeout set", "Idle timeout set")
        .await;
    laptop.shot("3-rotated-idle-timeout-set").await;
    // Under a minute left: the page offers to stay signed in, and its
    // button extends the session (the page shows the new expiry).
    laptop
        .wait_until(
            "the idle warning",
            "document.getElementById('idle-warning').classList.contains('show')",
        )
        .await;
    let before = laptop
        .eval("return document.getElementById('me-expires').textContent")
        .await;
    env.clock.advance(Duration::from_secs(30));
    laptop.click("#stay").await;
    laptop
        .wait_until(
            "the session extended",
            &format!("document.getElementById('me-expires').textContent !== {before}"),
        )
        .await;
    laptop.shot("3b-idle-warning-extended").await;
    env.clock.advance(Duration::from_secs(61));
    laptop.signed_out("the laptop expired").await;
    laptop
        .banner_says("why: expired", "the session expired")
        .await;
    laptop.shot("4-expired").await;

    // 5. Sign out everywhere, with a reason.
    laptop.sign_in("alice", "laptop").await;
    phone
        .type_into("logout-all-reason", "password changed")
        .await;
    phone.click("#logout-all").await;
    phone
        .banner_says("sign-out everywhere confirmed", "everywhere")
        .await;
    phone.signed_out("the phone signed out").await;
    laptop.signed_out("the laptop signed out everywhere").await;
    laptop
        .banner_says("the reason shown", "password changed")
        .await;
    laptop.shot("5-signed-out-everywhere").await;
    phone.shot("5-signed-out-everywhere").await;

    let _ = laptop.client.close().await;
    let _ = phone.client.close().await;
}

/// The end of a session pushed to the page (`/api/events`): the laptop's
/// page open with polling off (`?poll=off`: no `/api/status` request at
/// all), the phone (an HTTP client) revokes the laptop, and the laptop's
/// banner shows the reason within [`PUSHED_WITHIN`], put there by the
/// events stream. The page's "Recent activity" lists the sign-in first.
async fn pushed_end_scenario(launcher: &dyn Launcher, kind: StoreKind, run: &str) {
    let (_, env, _driver, laptop) = begin(launcher, kind, run).await;
    laptop
        .client
        .goto(&format!("{}/?poll=off", env.base))
        .await
        .expect("the page loads");
    laptop.sign_in("alice", "laptop").await;
    laptop
        .wait_until(
            "the events stream open",
            "document.body.dataset.events === 'open'",
        )
        .await;
    laptop
        .wait_until(
            "the sign-in in Recent activity",
            "document.querySelector('#audit tr.audit-signed_in') !== null",
        )
        .await;
    laptop.shot("1-listening").await;

    let phone = env.browser();
    assert_eq!(phone.login("alice", "phone").await.status, 200);
    let list = phone.send(Method::GET, "/api/sessions", None).await;
    let laptop_id = list.json["sessions"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["current"] == false))
        .and_then(|s| s["public_id"].as_str())
        .unwrap_or_else(|| panic!("the phone lists the laptop: {}", list.json))
        .to_owned();
    let revoked = phone
        .send(Method::DELETE, &format!("/api/sessions/{laptop_id}"), None)
        .await;
    assert_eq!(revoked.status, 204);
    let took = laptop
        .wait_within(
            "the reason pushed by /api/events",
            "document.getElementById('banner').dataset.source === 'events' && \
             document.getElementById('banner').textContent.includes(\
             'this device was revoked from another device')",
            PUSHED_WITHIN,
        )
        .await;
    println!("the laptop showed the revocation {took:?} after it was answered");
    laptop.signed_out("the laptop signed out").await;
    let polls = laptop
        .eval(
            "return performance.getEntriesByType('resource')\
             .filter(e => e.name.includes('/api/status')).length",
        )
        .await;
    assert_eq!(polls, json!(0), "with ?poll=off the page never polls");
    laptop.shot("2-revoked-pushed").await;
    let _ = laptop.client.close().await;
}

/// How soon the pushed end must show on the page (the contract's "within
/// 1 s"), counted from the revocation's answer.
const PUSHED_WITHIN: Duration = Duration::from_secs(1);

/// One `#[tokio::test]` per line: `name: launcher, store kind;`, each
/// running `$scenario`.
macro_rules! browser_tests {
    ($scenario:ident; $($name:ident: $launcher:expr, $kind:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $scenario(&$launcher, $kind, stringify!($name)).await;
        }
    )*};
}

browser_tests! { pushed_end_scenario;
    axum_events_on_memory: AxumDemo, StoreKind::Memory;
    actix_events_on_memory: ActixDemo, StoreKind::Memory;
    rocket_events_on_memory: RocketDemo, StoreKind::Memory;
    axum_events_on_redis: AxumDemo, StoreKind::RedisStandalone;
    actix_events_on_redis: ActixDemo, StoreKind::RedisStandalone;
    rocket_events_on_redis: RocketDemo, StoreKind::RedisStandalone;
}

browser_tests! { scenario;
    axum_on_memory: AxumDemo, StoreKind::Memory;
    axum_on_redis: AxumDemo, StoreKind::RedisStandalone;
    actix_on_memory: ActixDemo, StoreKind::Memory;
    actix_on_redis: ActixDemo, StoreKind::RedisStandalone;
    rocket_on_memory: RocketDemo, StoreKind::Memory;
    rocket_on_redis: RocketDemo, StoreKind::RedisStandalone;
    axum_on_cluster: AxumDemo, StoreKind::RedisCluster;
    axum_on_sentinel: AxumDemo, StoreKind::RedisSentinel;
    actix_on_cluster: ActixDemo, StoreKind::RedisCluster;
    actix_on_sentinel: ActixDemo, StoreKind::RedisSentinel;
    rocket_on_cluster: RocketDemo, StoreKind::RedisCluster;
    rocket_on_sentinel: RocketDemo, StoreKind::RedisSentinel;
}
