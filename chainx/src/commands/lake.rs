use chainx_tables::arrow::array::RecordBatch;
use chainx_tables::arrow::util::display::{ArrayFormatter, FormatOptions};
use chainx_tables::{read, LakeTable, TableKind};

use crate::cli::{LakeCompactArgs, LakeShowArgs};
use crate::config::{lake, FileConfig};

pub async fn show(args: LakeShowArgs) -> anyhow::Result<()> {
    let file = FileConfig::load(args.config.config.as_deref())?;
    let lake = lake(&args.lake, &file.lake)?;
    for kind in TableKind::ALL {
        let Some(table) = open(&lake, kind).await? else {
            continue;
        };
        let batches = read::delta_rows(&table).await?;
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        println!(
            "{}: {rows} rows in {} files, blocks {}, version {}",
            kind.name(),
            table.live_files()?.len(),
            table.covered()?,
            table.version().map_or("none".to_string(), |v| v.to_string())
        );
        if kind == TableKind::Transactions {
            println!("  by tx_kind: {}", count_by(&batches, "tx_kind")?);
        }
        print_rows(&batches, args.rows)?;
    }
    Ok(())
}

pub async fn compact(args: LakeCompactArgs) -> anyhow::Result<()> {
    let file = FileConfig::load(args.config.config.as_deref())?;
    let lake = lake(&args.lake, &file.lake)?;
    for kind in TableKind::ALL {
        let Some(mut table) = open(&lake, kind).await? else {
            continue;
        };
        let s = table.compact().await?;
        println!(
            "{}: {} partitions compacted, {} files -> {}, {} deleted",
            kind.name(),
            s.partitions,
            s.files_before,
            s.files_after,
            s.files_deleted
        );
    }
    Ok(())
}

/// The block tables must exist (an error says what to run); `decoded_calls` only once a sink
/// has landed the decoded topic.
async fn open(lake: &chainx_tables::Lake, kind: TableKind) -> anyhow::Result<Option<LakeTable>> {
    if TableKind::BLOCK_TABLES.contains(&kind) {
        Ok(Some(LakeTable::open(lake, kind).await?))
    } else {
        Ok(LakeTable::open_if_exists(lake, kind).await?)
    }
}

fn count_by(batches: &[RecordBatch], column: &str) -> anyhow::Result<String> {
    let mut counts = std::collections::BTreeMap::<String, u64>::new();
    for b in batches {
        let col = b
            .column_by_name(column)
            .ok_or_else(|| anyhow::anyhow!("no column {column}"))?;
        let fmt = ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default())?;
        for i in 0..b.num_rows() {
            *counts.entry(fmt.value(i).to_string()).or_default() += 1;
        }
    }
    Ok(counts
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", "))
}

fn print_rows(batches: &[RecordBatch], limit: usize) -> anyhow::Result<()> {
    let mut printed = 0;
    for b in batches {
        let schema = b.schema();
        for i in 0..b.num_rows() {
            if printed == limit {
                return Ok(());
            }
            let mut cells = Vec::new();
            for (field, col) in schema.fields().iter().zip(b.columns()) {
                let fmt = ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default().with_null("null"))?;
                let mut value = fmt.value(i).to_string();
                if value.len() > 24 {
                    value = format!("{}…", &value[..22]);
                }
                cells.push(format!("{}={value}", field.name()));
            }
            println!("  {}", cells.join(" "));
            printed += 1;
        }
    }
    Ok(())
}
