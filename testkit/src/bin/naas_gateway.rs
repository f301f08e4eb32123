//! The test NaaS gateway as a process, for `make bench`:
//!
//!     naas-gateway UPSTREAM_URL SECRET:RPS:DAILY...
//!
//! Prints its base URL (keys go in `/v3/<secret>`), then serves until killed. `POST /stats`
//! answers calls served, 429s and the peak calls in one second, per key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;

use chainx_testkit::gateway::{Gateway, Limits};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let upstream = args.next().expect("usage: naas-gateway UPSTREAM SECRET:RPS:DAILY...");
    let keys = args
        .map(|spec| {
            let mut parts = spec.split(':');
            let secret = parts.next().unwrap().to_string();
            let rps = parts.next().expect("SECRET:RPS:DAILY").parse().unwrap();
            let daily = parts.next().expect("SECRET:RPS:DAILY").parse().unwrap();
            (secret, Limits { rps, daily })
        })
        .collect();
    let gateway = Gateway::start(&upstream, keys).await;
    println!("{}", gateway.server.url);
    std::io::stdout().flush().unwrap();
    std::future::pending::<()>().await;
}
