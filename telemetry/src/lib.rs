//! Prometheus metrics every chainx job shares.
//!
//! Each job builds one [`Registry`](prometheus_client::registry::Registry), registers its own
//! families (the clock's, the sink's, ...) plus [`ProcessMetrics`] and, when it calls a node,
//! [`ProviderMetrics`], then [`serve`]s it on `--metrics-addr`. Names follow Prometheus rules:
//! the `chainx_` prefix, base units (seconds, bytes), `_total` on counters (prometheus-client
//! appends it). Labels carry key pseudo-names only, never a secret or a URL.

mod lake;
mod process;
pub mod provider;
mod serve;

pub use lake::LakeMetrics;
pub use process::ProcessMetrics;
pub use provider::{KeyLabel, ProviderMetrics, RequestLabel};
pub use serve::serve;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot serve metrics on {addr}: {source}; pick a free HOST:PORT for --metrics-addr")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

/// The value of series `name` whose labels include every `(label, value)` of `labels`, summed
/// over the series that match, read from a text exposition. `None` when none matches. For
/// tests and tools that check what a job exposes.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut total = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else { continue };
        let (series_labels, value) = match rest.strip_prefix('{') {
            Some(r) => match r.split_once("} ") {
                Some((l, v)) => (l, v),
                None => continue,
            },
            None => match rest.strip_prefix(' ') {
                Some(v) => ("", v),
                None => continue,
            },
        };
        if labels
            .iter()
            .all(|(k, v)| series_labels.contains(&format!("{k}=\"{v}\"")))
        {
            let v: f64 = value.split_whitespace().next()?.parse().ok()?;
            *total.get_or_insert(0.0) += v;
        }
    }
    total
}
