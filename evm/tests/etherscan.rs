//! ABIs from an Etherscan-compatible endpoint: asked once per address, cached on disk across
//! runs, secrets kept out of errors. The endpoint is a FAKE (a real HTTP server answering
//! Etherscan's `getabi` format): Etherscan itself cannot run here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chainx_evm::abi::{AbiSource, DecodeStatus};
use chainx_evm::{AbiRegistry, EtherscanAbis};
use chainx_testkit::rpc_server::{path_handler, Reply, RpcServer};
use serde_json::json;

const VERIFIED: &str = "0x1111111111111111111111111111111111111111";
const UNVERIFIED: &str = "0x2222222222222222222222222222222222222222";
const BROKEN: &str = "0x3333333333333333333333333333333333333333";
// mint(address,uint256) with 0xaa..aa and 5: not in the built-in signatures.
const MINT: &str = "0x40c10f19000000000000000000000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0000000000000000000000000000000000000000000000000000000000000005";

async fn fake_etherscan(asked: Arc<AtomicU64>) -> RpcServer {
    RpcServer::start(path_handler(move |path, _| {
        let asked = asked.clone();
        async move {
            asked.fetch_add(1, Ordering::SeqCst);
            assert!(path.contains("apikey=SECRETKEY"), "{path}");
            if path.contains(VERIFIED) {
                let abi = json!([{"type": "function", "name": "mint", "stateMutability": "nonpayable",
                    "inputs": [{"name": "to", "type": "address"}, {"name": "amount", "type": "uint256"}],
                    "outputs": []}]);
                Reply::Json(json!({"status": "1", "message": "OK", "result": abi.to_string()}))
            } else if path.contains(UNVERIFIED) {
                Reply::Json(json!({"status": "0", "message": "NOTOK", "result": "Contract source code not verified"}))
            } else {
                Reply::Status(500, "upstream down, key SECRETKEY".to_string())
            }
        }
    }))
    .await
}

#[tokio::test]
async fn abis_are_fetched_once_per_address_and_cached_on_disk() {
    let asked = Arc::new(AtomicU64::new(0));
    let server = fake_etherscan(asked.clone()).await;
    let cache = tempfile::tempdir().unwrap();
    let source = || EtherscanAbis::new(&server.url, Some("SECRETKEY".to_string()), cache.path()).unwrap();
    let mut reg = AbiRegistry::builtin().with_etherscan(source());

    for _ in 0..3 {
        let d = reg.decode(VERIFIED, MINT).await;
        assert_eq!(d.decode_status, DecodeStatus::Ok, "{d:?}");
        assert_eq!(d.abi_source, Some(AbiSource::Etherscan));
        assert_eq!(d.args[1].value, json!("5"));
        let d = reg.decode(UNVERIFIED, MINT).await;
        assert_eq!(d.decode_status, DecodeStatus::UnknownSelector);
        // ERC-20 calls to an unverified contract still decode by the built-in signatures.
        let transfer = MINT.replacen("0x40c10f19", "0xa9059cbb", 1);
        assert_eq!(reg.decode(UNVERIFIED, &transfer).await.decode_status, DecodeStatus::Ok);
    }
    assert_eq!(asked.load(Ordering::SeqCst), 2, "one request per address, not per call");

    // An outage is retried later, not per transaction; its error never shows the key.
    for _ in 0..3 {
        assert_eq!(
            reg.decode(BROKEN, MINT).await.decode_status,
            DecodeStatus::UnknownSelector
        );
    }
    assert_eq!(asked.load(Ordering::SeqCst), 3);

    // A new process reads the disk cache: no request at all.
    let mut again = AbiRegistry::builtin().with_etherscan(source());
    assert_eq!(again.decode(VERIFIED, MINT).await.decode_status, DecodeStatus::Ok);
    assert_eq!(
        again.decode(UNVERIFIED, MINT).await.decode_status,
        DecodeStatus::UnknownSelector
    );
    assert_eq!(asked.load(Ordering::SeqCst), 3);
    for f in std::fs::read_dir(cache.path()).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        assert!(!text.contains("SECRETKEY"));
    }
}

#[tokio::test]
async fn each_chain_asks_and_caches_its_own_contracts() {
    // The same address on two chains: two contracts, two requests, two cache entries.
    let asked: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let seen = asked.clone();
    let server = RpcServer::start(path_handler(move |path, _| {
        seen.lock().unwrap().push(path.clone());
        async move {
            let name = if path.contains("chainid=8453") {
                "onBase"
            } else {
                "onMainnet"
            };
            let abi = json!([{"type": "function", "name": name, "stateMutability": "nonpayable",
                "inputs": [{"name": "to", "type": "address"}, {"name": "amount", "type": "uint256"}],
                "outputs": []}]);
            Reply::Json(json!({"status": "1", "message": "OK", "result": abi.to_string()}))
        }
    }))
    .await;
    let cache = tempfile::tempdir().unwrap();
    let on = |chain: u64| {
        EtherscanAbis::new(&server.url, None, cache.path())
            .unwrap()
            .for_chain(chain)
            .unwrap()
    };
    let (mainnet, base) = (on(1), on(8453));
    let address = VERIFIED.parse().unwrap();
    let names =
        |abi: Option<alloy_json_abi::JsonAbi>| abi.unwrap().functions().map(|f| f.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(mainnet.abi(address).await), ["onMainnet"]);
    assert_eq!(names(base.abi(address).await), ["onBase"]);
    // Cached per chain: asked again, neither goes out, and neither reads the other's.
    assert_eq!(names(on(8453).abi(address).await), ["onBase"]);
    assert_eq!(names(on(1).abi(address).await), ["onMainnet"]);
    let asked = asked.lock().unwrap();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(
        asked[0].contains("chainid=1&") && asked[1].contains("chainid=8453&"),
        "{asked:?}"
    );
    assert!(cache.path().join("1").join(format!("{VERIFIED}.json")).is_file());
    assert!(cache.path().join("8453").join(format!("{VERIFIED}.json")).is_file());
}
