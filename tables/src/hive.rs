//! Hive DDL over the lake: each Delta table's folder, read as plain Hive-partitioned Parquet
//! (`block_date=YYYY-MM-DD/part-*.parquet`), as an external table, so Hive, Hue, Spark SQL and
//! Trino query the lake without a Delta connector.
//!
//! The plain-Parquet view equals the Delta view once replaced files are gone: `chainx lake
//! compact` deletes them (a reorg unwind or a compaction leaves them until then).

use deltalake::arrow::datatypes::{DataType, Field, TimeUnit};

use crate::schema::PARTITION_COLUMN;
use crate::{Error, Lake, Result, TableKind};

/// The DDL for every lake table in `database`: CREATE DATABASE, CREATE EXTERNAL TABLE and
/// MSCK REPAIR TABLE (which registers the partitions present), one statement per line.
pub fn ddl(lake: &Lake, database: &str) -> Result<Vec<String>> {
    if database.is_empty() || !database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::Table {
            table: database.to_string(),
            reason: "a Hive database name is letters, digits and `_`".to_string(),
        });
    }
    let mut out = vec![format!("CREATE DATABASE IF NOT EXISTS {database}")];
    for kind in TableKind::ALL {
        out.push(create_table(lake, database, kind)?);
    }
    for kind in TableKind::ALL {
        out.push(format!("MSCK REPAIR TABLE {database}.{}", kind.name()));
    }
    Ok(out)
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
        let stmts = ddl(&lake, "chainx").unwrap();
        assert_eq!(stmts.len(), 1 + 2 * TableKind::ALL.len());
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
        assert_eq!(stmts.last().unwrap(), "MSCK REPAIR TABLE chainx.decoded_calls");
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
        let e = ddl(&lake, "chainx; DROP TABLE x").unwrap_err().to_string();
        assert!(e.contains("letters, digits"), "{e}");
    }
}
