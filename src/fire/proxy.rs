//! Firing through an HTTP proxy (SPEC §7), as curl does it: `--proxy URL`, else `https_proxy`
//! for an `https:` DCS and `http_proxy` for an `http:` one (upper-case forms too), else
//! `all_proxy`; `no_proxy` names the hosts reached directly. A plain-HTTP tag goes to the proxy
//! in absolute form; an `https:` one through a CONNECT tunnel, with TLS to the DCS inside it.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::{bail, Result};
use base64::Engine;
use hyper::header::HeaderValue;
use hyper::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_service::Service;

/// One proxy: where it is, how to sign in to it, and how to name it (password masked).
#[derive(Debug, Clone)]
pub struct Proxy {
    /// `http://host:port`, without its user and password.
    address: Uri,
    /// `Basic …`, when the URL has a user.
    pub authorization: Option<HeaderValue>,
    /// The URL as shown: `http://user:****@host:port`.
    pub shown: String,
}

impl Proxy {
    /// A proxy URL as curl reads it: `http://` may be left out; only HTTP proxies are spoken to.
    pub fn parse(text: &str) -> Result<Proxy> {
        let text = text.trim();
        let with_scheme = if text.contains("://") { text.to_owned() } else { format!("http://{text}") };
        let url = url::Url::parse(&with_scheme).map_err(|error| {
            anyhow::anyhow!(
                "the proxy {:?} is not a URL ({error}); give one like http://proxy.example:3128",
                mask(text)
            )
        })?;
        if url.scheme() != "http" {
            bail!(
                "the proxy {} is a {}: proxy; only http:// proxies are supported (an https:// DCS is reached through them by a CONNECT tunnel)",
                mask(text),
                url.scheme()
            );
        }
        let Some(host) = url.host_str() else { bail!("the proxy {} has no host", mask(text)) };
        let port = url.port().unwrap_or(1080);
        let address: Uri = format!("http://{host}:{port}")
            .parse()
            .map_err(|_| anyhow::anyhow!("the proxy {} has a host an HTTP request cannot carry", mask(text)))?;
        let decode = |part: &str| percent_encoding::percent_decode_str(part).decode_utf8_lossy().into_owned();
        let authorization = (!url.username().is_empty()).then(|| {
            let pair = format!("{}:{}", decode(url.username()), decode(url.password().unwrap_or_default()));
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            HeaderValue::from_str(&format!("Basic {encoded}")).expect("base64 is a valid header value")
        });
        let user = if url.username().is_empty() {
            String::new()
        } else if url.password().is_some() {
            format!("{}:****@", url.username())
        } else {
            format!("{}@", url.username())
        };
        Ok(Proxy { address, authorization, shown: format!("http://{user}{host}:{port}") })
    }
}

/// `scheme://user:password@host…` with the password masked, for messages about a URL that did
/// not parse.
fn mask(text: &str) -> String {
    let Some((before, after)) = text.rsplit_once('@') else { return text.to_owned() };
    match before.rsplit_once(':') {
        Some((user, _)) if !user.ends_with('/') => format!("{user}:****@{after}"),
        _ => format!("{before}@{after}"),
    }
}

/// Which proxy, if any, each DCS URL goes through.
#[derive(Debug, Clone, Default)]
pub struct Proxies {
    /// `--proxy`: every scheme.
    explicit: Option<Proxy>,
    http: Option<Proxy>,
    https: Option<Proxy>,
    no_proxy: NoProxy,
}

impl Proxies {
    /// From `--proxy` (when given) and this process's environment.
    pub fn new(explicit: Option<&str>) -> Result<Proxies> {
        Proxies::from_lookup(explicit, |name| std::env::var(name).ok())
    }

    /// `lookup` reads a variable: the lower-case form first, as curl does.
    pub fn from_lookup(explicit: Option<&str>, lookup: impl Fn(&str) -> Option<String>) -> Result<Proxies> {
        let variable = |name: &str| {
            [name.to_ascii_lowercase(), name.to_ascii_uppercase()]
                .into_iter()
                .find_map(|name| lookup(&name).filter(|value| !value.trim().is_empty()).map(|value| (name, value)))
        };
        let proxy = |name: &str| -> Result<Option<Proxy>> {
            match variable(name) {
                Some((name, value)) => {
                    Proxy::parse(&value).map(Some).map_err(|error| anyhow::anyhow!("{name}: {error:#}"))
                }
                None => Ok(None),
            }
        };
        let all = proxy("all_proxy")?;
        Ok(Proxies {
            explicit: explicit.map(Proxy::parse).transpose().map_err(|error| anyhow::anyhow!("--proxy: {error:#}"))?,
            http: proxy("http_proxy")?.or_else(|| all.clone()),
            https: proxy("https_proxy")?.or(all),
            no_proxy: NoProxy::parse(&variable("no_proxy").map(|(_, value)| value).unwrap_or_default()),
        })
    }

    /// The proxy for `uri`, or `None` to go directly.
    pub fn for_uri(&self, uri: &Uri) -> Option<&Proxy> {
        let chosen = match &self.explicit {
            Some(proxy) => Some(proxy),
            None if uri.scheme_str() == Some("https") => self.https.as_ref(),
            None => self.http.as_ref(),
        }?;
        let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
        (!self.no_proxy.matches(host)).then_some(chosen)
    }

    /// How the summary names the proxy used for `url`, password masked.
    pub fn shown_for(&self, url: &str) -> Option<String> {
        let uri: Uri = url.parse().ok()?;
        self.for_uri(&uri).map(|proxy| proxy.shown.clone())
    }
}

/// `no_proxy`: `*`, host names (matching the name and its subdomains, with or without a leading
/// dot), IP addresses and CIDR ranges, separated by commas or spaces.
#[derive(Debug, Clone, Default)]
struct NoProxy {
    everything: bool,
    names: Vec<String>,
    networks: Vec<(IpAddr, u8)>,
}

impl NoProxy {
    fn parse(text: &str) -> NoProxy {
        let mut no_proxy = NoProxy::default();
        for entry in text.split([',', ' ']).map(str::trim).filter(|entry| !entry.is_empty()) {
            if entry == "*" {
                no_proxy.everything = true;
                continue;
            }
            let entry = entry.trim_start_matches('[');
            let (address, bits) = match entry.split_once('/') {
                Some((address, bits)) => (address, bits.parse::<u8>().ok()),
                None => (entry.trim_end_matches(']'), None),
            };
            match address.parse::<IpAddr>() {
                Ok(ip) => {
                    let full = if ip.is_ipv4() { 32 } else { 128 };
                    no_proxy.networks.push((ip, bits.unwrap_or(full).min(full)));
                }
                Err(_) => {
                    // A port on a name is ignored, as curl ignores it.
                    let name = entry.rsplit_once(':').map_or(entry, |(name, _)| name);
                    no_proxy.names.push(name.trim_start_matches('.').to_ascii_lowercase());
                }
            }
        }
        no_proxy
    }

    fn matches(&self, host: &str) -> bool {
        if self.everything {
            return true;
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.networks.iter().any(|&(network, bits)| in_network(ip, network, bits));
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.names
            .iter()
            .any(|name| host == *name || host.strip_suffix(name.as_str()).is_some_and(|rest| rest.ends_with('.')))
    }
}

fn in_network(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(network) & mask
        }
        _ => false,
    }
}

/// Makes the TCP connection of a request: to the DCS, or to its proxy (through a CONNECT
/// tunnel for `https:`, so that TLS, made on top by hyper-rustls, runs end to end to the DCS).
#[derive(Clone)]
pub struct ProxyConnector {
    direct: HttpConnector,
    proxies: Arc<Proxies>,
}

impl ProxyConnector {
    pub fn new(direct: HttpConnector, proxies: Arc<Proxies>) -> ProxyConnector {
        ProxyConnector { direct, proxies }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Service<Uri> for ProxyConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.direct.poll_ready(context).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut direct = self.direct.clone();
        let proxy = self.proxies.for_uri(&uri).cloned();
        Box::pin(async move {
            let Some(proxy) = proxy else { return direct.call(uri).await.map_err(Into::into) };
            let stream = direct.call(proxy.address.clone()).await.map_err(|error| -> BoxError {
                format!("cannot connect to the proxy {} ({error})", proxy.shown).into()
            })?;
            if uri.scheme_str() != Some("https") {
                return Ok(stream);
            }
            let host = uri.host().ok_or("a URL without a host")?;
            let port = uri.port_u16().unwrap_or(443);
            tunnel(stream.into_inner(), host, port, &proxy).await.map(TokioIo::new)
        })
    }
}

/// The longest answer to CONNECT read: a proxy's error page is cut here.
const MAX_CONNECT_ANSWER: usize = 16 * 1024;

/// `CONNECT host:port` on the proxy's connection; the stream, once the proxy says 2xx.
async fn tunnel(mut stream: TcpStream, host: &str, port: u16, proxy: &Proxy) -> Result<TcpStream, BoxError> {
    let mut request = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n");
    if let Some(authorization) = &proxy.authorization {
        request.push_str(&format!("Proxy-Authorization: {}\r\n", authorization.to_str().unwrap_or_default()));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::with_capacity(512);
    let mut buffer = [0u8; 512];
    while !answer.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await?;
        if read == 0 || answer.len() > MAX_CONNECT_ANSWER {
            return Err(format!("the proxy {} closed the tunnel to {host}:{port} before answering", proxy.shown).into());
        }
        answer.extend_from_slice(&buffer[..read]);
    }
    let status_line = String::from_utf8_lossy(&answer);
    let status_line = status_line.lines().next().unwrap_or_default();
    let status = status_line.split_whitespace().nth(1).and_then(|code| code.parse::<u16>().ok()).unwrap_or(0);
    if !(200..300).contains(&status) {
        return Err(
            format!("the proxy {} refused the tunnel to {host}:{port}: {}", proxy.shown, status_line.trim()).into()
        );
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(explicit: Option<&str>, variables: &[(&str, &str)]) -> Proxies {
        let variables: Vec<(String, String)> = variables.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Proxies::from_lookup(explicit, |name| variables.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .unwrap()
    }

    fn via(proxies: &Proxies, url: &str) -> Option<String> {
        proxies.shown_for(url)
    }

    #[test]
    fn the_variables_are_read_as_curl_reads_them() {
        let set = proxies(None, &[("HTTP_PROXY", "http://p1:3128"), ("https_proxy", "p2:8080")]);
        assert_eq!(via(&set, "http://dcs.example/tag").as_deref(), Some("http://p1:3128"));
        assert_eq!(via(&set, "https://dcs.example/tag").as_deref(), Some("http://p2:8080"));
        let lower_first = proxies(None, &[("http_proxy", "http://lower:1"), ("HTTP_PROXY", "http://upper:2")]);
        assert_eq!(via(&lower_first, "http://dcs/tag").as_deref(), Some("http://lower:1"));
        let all = proxies(None, &[("ALL_PROXY", "http://all:9")]);
        assert_eq!(via(&all, "https://dcs/tag").as_deref(), Some("http://all:9"));
        assert_eq!(via(&proxies(None, &[]), "http://dcs/tag"), None);
        let explicit = proxies(Some("http://mine:1"), &[("HTTP_PROXY", "http://env:2")]);
        assert_eq!(via(&explicit, "http://dcs/tag").as_deref(), Some("http://mine:1"));
    }

    #[test]
    fn no_proxy_names_domains_addresses_and_ranges() {
        let set = proxies(
            None,
            &[
                ("HTTP_PROXY", "http://p:1"),
                ("NO_PROXY", "example.com, .internal,127.0.0.1,10.0.0.0/8,[::1],other:8080"),
            ],
        );
        for direct in [
            "http://example.com/t",
            "http://a.example.com/t",
            "http://x.internal/t",
            "http://127.0.0.1:9/t",
            "http://10.2.3.4/t",
            "http://[::1]:8/t",
            "http://other/t",
        ] {
            assert_eq!(via(&set, direct), None, "{direct}");
        }
        for proxied in ["http://notexample.com/t", "http://127.0.0.2/t", "http://11.0.0.1/t", "http://example.org/t"] {
            assert!(via(&set, proxied).is_some(), "{proxied}");
        }
        let everything = proxies(None, &[("HTTP_PROXY", "http://p:1"), ("no_proxy", "*")]);
        assert_eq!(via(&everything, "http://dcs/t"), None);
    }

    #[test]
    fn a_password_is_masked_and_sent_as_basic_authorization() {
        let proxy = Proxy::parse("http://alice:s%40cret@proxy.example:3128").unwrap();
        assert_eq!(proxy.shown, "http://alice:****@proxy.example:3128");
        let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("alice:s@cret"));
        assert_eq!(proxy.authorization.unwrap().to_str().unwrap(), expected);
        let error = Proxy::parse("socks5://bob:pw@p:1").unwrap_err().to_string();
        assert!(error.contains("only http://") && !error.contains("pw"), "{error}");
    }
}
