//! A real HTTP/1.1 JSON-RPC server on 127.0.0.1 whose answers a test decides. Used to serve
//! recorded mainnet replies, and as a fault-injecting proxy in front of anvil.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the server answers to one HTTP request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with this JSON body.
    Json(Value),
    /// This status with this body.
    Status(u16, String),
    /// 200 with exactly these bytes (e.g. a truncated JSON document).
    Raw(String),
    /// Close the connection without answering (a reset, as a crashing proxy does).
    Hangup,
    /// Never answer (an overloaded node): the client's timeout must fire.
    Stall,
}

/// Answers a request from its path and JSON body.
pub type Handler = Arc<dyn Fn(String, Value) -> Pin<Box<dyn Future<Output = Reply> + Send>> + Send + Sync>;

/// Wraps an async closure of the request body as a [`Handler`].
pub fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    Arc::new(move |_path, v| Box::pin(f(v)))
}

/// Wraps an async closure of the request path and body as a [`Handler`].
pub fn path_handler<F, Fut>(f: F) -> Handler
where
    F: Fn(String, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    Arc::new(move |path, v| Box::pin(f(path, v)))
}

#[derive(Debug)]
pub struct RpcServer {
    pub url: String,
    /// HTTP requests received.
    pub requests: Arc<AtomicU64>,
    /// JSON-RPC calls received (a batch counts each of its calls).
    pub calls: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RpcServer {
    pub async fn start(handler: Handler) -> RpcServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicU64::new(0));
        let calls = Arc::new(AtomicU64::new(0));
        let (r, c) = (requests.clone(), calls.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, handler.clone(), r.clone(), c.clone()));
            }
        });
        RpcServer {
            url,
            requests,
            calls,
            task,
        }
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for RpcServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(stream: TcpStream, handler: Handler, requests: Arc<AtomicU64>, calls: Arc<AtomicU64>) {
    let mut stream = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut path = String::new();
        let mut line = String::new();
        // Request line and headers; keep-alive connections loop here.
        loop {
            line.clear();
            match stream.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if path.is_empty() {
                // The request line: `POST /v3/KEY HTTP/1.1`.
                path = l.split_whitespace().nth(1).unwrap_or("/").to_string();
                continue;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        requests.fetch_add(1, Ordering::SeqCst);
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        calls.fetch_add(request.as_array().map_or(1, |a| a.len() as u64), Ordering::SeqCst);
        let (status, body) = match handler(std::mem::take(&mut path), request).await {
            Reply::Json(v) => (200, v.to_string()),
            Reply::Status(s, b) => (s, b),
            Reply::Raw(b) => (200, b),
            Reply::Hangup => return,
            Reply::Stall => std::future::pending().await,
        };
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let w = stream.get_mut();
        if w.write_all(head.as_bytes()).await.is_err() || w.write_all(body.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Forwards a request to `upstream` and returns its reply (used by fault-injecting proxies).
pub async fn forward(client: &reqwest::Client, upstream: &str, request: &Value) -> Reply {
    match client.post(upstream).json(request).send().await {
        Ok(resp) => match resp.json::<Value>().await {
            Ok(v) => Reply::Json(v),
            Err(e) => Reply::Status(502, e.to_string()),
        },
        Err(e) => Reply::Status(502, e.to_string()),
    }
}
