//! `chainx hive ddl|sync`: external Hive tables over the lake's folders.

use anyhow::Context;
use chainx_tables::hive;

use crate::cli::{HiveArgs, HiveSyncArgs};
use crate::config::{lake, FileConfig};

fn statements(args: &HiveArgs) -> anyhow::Result<Vec<String>> {
    let file = FileConfig::load(args.config.config.as_deref())?;
    let lake = lake(&args.lake, &file.lake)?;
    Ok(hive::ddl(&lake, &args.database)?)
}

pub fn ddl(args: HiveArgs) -> anyhow::Result<()> {
    for statement in statements(&args)? {
        println!("{statement};");
    }
    Ok(())
}

/// Runs the DDL through beeline, which speaks HiveServer2's protocol (Hive's and Spark's Thrift
/// server alike). Every statement is idempotent, so a sync after each landing is safe: it
/// creates what is missing and MSCK REPAIR registers the new partitions.
pub async fn sync(args: HiveSyncArgs) -> anyhow::Result<()> {
    let sql: String = statements(&args.hive)?.iter().map(|s| format!("{s};\n")).collect();
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
    println!(
        "synced {} tables of database {} on {}",
        chainx_tables::TableKind::ALL.len(),
        args.hive.database,
        args.hiveserver2
    );
    Ok(())
}
