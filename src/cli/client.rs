//! How every gRPC-speaking subcommand reaches a server: the address, the bearer token and the
//! TLS files, parsed once ([`ClientArgs`]) and turned into a connected channel that carries the
//! token on every call ([`ClientArgs::connect`]).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// A channel to the server that adds the bearer token (if any) to every call. Wrap it in any
/// generated client: `ScreeningClient::new(channel)`.
pub type AuthChannel = InterceptedService<Channel, Bearer>;

/// Connection flags shared by `screen`, `cases`, `loadgen` and `watchlists`
/// (`#[command(flatten)]`).
#[derive(clap::Args, Debug, Clone)]
pub struct ClientArgs {
    /// Server URL, e.g. http://127.0.0.1:50051, or https://… when the server has TLS.
    #[arg(
        long,
        env = "CHECKPOST_SERVER",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub server: String,
    /// Bearer token (from `checkpost auth token`). Prefer the environment variable: a flag is
    /// visible to every user of the machine in `ps`.
    #[arg(long, env = "CHECKPOST_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// CA certificate (PEM) the server's certificate must chain to. Needed for https://.
    #[arg(long, global = true)]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS; needs --key.
    #[arg(long, requires = "key", global = true)]
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (PEM); needs --cert.
    #[arg(long, requires = "cert", global = true)]
    pub key: Option<PathBuf>,
}

impl Default for ClientArgs {
    fn default() -> Self {
        Self {
            server: "http://127.0.0.1:50051".into(),
            token: None,
            ca: None,
            cert: None,
            key: None,
        }
    }
}

/// Adds `authorization: Bearer <token>` to every call. The value is marked sensitive, so it is
/// never printed by tonic's or hyper's debug output.
#[derive(Clone, Debug, Default)]
pub struct Bearer {
    value: Option<AsciiMetadataValue>,
}

impl Bearer {
    /// An interceptor for `token`; `None` sends calls without credentials.
    pub fn new(token: Option<&str>) -> anyhow::Result<Self> {
        let value = match token.map(str::trim).filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => {
                // The error would echo the token's text; say only what is wrong.
                let mut v: AsciiMetadataValue = MetadataValue::try_from(format!("Bearer {t}"))
                    .map_err(|_| {
                        anyhow::anyhow!("the token contains characters a header cannot carry")
                    })?;
                v.set_sensitive(true);
                Some(v)
            }
        };
        Ok(Self { value })
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.value {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {what} {}", path.display()))
}

impl ClientArgs {
    /// The endpoint for `--server`, with TLS (server CA, client identity) when asked for.
    /// Not connected yet: `loadgen` opens several connections from one endpoint.
    pub fn endpoint(&self) -> anyhow::Result<Endpoint> {
        let endpoint = Endpoint::from_shared(self.server.clone())
            .with_context(|| format!("server URL {}", self.server))?;
        let https = self.server.starts_with("https://");
        let wants_tls = self.ca.is_some() || self.cert.is_some();
        if !https {
            if wants_tls {
                bail!(
                    "--ca/--cert need an https:// server URL, not {}",
                    self.server
                );
            }
            return Ok(endpoint);
        }
        let Some(ca) = &self.ca else {
            bail!("an https:// server needs --ca (the CA certificate that signed the server's)");
        };
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(ca, "CA certificate")?));
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            tls = tls.identity(Identity::from_pem(
                read(cert, "client certificate")?,
                read(key, "client key")?,
            ));
        }
        endpoint
            .tls_config(tls)
            .with_context(|| format!("TLS for {}", self.server))
    }

    /// The interceptor that adds `--token` to every call.
    pub fn bearer(&self) -> anyhow::Result<Bearer> {
        Bearer::new(self.token.as_deref())
    }

    /// Connects to `--server` and returns a channel that carries the token on every call.
    pub async fn connect(&self) -> anyhow::Result<AuthChannel> {
        let bearer = self.bearer()?;
        let channel = self
            .endpoint()?
            .connect()
            .await
            .with_context(|| format!("connecting to {}", self.server))?;
        Ok(InterceptedService::new(channel, bearer))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_header_carries_the_token_and_is_sensitive() {
        let mut b = Bearer::new(Some("cpt_abc")).unwrap();
        let req = b.call(tonic::Request::new(())).unwrap();
        let v = req.metadata().get("authorization").unwrap();
        assert_eq!(v.to_str().unwrap(), "Bearer cpt_abc");
        assert!(v.is_sensitive());
    }

    #[test]
    fn no_token_sends_no_header() {
        let mut b = Bearer::new(None).unwrap();
        let req = b.call(tonic::Request::new(())).unwrap();
        assert!(req.metadata().get("authorization").is_none());
    }

    #[test]
    fn a_token_with_a_newline_is_refused_without_echoing_it() {
        let err = Bearer::new(Some("secret\nvalue")).unwrap_err().to_string();
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn tls_files_with_a_plain_http_url_are_refused() {
        let args = ClientArgs {
            ca: Some("ca.pem".into()),
            ..ClientArgs::default()
        };
        assert!(args.endpoint().unwrap_err().to_string().contains("https"));
    }

    #[test]
    fn https_without_a_ca_is_refused() {
        let args = ClientArgs {
            server: "https://127.0.0.1:50051".into(),
            ..ClientArgs::default()
        };
        assert!(args.endpoint().unwrap_err().to_string().contains("--ca"));
    }
}
