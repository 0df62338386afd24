//! What every bench server shares: its command line and the routes it
//! serves.
//!
//! Every server takes `PORT REDIS_URL` and serves, over one Redis:
//!
//! | route | what it does |
//! | --- | --- |
//! | `GET /seed` | creates a session holding `counter = 0` and sets its cookie |
//! | `GET /read` | reads `counter` |
//! | `POST /write` | reads `counter` and stores it plus one |
//! | `POST /incr` | the library's atomic increment (peers have none: same as `/write`) |
//!
//! Each answers with the counter's value as plain text.

use std::net::SocketAddr;

/// The key every server stores in its sessions.
pub const COUNTER: &str = "counter";

/// The command line every server takes: `PORT REDIS_URL`.
pub struct Args {
    /// Where to listen (127.0.0.1).
    pub addr: SocketAddr,
    /// The Redis server to use.
    pub redis_url: String,
}

impl Args {
    /// Reads `PORT REDIS_URL` from the process arguments, or exits with a
    /// usage line.
    pub fn from_env() -> Args {
        let args: Vec<String> = std::env::args().collect();
        let program = args.first().cloned().unwrap_or_default();
        let port = args.get(1).and_then(|p| p.parse::<u16>().ok());
        match (port, args.get(2)) {
            (Some(port), Some(url)) => Args {
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                redis_url: url.clone(),
            },
            _ => {
                eprintln!("usage: {program} PORT REDIS_URL");
                std::process::exit(2);
            }
        }
    }
}
