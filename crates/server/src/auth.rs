//! Who may call what: bearer tokens and mTLS client identities, their roles, and the check every
//! RPC passes. [`AuthConfig`] is the `[auth]` section; [`PERMISSIONS`] is the one table of which
//! roles each RPC needs; [`AuthLayer`] is the tower layer `serve` puts in front of every service,
//! so no service can forget the check. A call that passes carries its [`AuthIdentity`] in the
//! request extensions.
//!
//! Limits, stated plainly: a bearer token is only as secret as the channel it travels on — use
//! `[auth.tls]` off loopback. Tokens are stored as blake3 hashes and compared in constant time;
//! the server never logs one. Client certificates are verified by rustls against `client_ca`
//! during the handshake; the layer then maps the verified leaf certificate (by SHA-256
//! fingerprint, else by subject CN or SAN) to roles.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::Deserialize;
use sha2::Digest as _;
use tonic::codegen::http;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::ServerError;

/// A role an identity holds. Every RPC needs one of a set of roles ([`PERMISSIONS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A counter terminal: screens passengers.
    Counter,
    /// A second-check officer: works the case queue.
    Reviewer,
    /// Operations: loads and rolls back watchlists, reloads files.
    Ops,
    /// Reads cases and watchlist status; changes nothing.
    Auditor,
}

impl Role {
    /// Every role, in the order they are printed.
    pub const ALL: [Role; 4] = [Role::Counter, Role::Reviewer, Role::Ops, Role::Auditor];

    /// The name used in the config (`counter`, `reviewer`, `ops`, `auditor`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Counter => "counter",
            Role::Reviewer => "reviewer",
            Role::Ops => "ops",
            Role::Auditor => "auditor",
        }
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ServerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| ServerError::Config {
                source_name: "role".into(),
                message: format!(
                    "unknown role `{s}`; the roles are counter, reviewer, ops, auditor"
                ),
            })
    }
}

/// A set of roles. A bit set, so the check on every call is one AND.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Roles(u8);

impl Roles {
    /// No role at all.
    pub const NONE: Roles = Roles(0);

    /// The set of `roles`.
    pub const fn of(roles: &[Role]) -> Roles {
        let mut bits = 0;
        let mut i = 0;
        while i < roles.len() {
            bits |= roles[i].bit();
            i += 1;
        }
        Roles(bits)
    }

    /// Whether `role` is in the set.
    pub const fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    /// Whether the two sets share a role.
    pub const fn intersects(self, other: Roles) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The roles in the set, in [`Role::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }
}

impl FromIterator<Role> for Roles {
    fn from_iter<I: IntoIterator<Item = Role>>(iter: I) -> Self {
        Roles(iter.into_iter().fold(0, |bits, r| bits | r.bit()))
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        for (i, r) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(r.as_str())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Roles({self})")
    }
}

/// What an RPC requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, no credential: health checks (load balancers) and reflection (tools).
    Open,
    /// An authenticated identity holding at least one of these roles.
    AnyOf(Roles),
}

const COUNTER: Access = Access::AnyOf(Roles::of(&[Role::Counter]));
const REVIEWER: Access = Access::AnyOf(Roles::of(&[Role::Reviewer]));
const REVIEW_READ: Access = Access::AnyOf(Roles::of(&[Role::Reviewer, Role::Auditor]));
const OPS: Access = Access::AnyOf(Roles::of(&[Role::Ops]));
const OPS_READ: Access = Access::AnyOf(Roles::of(&[Role::Ops, Role::Auditor]));

/// The built-in permission table: each gRPC path and who may call it. `[auth.permissions]`
/// overrides entries of it; a path that is in neither is denied to everyone (a new RPC stays
/// closed until someone decides who may call it).
pub const PERMISSIONS: &[(&str, Access)] = &[
    ("/checkpost.v1.Screening/Screen", COUNTER),
    ("/checkpost.v1.Review/ListCases", REVIEW_READ),
    ("/checkpost.v1.Review/GetCase", REVIEW_READ),
    ("/checkpost.v1.Review/WatchCases", REVIEW_READ),
    ("/checkpost.v1.Review/ClaimCase", REVIEWER),
    ("/checkpost.v1.Review/ReleaseCase", REVIEWER),
    ("/checkpost.v1.Review/ResolveCase", REVIEWER),
    ("/checkpost.v1.Watchlists/GetStatus", OPS_READ),
    ("/checkpost.v1.Watchlists/UploadSnapshot", OPS),
    ("/checkpost.v1.Watchlists/ActivateSnapshot", OPS),
    ("/checkpost.v1.Watchlists/RollbackSnapshot", OPS),
    ("/checkpost.v1.Watchlists/ApplyDelta", OPS),
    ("/checkpost.v1.Watchlists/Reload", OPS),
    ("/grpc.health.v1.Health/Check", Access::Open),
    ("/grpc.health.v1.Health/Watch", Access::Open),
    (
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        Access::Open,
    ),
];

/// The `[auth]` section of the server config.
///
/// ```toml
/// [auth]
/// enabled = true
///
/// [[auth.token]]
/// name = "counter-d07"
/// blake3 = "…64 hex…"          # from `checkpost auth token`
/// roles = ["counter"]
///
/// [auth.tls]
/// cert = "tls/server.pem"
/// key = "tls/server.key"
/// client_ca = "tls/clients-ca.pem"  # optional: verify client certificates against it
///
/// [[auth.client]]
/// subject = "reviewer-1.isb"  # certificate CN or SAN; or `fingerprint = "…sha256 hex…"`
/// roles = ["reviewer"]
///
/// [auth.permissions]
/// "checkpost.v1.Watchlists/GetStatus" = ["ops"]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Check every call. Off (the default) is only allowed on a loopback `listen` address.
    pub enabled: bool,
    /// Bearer tokens (`[[auth.token]]`).
    #[serde(rename = "token")]
    pub tokens: Vec<TokenConfig>,
    /// Server TLS, and client certificates (`[auth.tls]`).
    pub tls: Option<TlsConfig>,
    /// Client certificate identities (`[[auth.client]]`).
    #[serde(rename = "client")]
    pub clients: Vec<ClientConfig>,
    /// Overrides of the built-in table: `"package.Service/Method" = [roles]`; `[]` closes it.
    pub permissions: BTreeMap<String, Vec<Role>>,
}

/// One bearer token (`[[auth.token]]`). The config holds the token's hash, never the token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it (logged with every denied call; unique).
    pub name: String,
    /// blake3 hash of the token, 64 hex characters (`checkpost auth token` prints it).
    pub blake3: String,
    /// The roles the token grants.
    pub roles: Vec<Role>,
}

/// Server TLS (`[auth.tls]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server's certificate chain (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
    /// CA certificates (PEM) client certificates must chain to. Unset: no client certificates.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// Refuse the handshake of a client without a certificate (default: a client may instead
    /// send a bearer token). Needs `client_ca`.
    #[serde(default)]
    pub require_client_cert: bool,
}

/// A client certificate identity (`[[auth.client]]`): exactly one of `subject` or `fingerprint`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The name logged for it; defaults to the subject or the fingerprint.
    #[serde(default)]
    pub name: Option<String>,
    /// The certificate's subject CN, or one of its DNS, URI or e-mail SANs.
    #[serde(default)]
    pub subject: Option<String>,
    /// SHA-256 of the certificate (DER), hex; colons allowed (`openssl x509 -fingerprint
    /// -sha256` prints it so).
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// The roles the certificate grants.
    pub roles: Vec<Role>,
}

impl AuthConfig {
    /// Makes every relative path in this section absolute against `base` (the config file's
    /// directory).
    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(tls) = self.tls.as_mut() {
            fix(&mut tls.cert);
            fix(&mut tls.key);
            if let Some(ca) = tls.client_ca.as_mut() {
                fix(ca);
            }
        }
    }

    /// Checks the section against the address the server listens on: refuses auth off on a
    /// non-loopback address, bad hashes, duplicate names, clients without a `client_ca`, and
    /// permission overrides of paths no table knows. [`Authorizer::new`] calls it.
    pub fn validate(&self, listen: SocketAddr) -> Result<(), ServerError> {
        Authorizer::new(self, listen).map(drop)
    }
}

fn config_error(key: impl Into<String>, message: impl Into<String>) -> ServerError {
    ServerError::Config {
        source_name: key.into(),
        message: message.into(),
    }
}

/// How a caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// `authorization: Bearer …`.
    Token,
    /// A client certificate verified during the TLS handshake.
    ClientCertificate,
}

/// The caller of a call that passed the check; in the request extensions
/// (`request.extensions().get::<AuthIdentity>()`) for services to log or record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthIdentity {
    /// The configured name (token `name`, client `name`, subject or fingerprint).
    pub name: Arc<str>,
    /// Its roles.
    pub roles: Roles,
    /// How it authenticated.
    pub credential: Credential,
}

/// With access control on, a caller acts only as itself: the request's `field` (a reviewer's
/// `reviewer_id`, a terminal's `counter_id`) must be the name `caller` authenticated as, so the
/// audit trail names who really acted. With it off (`caller` is `None`, loopback only), the
/// request's word stands.
pub fn acting_as(
    field: &'static str,
    claimed: &str,
    caller: Option<&AuthIdentity>,
) -> Result<(), ServerError> {
    match caller {
        Some(identity) if *identity.name != *claimed => Err(ServerError::ActingAsAnother {
            field,
            identity: identity.name.to_string(),
            claimed: claimed.to_string(),
        }),
        _ => Ok(()),
    }
}

/// A new random token and the blake3 hash the config stores, for `checkpost auth token`.
#[derive(Debug)]
pub struct NewToken {
    /// The token: `cpt_` and 64 hex characters (256 random bits). Shown once.
    pub token: String,
    /// blake3 of the token, hex: the `blake3` key of `[[auth.token]]`.
    pub hash_hex: String,
}

/// Makes a token from the OS's random generator.
pub fn generate_token() -> NewToken {
    let bytes: [u8; 32] = rand::random();
    let token = format!("cpt_{}", hex::encode(bytes));
    let hash_hex = token_hash_hex(&token);
    NewToken { token, hash_hex }
}

/// The hash `[[auth.token]] blake3` holds for `token`.
pub fn token_hash_hex(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// SHA-256 of a certificate's DER, lowercase hex: the `fingerprint` of `[[auth.client]]`.
pub fn certificate_fingerprint(der: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(der))
}

/// The compiled `[auth]` section: what the layer consults on every call.
#[derive(Debug)]
pub struct Authorizer {
    enabled: bool,
    tokens: Vec<(blake3::Hash, AuthIdentity)>,
    by_fingerprint: HashMap<[u8; 32], AuthIdentity>,
    by_subject: HashMap<String, AuthIdentity>,
    table: HashMap<String, Access>,
}

fn normalise_path(key: &str) -> String {
    if key.starts_with('/') {
        key.to_string()
    } else {
        format!("/{key}")
    }
}

fn roles_of(key: &str, roles: &[Role]) -> Result<Roles, ServerError> {
    if roles.is_empty() {
        return Err(config_error(
            key,
            "roles is empty; give at least one of counter, reviewer, ops, auditor",
        ));
    }
    Ok(roles.iter().copied().collect())
}

impl Authorizer {
    /// Compiles and validates `config` for a server listening on `listen`.
    pub fn new(config: &AuthConfig, listen: SocketAddr) -> Result<Self, ServerError> {
        if !config.enabled && !listen.ip().is_loopback() {
            return Err(config_error(
                "auth",
                format!(
                    "access control is off and listen is {listen}, which is not loopback: anyone \
                     on the network could screen, resolve cases and replace watchlists. Turn it \
                     on with `[auth] enabled = true` and a token from `checkpost auth token` \
                     (or client certificates under [auth.tls] and [[auth.client]]), or listen \
                     on 127.0.0.1"
                ),
            ));
        }
        let mut names = HashSet::new();
        let mut tokens = Vec::with_capacity(config.tokens.len());
        for (i, t) in config.tokens.iter().enumerate() {
            let key = format!("auth.token[{i}] ({})", t.name);
            if t.name.trim().is_empty() {
                return Err(config_error(key, "name is empty"));
            }
            if !names.insert(t.name.clone()) {
                return Err(config_error(
                    key,
                    "a token of this name is already configured",
                ));
            }
            let hash = blake3::Hash::from_hex(t.blake3.trim()).map_err(|e| {
                config_error(
                    &key,
                    format!(
                        "blake3 must be 64 hex characters (as `checkpost auth token` prints): {e}"
                    ),
                )
            })?;
            if tokens.iter().any(|(h, _): &(blake3::Hash, _)| *h == hash) {
                return Err(config_error(key, "the same token hash is configured twice"));
            }
            let identity = AuthIdentity {
                name: Arc::from(t.name.as_str()),
                roles: roles_of(&key, &t.roles)?,
                credential: Credential::Token,
            };
            tokens.push((hash, identity));
        }

        let client_ca = config.tls.as_ref().and_then(|t| t.client_ca.as_ref());
        if let Some(tls) = &config.tls {
            if tls.require_client_cert && tls.client_ca.is_none() {
                return Err(config_error(
                    "auth.tls",
                    "require_client_cert needs client_ca (the CA client certificates chain to)",
                ));
            }
        }
        let mut by_fingerprint = HashMap::new();
        let mut by_subject = HashMap::new();
        for (i, c) in config.clients.iter().enumerate() {
            let label = c
                .name
                .clone()
                .or_else(|| c.subject.clone())
                .or_else(|| c.fingerprint.clone())
                .unwrap_or_default();
            let key = format!("auth.client[{i}] ({label})");
            if client_ca.is_none() {
                return Err(config_error(
                    key,
                    "client certificates need [auth.tls] with client_ca to verify them against",
                ));
            }
            if !names.insert(label.clone()) {
                return Err(config_error(
                    key,
                    "an identity of this name is already configured",
                ));
            }
            let identity = AuthIdentity {
                name: Arc::from(label.as_str()),
                roles: roles_of(&key, &c.roles)?,
                credential: Credential::ClientCertificate,
            };
            match (&c.subject, &c.fingerprint) {
                (Some(subject), None) => {
                    if by_subject.insert(subject.clone(), identity).is_some() {
                        return Err(config_error(key, "this subject is already configured"));
                    }
                }
                (None, Some(fp)) => {
                    let clean: String = fp.chars().filter(|c| *c != ':').collect();
                    let mut bytes = [0u8; 32];
                    hex::decode_to_slice(clean.trim(), &mut bytes).map_err(|e| {
                        config_error(
                            &key,
                            format!("fingerprint must be a SHA-256 in hex (64 characters): {e}"),
                        )
                    })?;
                    if by_fingerprint.insert(bytes, identity).is_some() {
                        return Err(config_error(key, "this fingerprint is already configured"));
                    }
                }
                _ => {
                    return Err(config_error(
                        key,
                        "give exactly one of subject (certificate CN or SAN) or fingerprint",
                    ));
                }
            }
        }
        if config.enabled && tokens.is_empty() && by_subject.is_empty() && by_fingerprint.is_empty()
        {
            return Err(config_error(
                "auth",
                "auth is enabled but no [[auth.token]] or [[auth.client]] is configured: no one \
                 could call; make a token with `checkpost auth token --name N --roles R`",
            ));
        }

        let mut table: HashMap<String, Access> = PERMISSIONS
            .iter()
            .map(|(p, a)| ((*p).to_string(), *a))
            .collect();
        for (path, roles) in &config.permissions {
            let full = normalise_path(path);
            if !table.contains_key(&full) {
                return Err(config_error(
                    format!("auth.permissions.\"{path}\""),
                    "no such RPC; write it as package.Service/Method, e.g. \
                     checkpost.v1.Screening/Screen",
                ));
            }
            table.insert(full, Access::AnyOf(roles.iter().copied().collect()));
        }
        Ok(Self {
            enabled: config.enabled,
            tokens,
            by_fingerprint,
            by_subject,
            table,
        })
    }

    /// Whether calls are checked at all.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// What `path` (`/package.Service/Method`) requires; `None` for a path no table knows
    /// (denied).
    pub fn access(&self, path: &str) -> Option<Access> {
        self.table.get(path).copied()
    }

    /// The check of one call: `Ok(Some(identity))` when it may go on, `Ok(None)` when auth is
    /// off or the method is open, and the error (UNAUTHENTICATED / PERMISSION_DENIED) otherwise.
    pub fn check<B>(&self, req: &http::Request<B>) -> Result<Option<AuthIdentity>, ServerError> {
        if !self.enabled {
            return Ok(None);
        }
        let path = req.uri().path();
        let access = self.access(path);
        if access == Some(Access::Open) {
            return Ok(None);
        }
        let identity = self.authenticate(req)?;
        match access {
            Some(Access::AnyOf(needed)) if identity.roles.intersects(needed) => Ok(Some(identity)),
            _ => {
                let needed = match access {
                    Some(Access::AnyOf(needed)) => needed,
                    _ => Roles::NONE,
                };
                tracing::warn!(identity = %identity.name, method = path, %needed, "permission denied");
                Err(ServerError::PermissionDenied {
                    identity: identity.name.to_string(),
                    method: path.to_string(),
                    needed: needed.to_string(),
                })
            }
        }
    }

    /// Who sent `req`: the bearer token if there is an `authorization` header (a bad one is an
    /// error even when a certificate was sent too), else the verified client certificate.
    pub fn authenticate<B>(&self, req: &http::Request<B>) -> Result<AuthIdentity, ServerError> {
        if let Some(value) = req.headers().get(http::header::AUTHORIZATION) {
            return self.authenticate_token(value.as_bytes());
        }
        let certs = req
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(TlsConnectInfo::peer_certs);
        if let Some(leaf) = certs.as_deref().and_then(|c| c.first()) {
            return self.authenticate_certificate(leaf.as_ref());
        }
        Err(ServerError::Unauthenticated {
            reason: "no credential: send `authorization: Bearer <token>` or a client certificate"
                .into(),
        })
    }

    fn authenticate_token(&self, header: &[u8]) -> Result<AuthIdentity, ServerError> {
        let token = header
            .strip_prefix(b"Bearer ")
            .or_else(|| header.strip_prefix(b"bearer "))
            .ok_or_else(|| ServerError::Unauthenticated {
                reason: "the authorization header is not `Bearer <token>`".into(),
            })?;
        let hash = blake3::hash(token.trim_ascii());
        // Every configured hash is compared (blake3::Hash's == is constant-time), so the time
        // taken says nothing about which token, or how much of one, matched.
        let mut found = None;
        for (h, identity) in &self.tokens {
            if *h == hash {
                found = Some(identity);
            }
        }
        found.cloned().ok_or_else(|| ServerError::Unauthenticated {
            reason: "unknown bearer token".into(),
        })
    }

    fn authenticate_certificate(&self, der: &[u8]) -> Result<AuthIdentity, ServerError> {
        let fingerprint: [u8; 32] = sha2::Sha256::digest(der).into();
        if let Some(identity) = self.by_fingerprint.get(&fingerprint) {
            return Ok(identity.clone());
        }
        let names = certificate_names(der).map_err(|message| ServerError::Unauthenticated {
            reason: format!("client certificate unreadable: {message}"),
        })?;
        names
            .iter()
            .find_map(|n| self.by_subject.get(n))
            .cloned()
            .ok_or_else(|| ServerError::Unauthenticated {
                reason: format!(
                    "client certificate {} (sha256 {}) is not a configured [[auth.client]]",
                    names.first().map_or("(no CN)", String::as_str),
                    hex::encode(fingerprint)
                ),
            })
    }
}

/// A certificate's subject CNs, then its DNS, URI and e-mail SANs, in that order.
pub fn certificate_names(der: &[u8]) -> Result<Vec<String>, String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let mut names: Vec<String> = cert
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_string))
        .collect();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(s) | GeneralName::URI(s) | GeneralName::RFC822Name(s) => {
                    names.push((*s).to_string());
                }
                _ => {}
            }
        }
    }
    Ok(names)
}

/// An error and its sources, `: `-separated (tonic's own Display hides the rustls reason).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn read(path: &Path) -> Result<Vec<u8>, ServerError> {
    std::fs::read(path).map_err(|source| ServerError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// `Server::builder()`, with TLS (and client certificate verification) when `[auth.tls]` is
/// set. Reads the PEM files (blocking, once, at start).
pub fn server_builder(config: &AuthConfig) -> Result<Server, ServerError> {
    let builder = Server::builder();
    let Some(tls) = &config.tls else {
        return Ok(builder);
    };
    let mut tls_config =
        ServerTlsConfig::new().identity(Identity::from_pem(read(&tls.cert)?, read(&tls.key)?));
    if let Some(ca) = &tls.client_ca {
        tls_config = tls_config
            .client_ca_root(Certificate::from_pem(read(ca)?))
            .client_auth_optional(!tls.require_client_cert);
    }
    builder
        .tls_config(tls_config)
        .map_err(|e| config_error("auth.tls", error_chain(&e)))
}

/// The tower layer that checks every call before any service sees it.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    auth: Arc<Authorizer>,
}

impl AuthLayer {
    /// Compiles `config` (see [`Authorizer::new`]) for a server listening on `listen`.
    pub fn new(config: &AuthConfig, listen: SocketAddr) -> Result<Self, ServerError> {
        Ok(Self {
            auth: Arc::new(Authorizer::new(config, listen)?),
        })
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: Arc::clone(&self.auth),
        }
    }
}

/// The service [`AuthLayer`] wraps around the router.
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<Authorizer>,
}

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = AuthFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        match self.auth.check(&req) {
            Ok(identity) => {
                if let Some(identity) = identity {
                    req.extensions_mut().insert(identity);
                }
                AuthFuture {
                    kind: Kind::Inner {
                        future: self.inner.call(req),
                    },
                }
            }
            Err(e) => {
                tracing::debug!(method = req.uri().path(), error = %e, "call refused");
                AuthFuture {
                    kind: Kind::Refused {
                        response: Some(tonic::Status::from(e).into_http()),
                        _error: std::marker::PhantomData,
                    },
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`AuthService`]: the service's own, or the refusal, ready at once.
    pub struct AuthFuture<F, E> {
        #[pin]
        kind: Kind<F, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<F, E> {
        Inner {
            #[pin]
            future: F,
        },
        Refused {
            response: Option<http::Response<tonic::body::Body>>,
            _error: std::marker::PhantomData<fn() -> E>,
        },
    }
}

impl<F, E> Future for AuthFuture<F, E>
where
    F: Future<Output = Result<http::Response<tonic::body::Body>, E>>,
{
    type Output = Result<http::Response<tonic::body::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Refused { response, .. } => match response.take() {
                Some(r) => Poll::Ready(Ok(r)),
                // Polled again after completion: a caller bug; stay pending rather than panic.
                None => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn loopback() -> SocketAddr {
        "127.0.0.1:50051".parse().unwrap()
    }

    fn parse(text: &str) -> Result<AuthConfig, String> {
        #[derive(Deserialize)]
        struct Wrapper {
            auth: AuthConfig,
        }
        toml::from_str::<Wrapper>(text)
            .map(|w| w.auth)
            .map_err(|e| e.to_string())
    }

    fn with_token(roles: &str) -> String {
        format!(
            "[auth]\nenabled = true\n[[auth.token]]\nname = \"t\"\nblake3 = \"{}\"\nroles = [{roles}]\n",
            token_hash_hex("secret")
        )
    }

    fn call(
        auth: &Authorizer,
        path: &str,
        token: Option<&str>,
    ) -> Result<Option<AuthIdentity>, ServerError> {
        let mut b = http::Request::builder().uri(format!("http://x{path}"));
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        auth.check(&b.body(()).unwrap())
    }

    #[test]
    fn auth_off_on_all_interfaces_is_refused_and_says_how_to_turn_it_on() {
        let err = AuthConfig::default()
            .validate("0.0.0.0:50051".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("enabled = true"), "{err}");
        assert!(err.contains("checkpost auth token"), "{err}");
    }

    #[test]
    fn auth_off_on_loopback_is_the_safe_default() {
        AuthConfig::default().validate(loopback()).unwrap();
        AuthConfig::default()
            .validate("[::1]:50051".parse().unwrap())
            .unwrap();
    }

    #[test]
    fn an_unknown_role_is_refused_naming_it() {
        let err = parse(&with_token("\"counter\", \"admin\"")).unwrap_err();
        assert!(err.contains("admin"), "{err}");
        assert!(err.contains("auditor"), "{err}");
    }

    #[test]
    fn a_bad_hash_is_refused_naming_the_token() {
        let text = "[auth]\nenabled = true\n[[auth.token]]\nname = \"desk-7\"\nblake3 = \"zz\"\nroles = [\"counter\"]\n";
        let err = parse(text)
            .unwrap()
            .validate(loopback())
            .unwrap_err()
            .to_string();
        assert!(err.contains("desk-7"), "{err}");
        assert!(err.contains("64 hex"), "{err}");
    }

    #[test]
    fn a_token_without_roles_is_refused() {
        let err = parse(&with_token(""))
            .unwrap()
            .validate(loopback())
            .unwrap_err()
            .to_string();
        assert!(err.contains("roles is empty"), "{err}");
    }

    #[test]
    fn auth_on_with_no_identity_is_refused() {
        let err = parse("[auth]\nenabled = true\n")
            .unwrap()
            .validate(loopback())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no [[auth.token]]"), "{err}");
    }

    #[test]
    fn a_client_identity_without_a_client_ca_is_refused() {
        let text = format!(
            "{}[[auth.client]]\nsubject = \"rev-1\"\nroles = [\"reviewer\"]\n",
            with_token("\"counter\"")
        );
        let err = parse(&text)
            .unwrap()
            .validate(loopback())
            .unwrap_err()
            .to_string();
        assert!(err.contains("client_ca"), "{err}");
    }

    #[test]
    fn a_permission_override_of_an_unknown_rpc_is_refused() {
        let text = format!(
            "{}[auth.permissions]\n\"checkpost.v1.Screening/Scren\" = [\"ops\"]\n",
            with_token("\"counter\"")
        );
        let err = parse(&text)
            .unwrap()
            .validate(loopback())
            .unwrap_err()
            .to_string();
        assert!(err.contains("Scren"), "{err}");
    }

    #[test]
    fn every_rpc_of_the_contract_is_in_the_table() {
        let known: HashSet<&str> = PERMISSIONS.iter().map(|(p, _)| *p).collect();
        for (service, methods) in [
            ("Screening", &["Screen"][..]),
            (
                "Review",
                &[
                    "ListCases",
                    "GetCase",
                    "ClaimCase",
                    "ReleaseCase",
                    "ResolveCase",
                    "WatchCases",
                ][..],
            ),
            (
                "Watchlists",
                &[
                    "UploadSnapshot",
                    "ActivateSnapshot",
                    "RollbackSnapshot",
                    "GetStatus",
                    "ApplyDelta",
                    "Reload",
                ][..],
            ),
        ] {
            for m in methods {
                let path = format!("/checkpost.v1.{service}/{m}");
                assert!(known.contains(path.as_str()), "{path} missing");
            }
        }
    }

    #[test]
    fn a_token_is_found_by_its_hash_and_its_roles_decide() {
        let auth =
            Authorizer::new(&parse(&with_token("\"counter\"")).unwrap(), loopback()).unwrap();
        let id = call(&auth, "/checkpost.v1.Screening/Screen", Some("secret"))
            .unwrap()
            .unwrap();
        assert_eq!(&*id.name, "t");
        let denied = call(&auth, "/checkpost.v1.Review/ClaimCase", Some("secret")).unwrap_err();
        assert!(
            matches!(denied, ServerError::PermissionDenied { .. }),
            "{denied}"
        );
        let unknown = call(&auth, "/checkpost.v1.Screening/Screen", Some("wrong")).unwrap_err();
        assert!(matches!(unknown, ServerError::Unauthenticated { .. }));
        assert!(!unknown.to_string().contains("wrong"));
        let none = call(&auth, "/checkpost.v1.Screening/Screen", None).unwrap_err();
        assert!(matches!(none, ServerError::Unauthenticated { .. }));
    }

    #[test]
    fn health_is_open_and_an_unknown_path_is_denied() {
        let auth = Authorizer::new(&parse(&with_token("\"ops\"")).unwrap(), loopback()).unwrap();
        assert!(
            call(&auth, "/grpc.health.v1.Health/Check", None)
                .unwrap()
                .is_none()
        );
        let err = call(&auth, "/checkpost.v1.Secret/Thing", Some("secret")).unwrap_err();
        assert!(matches!(err, ServerError::PermissionDenied { .. }), "{err}");
    }

    #[test]
    fn certificate_names_are_the_cn_then_the_sans() {
        let mut params = rcgen::CertificateParams::new(vec!["rev-1.isb".to_string()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Reviewer One");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let names = certificate_names(cert.der()).unwrap();
        assert_eq!(
            names,
            vec!["Reviewer One".to_string(), "rev-1.isb".to_string()]
        );
    }

    #[test]
    fn a_certificate_maps_to_roles_by_fingerprint_or_subject() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["ops-1.isb".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let fp = certificate_fingerprint(cert.der());
        let mut config = parse(&with_token("\"counter\"")).unwrap();
        config.tls = Some(TlsConfig {
            cert: "s.pem".into(),
            key: "s.key".into(),
            client_ca: Some("ca.pem".into()),
            require_client_cert: false,
        });
        config.clients.push(ClientConfig {
            name: None,
            subject: Some("ops-1.isb".into()),
            fingerprint: None,
            roles: vec![Role::Ops],
        });
        let auth = Authorizer::new(&config, loopback()).unwrap();
        let id = auth.authenticate_certificate(cert.der()).unwrap();
        assert_eq!(
            (&*id.name, id.roles),
            ("ops-1.isb", Roles::of(&[Role::Ops]))
        );

        config.clients[0].subject = None;
        config.clients[0].fingerprint = Some(fp);
        config.clients[0].roles = vec![Role::Auditor];
        let auth = Authorizer::new(&config, loopback()).unwrap();
        let id = auth.authenticate_certificate(cert.der()).unwrap();
        assert_eq!(id.roles, Roles::of(&[Role::Auditor]));
    }

    #[tokio::test]
    async fn the_layer_puts_the_identity_in_the_extensions_and_refuses_before_the_service() {
        use tower::{Layer as _, ServiceExt as _};
        let layer =
            AuthLayer::new(&parse(&with_token("\"counter\"")).unwrap(), loopback()).unwrap();
        let svc = layer.layer(tower::service_fn(|req: http::Request<()>| async move {
            let name = req
                .extensions()
                .get::<AuthIdentity>()
                .map_or("none".to_string(), |id| id.name.to_string());
            let mut res = http::Response::new(tonic::body::Body::default());
            res.headers_mut()
                .insert("x-identity", http::HeaderValue::from_str(&name).unwrap());
            Ok::<_, std::convert::Infallible>(res)
        }));
        let req = |token: &str| {
            http::Request::builder()
                .uri("http://x/checkpost.v1.Screening/Screen")
                .header("authorization", format!("Bearer {token}"))
                .body(())
                .unwrap()
        };
        let ok = svc.clone().oneshot(req("secret")).await.unwrap();
        assert_eq!(ok.headers()["x-identity"], "t");
        let refused = svc.oneshot(req("wrong")).await.unwrap();
        assert!(refused.headers().get("x-identity").is_none());
        assert_eq!(refused.headers()["grpc-status"], "16");
    }

    #[test]
    fn generated_tokens_are_unique_and_their_hash_is_what_the_config_holds() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a.token, b.token);
        assert_eq!(a.hash_hex, token_hash_hex(&a.token));
        assert_eq!(a.hash_hex.len(), 64);
    }
}
