use chainx_tables::arrow::array::RecordBatch;
use chainx_tables::arrow::util::display::{ArrayFormatter, FormatOptions};
use chainx_tables::{LakeTable, TableKind};

use chainx_evm::BlockFetcher;
use chainx_tables::{BlockRanges, Verifier};

use super::{hand_back, rpc_client};
use crate::cli::{LakeCompactArgs, LakeShowArgs, LakeVacuumArgs, LakeVerifyArgs};
use crate::config::{lake, replica_id, FileConfig};

pub async fn show(args: LakeShowArgs) -> anyhow::Result<()> {
    let file = FileConfig::load(args.config.config.as_deref())?;
    let lake = lake(&args.lake, &file.lake)?;
    for kind in TableKind::ALL {
        let Some(table) = open(&lake, kind).await? else {
            continue;
        };
        println!(
            "{}: {} rows in {} files, blocks {}, version {}",
            kind.name(),
            table.row_count().await?,
            table.live_files()?.len(),
            table.covered()?,
            table.version().map_or("none".to_string(), |v| v.to_string())
        );
        let by = match kind {
            TableKind::Transactions => Some("tx_kind"),
            TableKind::TokenTransfers => Some("token_standard"),
            TableKind::DecodedEvents => Some("event_name"),
            _ => None,
        };
        if let Some(column) = by {
            let counts: Vec<String> = table
                .counts_by(column)
                .await?
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            println!("  by {column}: {}", counts.join(", "));
        }
        let batches = table.first_rows(args.rows).await?;
        print_rows(&batches, args.rows)?;
    }
    Ok(())
}

pub async fn compact(args: LakeCompactArgs) -> anyhow::Result<()> {
    if args.target_file_mb == 0 {
        anyhow::bail!("--target-file-mb must be at least 1");
    }
    let file = FileConfig::load(args.config.config.as_deref())?;
    let lake = lake(&args.lake, &file.lake)?;
    let layout = chainx_tables::FileLayout {
        target_file_bytes: args.target_file_mb << 20,
        ..Default::default()
    };
    for kind in TableKind::ALL {
        let Some(mut table) = open(&lake, kind).await? else {
            continue;
        };
        table.set_layout(layout);
        let s = table.compact().await?;
        println!(
            "{}: {} partitions compacted, {} files -> {}, {} replaced (a vacuum past its retention deletes them)",
            kind.name(),
            s.partitions,
            s.files_before,
            s.files_after,
            s.files_replaced
        );
    }
    Ok(())
}

pub async fn vacuum(args: LakeVacuumArgs) -> anyhow::Result<()> {
    if !(args.retention_hours.is_finite() && args.retention_hours >= 0.0 && args.retention_hours < 1e6) {
        anyhow::bail!(
            "--retention-hours {} is not a number of hours (0 or more; 1 is the default)",
            args.retention_hours
        );
    }
    let retention = std::time::Duration::from_secs_f64(args.retention_hours * 3600.0);
    let file = FileConfig::load(args.config.config.as_deref())?;
    let lake = lake(&args.lake, &file.lake)?;
    for kind in TableKind::ALL {
        let Some(mut table) = open(&lake, kind).await? else {
            continue;
        };
        let s = table.vacuum(retention, args.dry_run).await?;
        let verb = if args.dry_run { "would delete" } else { "deleted" };
        println!(
            "{}: {verb} {} files unreferenced for over {} h",
            kind.name(),
            s.files.len(),
            args.retention_hours
        );
        if args.dry_run {
            for f in &s.files {
                println!("  {f}");
            }
        }
    }
    Ok(())
}

/// Blocks per `eth_getBlockByNumber` batch when comparing hashes with the node.
const VERIFY_BATCH: usize = 100;

pub async fn verify(args: LakeVerifyArgs) -> anyhow::Result<()> {
    let file = FileConfig::load(args.config.config.as_deref())?;
    let lake = lake(&args.lake, &file.lake)?;
    let mut verifier = Verifier::open(&lake).await?;
    let node = match args.rpc.rpc_url {
        Some(_) => {
            let replica = replica_id(&args.rpc, &file.rpc);
            Some(rpc_client(&args.rpc, &file, &replica, None, None).await?)
        }
        None => None,
    };
    let fetcher = node
        .as_ref()
        .map(|(client, _)| BlockFetcher::new(client.clone(), false));
    // A day at a time: its blocks' hashes against the node's, before the next day is read.
    while let Some((_, day)) = verifier.next_day().await? {
        let Some(fetcher) = &fetcher else { continue };
        let numbers: Vec<u64> = day.keys().copied().collect();
        let mut differ = BlockRanges::new();
        for group in numbers.chunks(VERIFY_BATCH) {
            for header in fetcher.fetch_headers(group).await? {
                let n = header.number.to::<u64>();
                if day.get(&n).is_some_and(|b| b.hash != format!("{:#x}", header.hash)) {
                    differ.insert(n, n);
                }
            }
        }
        let endpoint = fetcher.client().endpoint();
        verifier.problem(
            &differ,
            &format!("block hash differs from {endpoint}'s (a branch that lost)"),
        );
    }
    if let Some((_, pool)) = &node {
        hand_back(pool.as_deref()).await;
    }
    let v = verifier.finish();
    println!(
        "blocks {}: {} block rows, {} transaction rows",
        v.covered, v.block_rows, v.transaction_rows
    );
    for (blocks, what) in &v.problems {
        println!("BAD {blocks}: {what}");
    }
    if !v.problems.is_empty() {
        anyhow::bail!(
            "lake verify found {} kinds of problem (listed above); land the bad ranges again after an unwind, or from a backfill into a new lake",
            v.problems.len()
        );
    }
    println!("ok");
    Ok(())
}

/// The block tables must exist (an error says what to run); the others only once a run has
/// landed them (`decoded_calls` and the log tables are optional).
async fn open(lake: &chainx_tables::Lake, kind: TableKind) -> anyhow::Result<Option<LakeTable>> {
    if TableKind::BLOCK_TABLES.contains(&kind) {
        Ok(Some(LakeTable::open(lake, kind).await?))
    } else {
        Ok(LakeTable::open_if_exists(lake, kind).await?)
    }
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
                // Cut by characters: decoded arguments may hold any UTF-8.
                if value.chars().count() > 24 {
                    value = format!("{}…", value.chars().take(22).collect::<String>());
                }
                cells.push(format!("{}={value}", field.name()));
            }
            println!("  {}", cells.join(" "));
            printed += 1;
        }
    }
    Ok(())
}
