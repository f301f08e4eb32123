//! `chainx hive ddl|sync`: Hive tables over the lake, Delta (default) or plain Parquet.

use anyhow::Context;
use chainx_tables::hive::{self, Format};
use chainx_tables::{LakeTable, TableKind};

use crate::cli::{HiveArgs, HiveSyncArgs};
use crate::config::{lake, FileConfig};

/// The DDL; for Delta, of the tables the lake holds so far (the others are named on stderr).
async fn statements(args: &HiveArgs) -> anyhow::Result<Vec<String>> {
    let file = FileConfig::load(args.config.config.as_deref())?;
    let lake = lake(&args.lake, &file.lake)?;
    let mut tables = Vec::new();
    for kind in TableKind::ALL {
        if args.format == Format::Parquet || LakeTable::open_if_exists(&lake, kind).await?.is_some() {
            tables.push(kind);
        } else {
            eprintln!(
                "{}: not in the lake yet, so not defined; sync again once it has landed",
                kind.name()
            );
        }
    }
    Ok(hive::ddl(&lake, &args.database, args.format, &tables)?)
}

pub async fn ddl(args: HiveArgs) -> anyhow::Result<()> {
    for statement in statements(&args).await? {
        println!("{statement};");
    }
    Ok(())
}

/// Runs the DDL through beeline, which speaks HiveServer2's protocol (Hive's and Spark's Thrift
/// server alike). Every statement is idempotent, so a sync after each landing is safe: it
/// creates what is missing, and for plain Parquet MSCK REPAIR registers the new partitions
/// (Delta tables need no sync after the first: they read the log).
pub async fn sync(args: HiveSyncArgs) -> anyhow::Result<()> {
    let statements = statements(&args.hive).await?;
    let sql: String = statements.iter().map(|s| format!("{s};\n")).collect();
    let url = format!("jdbc:hive2://{}/default", args.hiveserver2);
    let out = tokio::process::Command::new(&args.beeline)
        .args([
            "-u",
            &url,
            "-n",
            &args.user,
            "--silent=true",
            "--outputformat=tsv2",
            "-e",
            &sql,
        ])
        .output()
        .await
        .with_context(|| {
            format!(
                "cannot run beeline `{}`; install Hive's or Spark's beeline, or pass --beeline PATH",
                args.beeline.display()
            )
        })?;
    if !out.status.success() {
        anyhow::bail!(
            "beeline against {url} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let tables = statements
        .iter()
        .filter(|s| s.starts_with("CREATE TABLE") || s.starts_with("CREATE EXTERNAL"))
        .count();
    println!(
        "synced {tables} tables of database {} on {}",
        args.hive.database, args.hiveserver2
    );
    Ok(())
}
