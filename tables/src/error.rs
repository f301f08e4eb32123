#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("lake location `{location}` is not usable: {reason}")]
    BadLocation { location: String, reason: String },

    #[error("lake table `{table}`: {source}")]
    Delta {
        table: String,
        #[source]
        source: deltalake::DeltaTableError,
    },

    #[error("lake table `{table}`: {reason}")]
    Table { table: String, reason: String },

    #[error("building Arrow rows: {0}")]
    Arrow(#[from] deltalake::arrow::error::ArrowError),

    #[error("reading Parquet file `{file}`: {reason}")]
    Parquet { file: String, reason: String },

    #[error("block {block}: {field} = {value} does not fit {target}")]
    Overflow {
        block: u64,
        field: &'static str,
        value: String,
        target: &'static str,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
