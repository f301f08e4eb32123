//! Hive DDL over the lake, in one of two [`Format`]s:
//! - **delta** (the default): `CREATE TABLE ... USING DELTA LOCATION`, for a HiveServer2 that
//!   reads Delta (the Spark Thrift server with delta-spark). Every query reads one Delta snapshot,
//!   so it sees exactly the live rows of some version, whatever writers are doing.
//! - **parquet**: the folders as plain Hive-partitioned Parquet external tables
//!   (`block_date=YYYY-MM-DD/part-*.parquet`), for engines without Delta. A bare listing also
//!   holds files a writer has not committed yet, and files a commit replaced that no vacuum has
//!   removed yet: this view equals Delta's only when no writer runs and after `lake vacuum`.
//!
//! Delta's `_symlink_format_manifest` is not offered: Hive and Spark read symlink manifests of
//! text files only (Trino, Presto and Athena extended them to Parquet).

use deltalake::arrow::datatypes::{DataType, Field, TimeUnit};

use crate::datasets::PARTITION_COLUMN;
use crate::{Error, Lake, Result, TableKind};

/// How Hive reads the lake's tables (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Delta,
    Parquet,
}

impl std::str::FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Format> {
        match s {
            "delta" => Ok(Format::Delta),
            "parquet" => Ok(Format::Parquet),
            other => Err(Error::Table {
                table: other.to_string(),
                reason: "a Hive table format is `delta` or `parquet`".to_string(),
            }),
        }
    }
}

/// The DDL for `tables` in `database`, one statement per entry: CREATE DATABASE, then per table
/// CREATE TABLE ... USING DELTA, or CREATE EXTERNAL TABLE and MSCK REPAIR TABLE (which registers
/// the partitions present) for plain Parquet.
///
/// Give Delta only the tables the lake holds: Spark's CREATE TABLE over a folder without a Delta
/// log creates an empty table there, with no columns, which no chainx writer can then use.
pub fn ddl(lake: &Lake, database: &str, format: Format, tables: &[TableKind]) -> Result<Vec<String>> {
    if database.is_empty() || !database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::Table {
            table: database.to_string(),
            reason: "a Hive database name is letters, digits and `_`".to_string(),
        });
    }
    let mut out = vec![format!("CREATE DATABASE IF NOT EXISTS {database}")];
    if format == Format::Delta {
        // The schema and the partitions come from the Delta log.
        for &kind in tables {
            out.push(format!(
                "CREATE TABLE IF NOT EXISTS {database}.{} USING DELTA LOCATION '{}'",
                kind.name(),
                table_location(lake, kind)
            ));
        }
    } else {
        for &kind in tables {
            out.push(create_table(lake, database, kind)?);
        }
        for &kind in tables {
            out.push(format!("MSCK REPAIR TABLE {database}.{}", kind.name()));
        }
    }
    if tables.contains(&TableKind::Traces) {
        out.push(ether_transfers_view(database));
    }
    Ok(out)
}

/// `ether_transfers`: every movement of ether the traces show, what a fund-tracing query
/// follows: successful calls, creates and self-destructs with value, top-level (`trace_address`
/// NULL) and internal alike. A delegatecall's or callcode's value is its caller's context, not a
/// transfer; rewards are minted, not moved.
fn ether_transfers_view(database: &str) -> String {
    format!(
        "CREATE VIEW IF NOT EXISTS {database}.ether_transfers AS SELECT transaction_hash, \
         transaction_index, from_address, to_address, value, trace_type, trace_address, \
         block_timestamp, block_number, block_hash, trace_id, {PARTITION_COLUMN} \
         FROM {database}.traces WHERE status = 1 AND value > 0 AND trace_type IN ('call', 'create', 'suicide') \
         AND (call_type IS NULL OR call_type = 'call')"
    )
}

/// One table's CREATE EXTERNAL TABLE: the Parquet columns with matching Hive types, the
/// partition column as a STRING (Hive reads it from the folder name).
pub fn create_table(lake: &Lake, database: &str, kind: TableKind) -> Result<String> {
    let schema = kind.schema();
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .filter(|f| f.name() != PARTITION_COLUMN)
        .map(|f| Ok(format!("  `{}` {}", f.name(), hive_type(f)?)))
        .collect::<Result<_>>()?;
    Ok(format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS {database}.{name} (\n{columns}\n) PARTITIONED BY (`{PARTITION_COLUMN}` STRING) \
         STORED AS PARQUET LOCATION '{location}'",
        name = kind.name(),
        columns = columns.join(",\n"),
        location = table_location(lake, kind),
    ))
}

/// Where Hive finds a table: its folder, as Hadoop file systems name it (`s3a://` for S3).
fn table_location(lake: &Lake, kind: TableKind) -> String {
    let mut url = lake.url().clone();
    if url.scheme() == "s3" {
        // `s3a` is Hadoop's S3 file system; the `s3` scheme names nothing there.
        let rest = url.as_str().trim_start_matches("s3:");
        return format!("s3a:{}/{}", rest.trim_end_matches('/'), kind.name());
    }
    url.set_path(&format!("{}/{}", url.path().trim_end_matches('/'), kind.name()));
    url.to_string()
}

fn hive_type(field: &Field) -> Result<String> {
    Ok(match field.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 => "STRING".to_string(),
        DataType::Int64 => "BIGINT".to_string(),
        DataType::Int32 => "INT".to_string(),
        DataType::Boolean => "BOOLEAN".to_string(),
        DataType::Date32 => "DATE".to_string(),
        DataType::Timestamp(TimeUnit::Microsecond, _) => "TIMESTAMP".to_string(),
        DataType::Decimal128(p, s) => format!("DECIMAL({p},{s})"),
        DataType::List(item) => format!("ARRAY<{}>", hive_type(item)?),
        DataType::Struct(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|f| Ok(format!("`{}`:{}", f.name(), hive_type(f)?)))
                .collect::<Result<_>>()?;
            format!("STRUCT<{}>", inner.join(","))
        }
        other => {
            return Err(Error::Table {
                table: field.name().to_string(),
                reason: format!("no Hive type for {other}"),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_has_its_hive_type_and_wei_stays_exact() {
        let lake = Lake::parse("hdfs://namenode:9000/chainx").unwrap();
        let stmts = ddl(&lake, "chainx", Format::Parquet, &TableKind::ALL).unwrap();
        assert_eq!(stmts.len(), 1 + 2 * TableKind::ALL.len() + 1);
        assert!(stmts
            .last()
            .unwrap()
            .contains("VIEW IF NOT EXISTS chainx.ether_transfers"));
        let txs = &stmts[2];
        assert!(
            txs.starts_with("CREATE EXTERNAL TABLE IF NOT EXISTS chainx.transactions ("),
            "{txs}"
        );
        for column in [
            "`value` DECIMAL(38,0)",
            "`hash` STRING",
            "`block_number` BIGINT",
            "`block_timestamp` TIMESTAMP",
        ] {
            assert!(txs.contains(column), "{column} missing from {txs}");
        }
        assert!(txs.contains("PARTITIONED BY (`block_date` STRING)") && !txs.contains("`block_date` DATE"));
        assert!(
            txs.ends_with("LOCATION 'hdfs://namenode:9000/chainx/transactions'"),
            "{txs}"
        );
        assert!(
            stmts[1].contains("`withdrawals` ARRAY<STRUCT<`index`:BIGINT"),
            "{}",
            stmts[1]
        );
        // The view last, after every table it could read is there.
        assert_eq!(stmts[stmts.len() - 2], "MSCK REPAIR TABLE chainx.tokens");
    }

    #[test]
    fn delta_tables_take_schema_and_partitions_from_the_log() {
        let lake = Lake::parse("s3://bucket/lake").unwrap();
        let stmts = ddl(&lake, "chainx", Format::Delta, &[TableKind::Blocks]).unwrap();
        assert_eq!(stmts.len(), 2);
        assert_eq!(
            stmts[1],
            "CREATE TABLE IF NOT EXISTS chainx.blocks USING DELTA LOCATION 's3a://bucket/lake/blocks'"
        );
        assert!(stmts.iter().all(|s| !s.contains("MSCK")), "{stmts:?}");
        assert_eq!("parquet".parse::<Format>().unwrap(), Format::Parquet);
        assert!("orc".parse::<Format>().is_err());
    }

    #[test]
    fn s3_lakes_are_s3a_for_hive() {
        let lake = Lake::parse("s3://bucket/lake").unwrap();
        let stmt = create_table(&lake, "chainx", TableKind::Blocks).unwrap();
        assert!(stmt.ends_with("LOCATION 's3a://bucket/lake/blocks'"), "{stmt}");
    }

    #[test]
    fn a_bad_database_name_is_refused() {
        let lake = Lake::parse("hdfs://namenode:9000/chainx").unwrap();
        let e = ddl(&lake, "chainx; DROP TABLE x", Format::Delta, &TableKind::ALL)
            .unwrap_err()
            .to_string();
        assert!(e.contains("letters, digits"), "{e}");
    }
}
