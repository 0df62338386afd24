//! TLS and ACL users for a [`crate::Cluster`] or a [`crate::Sentinel`] set
//! ([`Security`]), and commands sent as the harness's own ACL user.
//!
//! A secured server keeps its plain port for the harness (readiness polls,
//! `redis-cli`): with ACL on, the harness authenticates as its own
//! administrator ([`HARNESS_USER`]), the default user being off; with TLS
//! on, the server also listens with TLS on a second port, its replication
//! and cluster bus go over TLS, and a client reaches it on that port.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

/// A server certificate, its key, and the CA that signed it (PEM files),
/// for servers that speak TLS. The certificate must name 127.0.0.1.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The server certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The CA certificate that signed it (servers also trust it for each
    /// other: replication, the cluster bus, sentinels).
    pub ca: PathBuf,
}

/// The application's ACL user on every data node (the default user is
/// off): a name, a password and the ACL rules it gets, e.g.
/// `["~session:*", "+@all", "-@dangerous"]`.
#[derive(Debug, Clone)]
pub struct AclUser {
    /// The user name.
    pub name: String,
    /// Its password.
    pub password: String,
    /// Its rules (key patterns, command categories), as `ACL SETUSER`
    /// takes them.
    pub rules: Vec<String>,
}

/// How the data nodes of a Cluster or Sentinel set are secured; the
/// default is neither TLS nor ACL.
#[derive(Debug, Clone, Default)]
pub struct Security {
    /// TLS on a second port of every server (data nodes and sentinels),
    /// replication and the cluster bus over TLS too.
    pub tls: Option<TlsFiles>,
    /// The default user off on the data nodes, this user on (and the
    /// harness's own [`HARNESS_USER`]). Sentinels keep no users.
    pub acl: Option<AclUser>,
}

/// The harness's own ACL user on secured data nodes (every right: it
/// creates the cluster, reads replication offsets, and is the user
/// replicas and sentinels authenticate as).
pub const HARNESS_USER: &str = "harness";

/// [`HARNESS_USER`]'s password.
pub const HARNESS_PASSWORD: &str = "harness-only-secret";

/// The credentials the harness itself uses on a server.
pub(crate) type Auth = Option<(String, String)>;

impl Security {
    /// The credentials the harness uses on the data nodes.
    pub(crate) fn harness_auth(&self) -> Auth {
        self.acl
            .as_ref()
            .map(|_| (HARNESS_USER.to_owned(), HARNESS_PASSWORD.to_owned()))
    }

    /// TLS settings for a server whose TLS port is `tls_port`.
    pub(crate) fn tls_args(tls: &TlsFiles, tls_port: u16) -> Vec<String> {
        [
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            &tls.cert.display().to_string(),
            "--tls-key-file",
            &tls.key.display().to_string(),
            "--tls-ca-cert-file",
            &tls.ca.display().to_string(),
            "--tls-auth-clients",
            "no",
            "--tls-replication",
            "yes",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// The users of a data node: default off, the harness's user, the
    /// application's.
    pub(crate) fn acl_args(&self) -> Vec<String> {
        let Some(user) = &self.acl else {
            return Vec::new();
        };
        let mut args: Vec<String> = [
            "--user",
            "default",
            "off",
            "--user",
            HARNESS_USER,
            "on",
            &format!(">{HARNESS_PASSWORD}"),
            "~*",
            "&*",
            "+@all",
            "--user",
            &user.name,
            "on",
            &format!(">{}", user.password),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(user.rules.iter().cloned());
        args
    }

    /// Sentinel's configuration lines to monitor data nodes with these
    /// users (authenticating as the harness's user).
    pub(crate) fn sentinel_auth_lines(&self, master: &str) -> String {
        match &self.acl {
            Some(_) => format!(
                "sentinel auth-user {master} {HARNESS_USER}\n\
                 sentinel auth-pass {master} {HARNESS_PASSWORD}\n"
            ),
            None => String::new(),
        }
    }

    /// Sentinel's TLS configuration lines (TLS on `tls_port`, and towards
    /// the data nodes).
    pub(crate) fn sentinel_tls_lines(&self, tls_port: Option<u16>) -> String {
        match (&self.tls, tls_port) {
            (Some(tls), Some(port)) => format!(
                "tls-port {port}\ntls-cert-file {}\ntls-key-file {}\n\
                 tls-ca-cert-file {}\ntls-auth-clients no\ntls-replication yes\n",
                tls.cert.display(),
                tls.key.display(),
                tls.ca.display()
            ),
            _ => String::new(),
        }
    }
}

/// `user:password@` for a URL (percent-encoding left to the caller), or
/// nothing.
pub(crate) fn userinfo(credentials: Option<(&str, &str)>) -> String {
    credentials.map_or_else(String::new, |(u, p)| format!("{u}:{p}@"))
}

/// Reads one reply's first chunk: enough for the harness's own commands
/// (status lines, numbers, INFO text).
fn read_reply(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = vec![0u8; 64 * 1024];
    let n = stream.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn encode(args: &[&str]) -> String {
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    req
}

/// Sends one command over RESP on the plain port, after `AUTH` when
/// `auth` is given, and returns the raw reply text (an `AUTH` refusal is
/// returned as the reply).
pub(crate) fn command_as(port: u16, auth: &Auth, args: &[&str]) -> std::io::Result<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    if let Some((user, password)) = auth {
        stream.write_all(encode(&["AUTH", user, password]).as_bytes())?;
        let reply = read_reply(&mut stream)?;
        if !reply.starts_with("+OK") {
            return Ok(reply);
        }
    }
    stream.write_all(encode(args).as_bytes())?;
    read_reply(&mut stream)
}
