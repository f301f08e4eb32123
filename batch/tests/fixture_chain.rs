//! Backfill against a real anvil node loaded with the fixture chain (scripts/chain.sh).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use std::sync::Arc;

use chainx_batch::{backfill, BackfillConfig, Finality};
use chainx_evm::{BlockFetcher, RpcClient};
use chainx_tables::{Lake, LakeTable, TableKind};
use chainx_testkit::anvil::{manifest, Anvil};
use common::{assert_exactly, column, coverage, rpc, run};
use indicatif::ProgressBar;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lands_exactly_the_chain_with_the_manifest_counts() {
    let m = manifest();
    let anvil = Anvil::fixture().await;
    let lake = tempfile::tempdir().unwrap();
    let mut cfg = common::to_head(m.first_block, m.last_block, lake.path().to_str().unwrap());
    cfg.chunk_blocks = 200;
    let summary = run(rpc(&anvil.url), &cfg).await.unwrap();

    assert_eq!(summary.blocks, m.block_count);
    assert_eq!(summary.transactions, m.transaction_count);
    // Two calls per block (block + its receipts) and one eth_blockNumber for the head.
    assert_eq!(summary.calls, 2 * m.block_count + 2, "{summary}");

    let (blocks, txs) = assert_exactly(lake.path(), m.first_block, m.last_block).await;
    let mut from_node = anvil.tx_hashes(m.first_block, m.last_block).await;
    from_node.sort();
    assert_eq!(
        column(&txs, "hash"),
        from_node,
        "landed transactions are not the chain's"
    );
    assert_eq!(
        blocks
            .iter()
            .find(|b| b["number"].as_deref() == Some(&m.last_block.to_string()))
            .unwrap()["hash"]
            .as_deref(),
        Some(m.last_block_hash.as_str())
    );

    // Logs: exactly what the node's eth_getLogs returns over the whole chain (reverted
    // transactions have none), with no request of their own (the call count above).
    let logs = common::delta_rows(lake.path(), TableKind::Logs).await;
    assert_eq!(summary.logs, logs.len() as u64);
    let mut landed: Vec<String> = logs
        .iter()
        .map(|l| {
            let get = |c: &str| l[c].clone().unwrap_or_default();
            let topics: Vec<String> = serde_json::from_str(&get("topics")).unwrap();
            format!(
                "{}/{}/{}/{}/{}/{}",
                get("block_number"),
                get("log_index"),
                get("transaction_hash"),
                get("address"),
                get("data"),
                topics.join(",")
            )
        })
        .collect();
    let mut from_node = anvil.logs(m.first_block, m.last_block).await;
    assert!(
        from_node.len() > 1000,
        "the fixture chain has only {} logs",
        from_node.len()
    );
    landed.sort();
    from_node.sort();
    assert_eq!(landed, from_node, "landed logs are not the node's eth_getLogs");

    assert_eq!(summary.logs, m.logs);

    // Token transfers per standard and decoded events per signature, as the generator counted
    // them with ethers and the contracts' own ABIs. The anonymous event's logs land in `logs`
    // and are not decoded; nothing the built-ins know fails to decode.
    let transfers = common::delta_rows(lake.path(), TableKind::TokenTransfers).await;
    assert_eq!(count(&transfers, "token_standard"), m.token_transfers);
    let events = common::delta_rows(lake.path(), TableKind::DecodedEvents).await;
    assert_eq!(count(&events, "event_signature"), m.events);
    assert_eq!(summary.events_undecodable, 0, "{summary}");
    let beacon = &m.contracts["beacon"];
    let at_beacon = |rows: &[common::Row], column: &str| {
        rows.iter()
            .filter(|r| r[column].as_deref() == Some(beacon.as_str()))
            .count() as u64
    };
    assert_eq!(at_beacon(&logs, "address"), m.anonymous_logs);
    assert!(m.anonymous_logs > 0);
    assert_eq!(
        at_beacon(&events, "contract_address"),
        0,
        "an anonymous event was decoded"
    );
    // Every event's arguments are a JSON object with exact integers.
    let liquidation = events
        .iter()
        .find(|e| e["event_name"].as_deref() == Some("LiquidationCall"))
        .unwrap();
    let args: serde_json::Value = serde_json::from_str(liquidation["args"].as_deref().unwrap()).unwrap();
    assert!(args["debtToCover"].as_str().unwrap().parse::<u128>().is_ok(), "{args}");
    assert!(m
        .liquidations_by_collateral
        .contains_key(args["collateralAsset"].as_str().unwrap()));

    let kinds = count(&txs, "tx_kind");
    assert_eq!(kinds["native_token_transfer"], m.tx_kind.native_token_transfer);
    assert_eq!(kinds["contract_deployment"], m.tx_kind.contract_deployment);
    assert_eq!(kinds["contract_interaction"], m.tx_kind.contract_interaction);
    let types = count(&txs, "transaction_type");
    for (t, n) in &m.transaction_type {
        assert_eq!(types[t], *n, "transaction_type {t}");
    }
    assert_eq!(count(&txs, "receipt_status")["0"], m.receipt_status_failed);
    assert!(
        txs.iter().all(|t| t["receipt_gas_used"].is_some()),
        "a receipt column is null"
    );

    // Deployments carry the created address; value-to-contract with empty input is a transfer.
    let deployed: Vec<_> = txs
        .iter()
        .filter(|t| t["tx_kind"].as_deref() == Some("contract_deployment"))
        .collect();
    assert!(deployed
        .iter()
        .all(|t| t["to_address"].is_none() && t["receipt_contract_address"].is_some()));
    let weth = &m.contracts["weth"];
    let wraps = txs
        .iter()
        .filter(|t| t["to_address"].as_deref() == Some(weth.as_str()) && t["input"].as_deref() == Some("0x"))
        .count() as u64;
    assert_eq!(wraps, m.native_to_contract_empty_input);

    // One Hive partition folder per UTC day, holding that day's blocks.
    for (date, counts) in &m.by_date {
        let in_partition = blocks
            .iter()
            .filter(|b| {
                let ts: i64 = b["timestamp"].as_deref().unwrap().parse().unwrap();
                chrono_date(ts) == *date
            })
            .count() as u64;
        assert_eq!(in_partition, counts.blocks, "blocks on {date}");
        assert!(
            lake.path().join(format!("blocks/block_date={date}")).is_dir(),
            "no partition folder for {date}"
        );
    }
    // Addresses and hashes are lowercase hex; wei amounts are exact integers.
    assert!(txs.iter().all(|t| t["from_address"]
        .as_deref()
        .unwrap()
        .chars()
        .all(|c| !c.is_ascii_uppercase())));
    assert!(txs.iter().any(|t| t["value"]
        .as_deref()
        .is_some_and(|v| v.len() > 15 && !v.ends_with("000"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reruns_and_overlapping_ranges_never_duplicate() {
    let m = manifest();
    let anvil = Anvil::fixture().await;
    let lake = tempfile::tempdir().unwrap();
    let path = lake.path().to_str().unwrap();
    let mut first = common::to_head(0, 300, path);
    first.chunk_blocks = 128;
    run(rpc(&anvil.url), &first).await.unwrap();
    assert_eq!(coverage(lake.path(), TableKind::Blocks).await, "0-300");

    let mut overlap = common::to_head(200, m.last_block, path);
    overlap.chunk_blocks = 100;
    let s = run(rpc(&anvil.url), &overlap).await.unwrap();
    assert_eq!(s.skipped_blocks, 101);
    assert_eq!(s.blocks, m.last_block - 300);

    let again = run(rpc(&anvil.url), &common::to_head(0, m.last_block, path))
        .await
        .unwrap();
    assert_eq!((again.blocks, again.transactions), (0, 0));
    assert_eq!(
        again.calls, 2,
        "a complete range costs only the chain id and head checks"
    );

    let (_, txs) = assert_exactly(lake.path(), 0, m.last_block).await;
    assert_eq!(txs.len() as u64, m.transaction_count);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_receipts_costs_one_call_per_block() {
    let anvil = Anvil::fixture().await;
    let lake = tempfile::tempdir().unwrap();
    let mut cfg = common::to_head(100, 199, lake.path().to_str().unwrap());
    cfg.receipts = false;
    // The default tables include logs, which are made of receipts: refused, and said why.
    let e = run(rpc(&anvil.url), &cfg).await.unwrap_err().to_string();
    assert!(e.contains("--no-receipts leaves logs") && e.contains("--tables"), "{e}");
    cfg.tables = vec![TableKind::Blocks, TableKind::Transactions];
    let s = run(rpc(&anvil.url), &cfg).await.unwrap();
    assert_eq!(s.calls, 100 + 2, "a block a call, the chain id and the head");
    let (_, txs) = assert_exactly(lake.path(), 100, 199).await;
    assert!(!txs.is_empty());
    assert!(txs
        .iter()
        .all(|t| t["receipt_status"].is_none() && t["receipt_gas_used"].is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_without_the_log_tables_skip_the_logs_and_land_the_same_rows() {
    let anvil = Anvil::fixture().await;
    let (with_logs, without_logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let full = common::to_head(100, 199, with_logs.path().to_str().unwrap());
    let mut plain = common::to_head(100, 199, without_logs.path().to_str().unwrap());
    plain.tables = vec![TableKind::Blocks, TableKind::Transactions];
    assert!(full.fetches_logs() && plain.fetches_receipts() && !plain.fetches_logs());

    // A fetcher that reads past the logs cannot serve the log tables: refused before a call.
    let client = Arc::new(RpcClient::new(rpc(&anvil.url)).unwrap());
    let skipping = BlockFetcher::new(client, true).without_logs();
    let e = backfill(&skipping, &full, &ProgressBar::hidden())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("BackfillConfig::block_fetcher"), "{e}");
    assert_eq!(skipping.client().stats().calls(), 0);

    let landed = run(rpc(&anvil.url), &full).await.unwrap();
    assert!(landed.logs > 0, "the fixture's blocks 100..=199 have logs: {landed}");
    run(rpc(&anvil.url), &plain).await.unwrap();
    let by_hash = |mut rows: Vec<common::Row>| {
        rows.sort_by(|a, b| a["hash"].cmp(&b["hash"]));
        rows
    };
    let expected = by_hash(common::delta_rows(with_logs.path(), TableKind::Transactions).await);
    let skipped = by_hash(common::delta_rows(without_logs.path(), TableKind::Transactions).await);
    assert!(expected.iter().all(|r| r["receipt_gas_used"].is_some()));
    assert_eq!(
        skipped, expected,
        "skipping the receipts' logs changed the transactions' rows"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_left_by_a_crashed_writer_stay_until_a_vacuum_past_its_retention() {
    let anvil = Anvil::fixture().await;
    let lake = tempfile::tempdir().unwrap();
    let path = lake.path().to_str().unwrap();
    run(rpc(&anvil.url), &common::to_head(0, 99, path)).await.unwrap();
    // What a writer killed between writing a Parquet file and committing it leaves behind: a
    // data file in a partition folder that no Delta version references. The next run cannot
    // tell it from another writer's file about to be committed, so it leaves it.
    let hive = chainx_tables::read::hive_files(&lake.path().join("transactions")).unwrap();
    let orphan = hive[0].with_file_name("part-00000-orphan-c000.snappy.parquet");
    std::fs::copy(&hive[0], &orphan).unwrap();
    let s = run(rpc(&anvil.url), &common::to_head(0, 149, path)).await.unwrap();
    assert_eq!((s.blocks, s.skipped_blocks), (50, 100));
    assert!(orphan.exists());
    assert_ne!(
        common::hive_rows(lake.path(), TableKind::Transactions).len(),
        common::delta_rows(lake.path(), TableKind::Transactions).await.len(),
        "until a vacuum, a plain listing holds the uncommitted file's rows too"
    );

    let mut txs = LakeTable::open(&Lake::parse(path).unwrap(), TableKind::Transactions)
        .await
        .unwrap();
    assert!(txs
        .vacuum(Duration::from_secs(3600), false)
        .await
        .unwrap()
        .files
        .is_empty());
    let vacuumed = txs.vacuum(Duration::ZERO, false).await.unwrap();
    assert_eq!(vacuumed.files.len(), 1, "{:?}", vacuumed.files);
    assert!(!orphan.exists());
    assert_exactly(lake.path(), 0, 149).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_past_the_head_is_refused_before_anything_lands() {
    let m = manifest();
    let anvil = Anvil::fixture().await;
    let lake = tempfile::tempdir().unwrap();
    let err = run(
        rpc(&anvil.url),
        &common::to_head(0, m.last_block + 10, lake.path().to_str().unwrap()),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("past the chain head") && err.contains(&m.last_block.to_string()),
        "{err}"
    );
    assert!(!lake.path().join("blocks").exists());
}

fn count(rows: &[common::Row], col: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for r in rows {
        *out.entry(r[col].clone().unwrap_or_else(|| "null".into())).or_default() += 1;
    }
    out
}

/// UTC date of an epoch second, without a date library: days since 1970-01-01 to Y-M-D.
fn chrono_date(ts: i64) -> String {
    let days = ts.div_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `chainx blocks-for-date` over the five days of the fixture chain: consecutive days tile the
/// chain with the manifest's block counts, and the unfinished last day needs `partial`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_day_is_its_blocks_and_the_days_tile_the_chain() {
    let m = manifest();
    let anvil = Anvil::fixture().await;
    let client = std::sync::Arc::new(chainx_evm::RpcClient::new(rpc(&anvil.url)).unwrap());
    let fetcher = chainx_evm::BlockFetcher::new(client, false);
    let days: Vec<&String> = m.by_date.keys().collect();
    let mut next = m.first_block;
    for (i, day) in days.iter().enumerate() {
        let last_day = i + 1 == days.len();
        let got = chainx_batch::blocks_for_date(&fetcher, day, last_day).await.unwrap();
        assert_eq!(got.from_block, next, "{day}");
        assert_eq!(got.to_block - got.from_block + 1, m.by_date[*day].blocks, "{day}");
        next = got.to_block + 1;
    }
    assert_eq!(next, m.last_block + 1);
    let e = chainx_batch::blocks_for_date(&fetcher, days[days.len() - 1], false)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not over on the chain yet") && e.contains("--partial"),
        "{e}"
    );
    let e = chainx_batch::blocks_for_date(&fetcher, "2024-02-29", false)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no block on 2024-02-29"), "{e}");
    let e = chainx_batch::blocks_for_date(&fetcher, "2024-3-1", false)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("`2024-3-1` is not a YYYY-MM-DD day"), "{e}");
}

/// By default a backfill stops at the node's `finalized` block (what may still reorg is the
/// stream's); `--confirmations N` stops N below the head; `--to-head` lands the whole range.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_range_stops_at_the_finalized_block_unless_told_otherwise() {
    let m = manifest();
    let anvil = Anvil::fixture().await;
    let finalized = anvil
        .rpc("eth_getBlockByNumber", serde_json::json!(["finalized", false]))
        .await;
    let finalized = u64::from_str_radix(finalized["number"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert!(finalized < m.last_block, "the node finalizes below its head");
    let lake = tempfile::tempdir().unwrap();
    let path = lake.path().to_str().unwrap();

    let s = run(rpc(&anvil.url), &BackfillConfig::new(0, m.last_block, path))
        .await
        .unwrap();
    assert_eq!(s.capped, Some((finalized, "the node's finalized block".to_string())));
    assert!(s.to_string().contains(&format!("stopped at {finalized}")), "{s}");
    assert_eq!(coverage(lake.path(), TableKind::Blocks).await, format!("0-{finalized}"));

    let mut cfg = BackfillConfig::new(0, m.last_block, path);
    cfg.finality = Finality::Confirmations(10);
    let s = run(rpc(&anvil.url), &cfg).await.unwrap();
    assert_eq!(s.blocks, m.last_block - 10 - finalized);
    assert_eq!(
        coverage(lake.path(), TableKind::Blocks).await,
        format!("0-{}", m.last_block - 10)
    );

    cfg.finality = Finality::Head;
    let s = run(rpc(&anvil.url), &cfg).await.unwrap();
    assert_eq!((s.blocks, s.capped), (10, None));
    assert_exactly(lake.path(), 0, m.last_block).await;
}

/// `decoded_calls` from the backfill, with the generator's ABIs served by an Etherscan-compatible
/// endpoint (a FAKE answering Etherscan's `getabi` format from the ABI folder: Etherscan itself
/// cannot run here) instead of a folder: every generator call decodes to its function, and the
/// endpoint is asked once per contract, not per call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decoded_calls_land_with_abis_from_an_etherscan_endpoint() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use chainx_testkit::rpc_server::{path_handler, Reply, RpcServer};

    let m = manifest();
    let anvil = Anvil::fixture().await;
    let folder = tempfile::tempdir().unwrap();
    let served = chainx_testkit::anvil::write_abi_folder(folder.path());
    let asked = Arc::new(AtomicU64::new(0));
    let (dir, count) = (folder.path().to_path_buf(), asked.clone());
    let etherscan = RpcServer::start(path_handler(move |path, _| {
        let (dir, count) = (dir.clone(), count.clone());
        async move {
            count.fetch_add(1, Ordering::SeqCst);
            let address = path.split("address=").nth(1).unwrap_or_default().split('&').next().unwrap_or_default();
            match std::fs::read_to_string(dir.join(format!("{}.json", address.to_lowercase()))) {
                Ok(abi) => Reply::Json(serde_json::json!({"status": "1", "message": "OK", "result": abi})),
                Err(_) => Reply::Json(
                    serde_json::json!({"status": "0", "message": "NOTOK", "result": "Contract source code not verified"}),
                ),
            }
        }
    }))
    .await;
    let lake = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = common::to_head(m.first_block, m.last_block, lake.path().to_str().unwrap());
    cfg.tables = vec![TableKind::Transactions, TableKind::DecodedCalls];
    cfg.etherscan = Some(chainx_batch::EtherscanSource {
        url: etherscan.url.clone(),
        key: Some("ETHERSCAN-SECRET".to_string()),
        cache_dir: cache.path().to_path_buf(),
    });
    assert!(
        !format!("{cfg:?}").contains("ETHERSCAN-SECRET"),
        "the key shows in Debug"
    );
    let summary = run(rpc(&anvil.url), &cfg).await.unwrap();
    assert_eq!(summary.decoded_calls, m.tx_kind.contract_interaction, "{summary}");

    let calls = common::delta_rows(lake.path(), TableKind::DecodedCalls).await;
    let by_hash: BTreeMap<String, (Option<String>, Option<String>)> = calls
        .iter()
        .map(|c| {
            (
                c["hash"].clone().unwrap(),
                (c["function_name"].clone(), c["abi_source"].clone()),
            )
        })
        .collect();
    assert_eq!(by_hash.len(), calls.len(), "a call landed twice");
    let sent: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(chainx_testkit::anvil::chain_dir().join("calls.json")).unwrap())
            .unwrap();
    for c in &sent {
        let (function, _) = &by_hash[c["hash"].as_str().unwrap()];
        assert_eq!(function.as_deref(), c["function"].as_str(), "{c}");
    }
    let from_etherscan = by_hash
        .values()
        .filter(|(_, s)| s.as_deref() == Some("etherscan"))
        .count();
    assert!(from_etherscan > 0, "no call decoded with an ABI from the endpoint");
    let contracts: std::collections::BTreeSet<&str> = calls.iter().filter_map(|c| c["to_address"].as_deref()).collect();
    let asked = asked.load(Ordering::SeqCst);
    assert!(
        asked as usize <= contracts.len(),
        "{asked} requests for {} contracts ({} served)",
        contracts.len(),
        served.len()
    );
}
