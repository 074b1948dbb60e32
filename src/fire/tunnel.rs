//! Firing through an HTTP proxy: a plain-HTTP tag goes to the proxy, which the request names in
//! absolute form; an `https:` one through a CONNECT tunnel, with TLS to the DCS inside it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_service::Service;

use crate::proxy::{Proxies, Proxy};

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
