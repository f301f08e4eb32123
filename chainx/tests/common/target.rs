//! Where a test's lake lives (a local folder, HDFS or S3), and how the tests read it back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use chainx_tables::arrow::array::RecordBatch;
use chainx_tables::{read, Lake, LakeTable, TableKind};

use super::{strings, third_party_view};

/// Where a test's lake lives, and what the `chainx` jobs need to reach it.
pub struct Target {
    pub location: String,
    /// Storage options, given to the jobs through `--config` (`[lake.storage]`).
    pub options: Vec<(String, String)>,
    config: Option<tempfile::NamedTempFile>,
    /// A secret that must never show in a job's output.
    secret: Option<String>,
}

impl Target {
    pub fn new(location: String, options: Vec<(String, String)>, secret: Option<String>) -> Target {
        let config = (!options.is_empty()).then(|| {
            let mut toml = String::from("[lake.storage]\n");
            for (k, v) in &options {
                toml.push_str(&format!("{k} = \"{v}\"\n"));
            }
            let f = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(f.path(), toml).unwrap();
            f
        });
        Target {
            location,
            options,
            config,
            secret,
        }
    }

    /// `args` plus `--lake` (and `--config` when the store needs options).
    pub fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut out = args.to_vec();
        out.extend(["--lake", self.location.as_str()]);
        if let Some(c) = &self.config {
            out.extend(["--config", c.path().to_str().unwrap()]);
        }
        out
    }

    pub fn lake(&self) -> Lake {
        Lake::parse(&self.location).unwrap().with_options(self.options.clone())
    }

    /// delta-rs and a plain Hive reader (DuckDB or pyarrow) see the rows chainx reads. No Python
    /// HDFS client runs here (pyarrow's needs libhdfs), so HDFS lakes are read by
    /// [`read::listed_rows`] only.
    pub fn check_third_party(&self, blocks: &[RecordBatch], txs: &[RecordBatch]) {
        if self.location.starts_with("hdfs://") {
            return;
        }
        let view = third_party_view(&self.location, &self.options);
        for (table, batches) in [("blocks", blocks), ("transactions", txs)] {
            let mut ours = strings(batches, "hash");
            ours.sort();
            let delta: Vec<String> = serde_json::from_value(view[table]["delta"].clone()).unwrap();
            let hive: Vec<String> = serde_json::from_value(view[table]["hive"].clone()).unwrap();
            assert_eq!(delta, ours, "{table}: delta-rs reads other rows than chainx");
            assert_eq!(hive, ours, "{table}: the plain Hive view differs from Delta");
        }
    }

    pub fn check_secret(&self, job: &str, output: &str) {
        if let Some(secret) = &self.secret {
            assert!(
                !output.contains(secret.as_str()),
                "{job} printed the S3 secret:\n{output}"
            );
        }
    }
}

/// Rows of a table by Delta, checked equal to what a plain Hive reader listing the folders sees.
pub async fn rows(target: &Target, kind: TableKind) -> Vec<RecordBatch> {
    let table = LakeTable::open(&target.lake(), kind).await.unwrap();
    let delta = read::delta_rows(&table).await.unwrap();
    let hive = read::listed_rows(&table).await.unwrap();
    let count = |bs: &[RecordBatch]| bs.iter().map(|b| b.num_rows()).sum::<usize>();
    assert_eq!(count(&delta), count(&hive), "{}: Delta and Hive disagree", kind.name());
    // Transactions and blocks by their hash; the log tables by their transaction's.
    let key = if kind.schema().field_with_name("hash").is_ok() {
        "hash"
    } else {
        "transaction_hash"
    };
    let mut d = strings(&delta, key);
    let mut h = strings(&hive, key);
    d.sort();
    h.sort();
    assert_eq!(d, h, "{}: Delta and Hive disagree", kind.name());
    delta
}
