//! `chainx`: one binary, a subcommand per job. Each subcommand module only wires the library
//! crates together; configuration resolves as flags > environment > TOML file > defaults.

mod chains;
mod cli;
mod commands;
mod config;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc, not glibc's malloc: row-at-a-time jobs (the sink above all) allocate and free
/// small strings at a high rate, and glibc's allocator with its page faults was a fifth of
/// the sink's time. Its v2 line (the `v2` feature), not v3: v3 returns freed memory to the OS
/// after 1 s rather than 10 ms, and a sink at the head then held 295 MB after six simulated
/// hours where v2 holds 153 MB, at the same rows/s (testkit's `simulated_day`,
/// `sink_throughput`). The backfill pays about 10% of its speed for it.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // Logs go to stderr so that stdout carries only results (the summary line, `lake show`).
    // Our crates at info; dependencies (the Delta kernel logs every snapshot) only at warn.
    // delta-rs's commit loop is off: with several writers a lost commit race is routine, and
    // chainx's own protocol (chainx_tables::commit) retries it; a real failure comes back as
    // an error.
    let filter = EnvFilter::try_from_env("CHAINX_LOG").unwrap_or_else(|_| {
        EnvFilter::new(
            "warn,chainx=info,chainx_batch=info,chainx_evm=info,chainx_tables=info,chainx_fast=info,\
             chainx_sinks=info,chainx_keys=info,deltalake_core::kernel::transaction=off",
        )
    });
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter)
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole cause chain on one line.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
