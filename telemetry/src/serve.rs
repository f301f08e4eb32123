//! The `/metrics` endpoint: a small HTTP/1.1 server, one scrape per connection.

use std::sync::Arc;

use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::{Error, Result};

/// Serves `registry` on `addr` until the process ends. Binding failures are reported at once.
pub async fn serve(addr: &str, registry: Arc<Registry>) -> Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(addr).await.map_err(|source| Error::Bind {
        addr: addr.to_string(),
        source,
    })?;
    let local = listener.local_addr().map_err(|source| Error::Bind {
        addr: addr.to_string(),
        source,
    })?;
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                continue;
            };
            let registry = registry.clone();
            tokio::spawn(async move {
                // One request per connection: read its head, answer, close.
                let mut buf = vec![0u8; 4096];
                let mut got = 0;
                while got < buf.len() {
                    match socket.read(&mut buf[got..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got += n,
                    }
                    if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let mut body = String::new();
                let status = match prometheus_client::encoding::text::encode(&mut body, &registry) {
                    Ok(()) => "200 OK",
                    Err(_) => "500 Internal Server Error",
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    Ok(local)
}
