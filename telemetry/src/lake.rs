//! Lake landing, per table: the same families for the sink and for backfill (Prometheus's
//! `job` label tells them apart).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabel {
    pub table: String,
}

/// Rows landed, commit latency and live files per lake table. Clones share the values.
#[derive(Debug, Clone)]
pub struct LakeMetrics {
    rows_landed: Family<TableLabel, Counter>,
    commit_seconds: Family<TableLabel, Histogram>,
    live_files: Family<TableLabel, Gauge>,
}

impl LakeMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = LakeMetrics {
            rows_landed: Family::default(),
            commit_seconds: Family::new_with_constructor(|| {
                Histogram::new([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
            }),
            live_files: Family::default(),
        };
        registry.register(
            "chainx_lake_rows_landed",
            "Rows committed to the lake table by this job",
            m.rows_landed.clone(),
        );
        registry.register(
            "chainx_lake_commit_seconds",
            "Seconds to write and commit one Delta version of the table",
            m.commit_seconds.clone(),
        );
        registry.register(
            "chainx_lake_live_files",
            "Parquet files the table's current Delta version reads",
            m.live_files.clone(),
        );
        m
    }

    /// One commit of `rows` rows to `table` that took `took`.
    pub fn committed(&self, table: &str, rows: u64, took: Duration) {
        let label = label(table);
        self.rows_landed.get_or_create(&label).inc_by(rows);
        self.commit_seconds.get_or_create(&label).observe(took.as_secs_f64());
    }

    pub fn live_files(&self, table: &str, files: usize) {
        self.live_files.get_or_create(&label(table)).set(files as i64);
    }
}

fn label(table: &str) -> TableLabel {
    TableLabel {
        table: table.to_string(),
    }
}
