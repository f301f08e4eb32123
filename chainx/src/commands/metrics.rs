//! Every job's `/metrics`: a registry with the process metrics, the job's own families and,
//! for jobs that call a node, the provider and key-scheduler families; served on
//! `--metrics-addr` once everything is registered.

use std::sync::Arc;
use std::time::Duration;

use chainx_keys::KeyPool;
use chainx_telemetry::{ProcessMetrics, ProviderMetrics};
use prometheus_client::registry::Registry;

/// How often shared key pools' budgets are read back from Redis for the gauges.
const BUDGET_EVERY: Duration = Duration::from_secs(15);

/// A registry that already holds the process metrics.
pub fn registry() -> Registry {
    let mut registry = Registry::default();
    ProcessMetrics::register(&mut registry);
    registry
}

/// Serves `registry` on `addr`, if one is given; registration must be complete.
pub async fn serve(addr: Option<String>, registry: Registry) -> anyhow::Result<()> {
    if let Some(addr) = addr {
        let bound = chainx_telemetry::serve(&addr, Arc::new(registry)).await?;
        tracing::info!("metrics on http://{bound}/metrics");
    }
    Ok(())
}

/// [`serve`] for one-off jobs: a port already taken (two backfills on one Airflow worker) is
/// reported, and the job goes on without metrics rather than failing.
pub async fn serve_or_warn(addr: Option<String>, registry: Registry) {
    if let Err(e) = serve(addr, registry).await {
        tracing::warn!("{e:#}; running without metrics");
    }
}

/// Keeps the budget-left gauges current while the job runs (stops when dropped).
#[derive(Debug)]
pub struct BudgetWatch(Option<tokio::task::JoinHandle<()>>);

impl Drop for BudgetWatch {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

pub fn watch_budgets(pool: Option<Arc<KeyPool>>, metrics: Option<&ProviderMetrics>) -> BudgetWatch {
    let (Some(pool), Some(_)) = (pool, metrics) else {
        return BudgetWatch(None);
    };
    BudgetWatch(Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(BUDGET_EVERY);
        loop {
            tick.tick().await;
            if let Err(e) = pool.report_budgets().await {
                tracing::warn!("could not read key usage for the budget metrics: {e}");
            }
        }
    })))
}
