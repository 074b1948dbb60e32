//! Which HTTP proxy a request to the DCS goes through (SPEC §7), as curl decides it:
//! `--proxy URL`, else `https_proxy` for an `https:` DCS and `http_proxy` for an `http:` one
//! (upper-case forms too), else `all_proxy`; `no_proxy` names the hosts reached directly. How a
//! request goes through it is `fire::tunnel`'s business.

use std::net::IpAddr;

use anyhow::{bail, Result};
use base64::Engine;
use hyper::header::HeaderValue;
use hyper::Uri;

/// One proxy: where it is, how to sign in to it, and how to name it (password masked).
#[derive(Debug, Clone)]
pub struct Proxy {
    /// `http://host:port`, without its user and password.
    pub address: Uri,
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
