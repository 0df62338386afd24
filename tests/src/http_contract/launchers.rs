//! How each framework's demo is started around a [`SessionManager`] on a
//! loopback port.

use std::future::Future;
use std::pin::Pin;

use session_core::{SessionConfigBuilder, SessionManager};

/// A demo running on a loopback port; stopped when dropped.
pub struct RunningDemo {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Stops the server.
    pub stop: Box<dyn FnOnce() + Send>,
}

/// How to start one framework's demo.
pub trait Launcher: Send + Sync {
    /// The demo's own configuration rules (the JSON-only CSRF rule).
    fn configure(&self, builder: SessionConfigBuilder) -> SessionConfigBuilder;

    /// Serves the demo over `manager` on a free loopback port.
    fn start(&self, manager: SessionManager) -> Pin<Box<dyn Future<Output = RunningDemo> + Send>>;
}

/// The axum demo, served in this process.
pub struct AxumDemo;

impl Launcher for AxumDemo {
    fn configure(&self, builder: SessionConfigBuilder) -> SessionConfigBuilder {
        axum_demo::configure(builder)
    }

    fn start(&self, manager: SessionManager) -> Pin<Box<dyn Future<Output = RunningDemo> + Send>> {
        Box::pin(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a loopback port");
            let base = format!("http://{}", listener.local_addr().expect("an address"));
            let app = axum_demo::router(manager)
                .into_make_service_with_connect_info::<std::net::SocketAddr>();
            let server = tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            RunningDemo {
                base,
                stop: Box::new(move || server.abort()),
            }
        })
    }
}

/// The actix-web demo, served on its own thread (actix runs its own
/// runtime: one System for the server, one per worker).
pub struct ActixDemo;

impl Launcher for ActixDemo {
    fn configure(&self, builder: SessionConfigBuilder) -> SessionConfigBuilder {
        actix_demo::configure(builder)
    }

    fn start(&self, manager: SessionManager) -> Pin<Box<dyn Future<Output = RunningDemo> + Send>> {
        Box::pin(async move {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
            let base = format!("http://{}", listener.local_addr().expect("an address"));
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let server =
                        actix_demo::server(manager, listener, 2).expect("the server starts");
                    let _ = tx.send(server.handle());
                    let _ = server.await;
                });
            });
            let handle = rx.recv().expect("the server's handle");
            RunningDemo {
                base,
                stop: Box::new(move || {
                    // Stopping is a future; nothing needs to wait for it.
                    drop(handle.stop(false));
                }),
            }
        })
    }
}

/// The rocket demo, launched in this process on a free loopback port
/// (Rocket's logging and Ctrl-C handling off).
pub struct RocketDemo;

impl Launcher for RocketDemo {
    fn configure(&self, builder: SessionConfigBuilder) -> SessionConfigBuilder {
        rocket_demo::configure(builder)
    }

    fn start(&self, manager: SessionManager) -> Pin<Box<dyn Future<Output = RunningDemo> + Send>> {
        Box::pin(async move {
            let port = redis_harness::free_port().expect("a free port");
            let config = rocket::Config {
                port,
                address: std::net::Ipv4Addr::LOCALHOST.into(),
                log_level: rocket::config::LogLevel::Off,
                cli_colors: false,
                shutdown: rocket::config::Shutdown {
                    ctrlc: false,
                    ..rocket::config::Shutdown::default()
                },
                ..rocket::Config::debug_default()
            };
            let ignited = rocket_demo::rocket(manager, config)
                .ignite()
                .await
                .expect("rocket ignites");
            let shutdown = ignited.shutdown();
            tokio::spawn(async move {
                let _ = ignited.launch().await;
            });
            let base = format!("http://127.0.0.1:{port}");
            // Launching binds asynchronously: wait until it answers.
            let client = reqwest::Client::new();
            for _ in 0..200 {
                if client.get(&base).send().await.is_ok() {
                    break;
                }
                tokio::task::yield_now().await;
            }
            RunningDemo {
                base,
                stop: Box::new(move || shutdown.notify()),
            }
        })
    }
}
