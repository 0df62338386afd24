//! A loopback TCP proxy the test controls, to put between a client and a
//! Redis server the faults production sees: a delay, a reply lost after
//! the command was forwarded (the command ran, the client never learns
//! it), a black hole, every connection reset, or a new target (a managed
//! Redis failing over behind one name).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{Result, fail};

/// What the proxy does to traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward both ways.
    None,
    /// Hold each client-to-server chunk this long before forwarding it.
    Delay(Duration),
    /// Forward the next command, then drop its reply and reset that
    /// connection (once; then back to forwarding).
    DropNextReply,
    /// Forward the next script call (`EVAL`, `EVALSHA`), then drop its
    /// reply (after Redis ran it) and reset that connection (once; then
    /// back to forwarding). Other commands pass untouched.
    DropNextScriptReply,
    /// Forward commands, swallow every reply, keep connections open.
    Blackhole,
    /// Forward everything, but drop the reply to this share (in percent)
    /// of the script calls (`EVAL`, `EVALSHA`), after Redis ran them, and
    /// reset that connection: the replies of other commands in flight on
    /// it are lost too. The calls dropped are spread evenly (with 15, the
    /// 7th, 14th, 20th, …), so a test's count is exact.
    DropScriptReplies(u8),
}

struct Shared {
    fault: Mutex<Fault>,
    target: AtomicU16,
    open: Mutex<Vec<TcpStream>>,
    stopped: AtomicBool,
    dropped: AtomicU64,
    /// Script calls seen under [`Fault::DropScriptReplies`].
    scripts: AtomicU64,
}

/// A running proxy; it stops (and resets its connections) when dropped.
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("port", &self.port)
            .field("target", &self.shared.target.load(Ordering::SeqCst))
            .finish()
    }
}

impl FaultProxy {
    /// A proxy on a free loopback port, forwarding to `127.0.0.1:target`.
    pub fn start(target: u16) -> Result<FaultProxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, crate::free_port()?))
            .map_err(|e| fail(format!("cannot bind the proxy: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| fail(e.to_string()))?
            .port();
        let shared = Arc::new(Shared {
            fault: Mutex::new(Fault::None),
            target: AtomicU16::new(target),
            open: Mutex::new(Vec::new()),
            stopped: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            scripts: AtomicU64::new(0),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.stopped.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(client) = client {
                    connect(&s, client);
                }
            }
        });
        Ok(FaultProxy { port, shared })
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sets the fault for traffic from now on.
    pub fn set(&self, fault: Fault) {
        if let Ok(mut f) = self.shared.fault.lock() {
            *f = fault;
        }
    }

    /// Sends new connections to `127.0.0.1:target` (open ones stay where
    /// they are, as after a DNS change).
    pub fn retarget(&self, target: u16) {
        self.shared.target.store(target, Ordering::SeqCst);
    }

    /// Resets every open connection now.
    pub fn reset_all(&self) {
        if let Ok(mut open) = self.shared.open.lock() {
            for s in open.drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    /// How many replies [`Fault::DropNextReply`],
    /// [`Fault::DropNextScriptReply`] and [`Fault::DropScriptReplies`]
    /// have dropped.
    pub fn replies_dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.reset_all();
        // Wake the accept loop so it sees `stopped`.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

fn connect(s: &Arc<Shared>, client: TcpStream) {
    let target = s.target.load(Ordering::SeqCst);
    let Ok(server) = TcpStream::connect((Ipv4Addr::LOCALHOST, target)) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
        client.try_clone(),
        server.try_clone(),
        client.try_clone(),
        server.try_clone(),
    ) else {
        return;
    };
    if let Ok(mut open) = s.open.lock() {
        open.push(c3);
        open.push(s3);
    }
    // Set by the command pump when the next reply on this connection is
    // to be dropped ([`Fault::DropScriptReplies`]).
    let drop_next = Arc::new(AtomicBool::new(false));
    let (up, up_drop) = (s.clone(), drop_next.clone());
    std::thread::spawn(move || pump(&up, &up_drop, client, server, Direction::Up));
    let down = s.clone();
    std::thread::spawn(move || pump(&down, &drop_next, s2, c2, Direction::Down));
}

/// Whether `chunk` holds a script call (`EVAL` or `EVALSHA`, any case).
fn holds_script(chunk: &[u8]) -> bool {
    chunk.windows(4).any(|w| w.eq_ignore_ascii_case(b"EVAL"))
}

/// Whether the `n`th script call (from 0) is one of the `percent` share
/// dropped, spread evenly.
fn dropped_share(n: u64, percent: u8) -> bool {
    let p = u64::from(percent.min(100));
    (n + 1) * p / 100 > n * p / 100
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Client to server: commands.
    Up,
    /// Server to client: replies.
    Down,
}

fn pump(
    s: &Shared,
    drop_next: &AtomicBool,
    mut from: TcpStream,
    mut to: TcpStream,
    direction: Direction,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let fault = s.fault.lock().map(|f| *f).unwrap_or(Fault::None);
        match (direction, fault) {
            (Direction::Up, Fault::Delay(d)) => std::thread::sleep(d),
            (Direction::Down, Fault::Blackhole) => continue,
            (Direction::Down, Fault::DropNextReply) => {
                if let Ok(mut f) = s.fault.lock() {
                    *f = Fault::None;
                }
                s.dropped.fetch_add(1, Ordering::SeqCst);
                break;
            }
            (Direction::Up, Fault::DropNextScriptReply) if holds_script(&buf[..n]) => {
                if let Ok(mut f) = s.fault.lock() {
                    *f = Fault::None;
                }
                drop_next.store(true, Ordering::SeqCst);
            }
            (Direction::Up, Fault::DropScriptReplies(percent)) if holds_script(&buf[..n]) => {
                let seen = s.scripts.fetch_add(1, Ordering::SeqCst);
                if dropped_share(seen, percent) {
                    drop_next.store(true, Ordering::SeqCst);
                }
            }
            (Direction::Down, _) if drop_next.swap(false, Ordering::SeqCst) => {
                s.dropped.fetch_add(1, Ordering::SeqCst);
                break;
            }
            _ => {}
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
