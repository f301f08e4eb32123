//! Command-line interface. Every flag also reads a `CHAINX_*` environment variable; values not
//! given either way come from the `--config` TOML file, then from the defaults in [`crate::config`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "chainx",
    version,
    about = "Capture EVM chain data into a Delta Lake, streamed or backfilled"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Land blocks FROM..=TO (and their transactions) from an RPC node into the lake
    Backfill(Box<BackfillArgs>),
    /// Print a UTC day's first and last block (binary search on block timestamps), as JSON
    BlocksForDate(Box<BlocksForDateArgs>),
    /// Inspect the lake
    #[command(subcommand)]
    Lake(LakeCommand),
    /// Hive tables over the lake (Delta for a Spark Thrift server, or plain Parquet)
    #[command(subcommand)]
    Hive(HiveCommand),
    /// Follow the chain head and publish blocks (and, in full-block mode, transactions) to Kafka
    BlockClock(Box<BlockClockArgs>),
    /// Per-tx mode: fetch, classify and publish the transactions of the hash-id topic
    TxCrawler(Box<TxCrawlerArgs>),
    /// Decode contract interactions with ABIs and publish them to the decoded topic
    TxDecoder(Box<TxDecoderArgs>),
    /// Land the fast layer's topics in the lake (the same tables as backfill), exactly once
    Sink(Box<SinkArgs>),
    /// Manage the Kafka topics
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// List the chains `--chain` names: chain id, topic prefix, block time, reorg depth
    Chains,
}

#[derive(Debug, Args)]
pub struct SinkArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Lake root: a folder, file://, hdfs://HOST:PORT/path or s3://BUCKET/path [default: ./lake]
    #[arg(long, env = "CHAINX_LAKE", help_heading = "Lake")]
    pub lake: Option<String>,
    /// Cut a commit once this many rows are buffered (more costs memory, not speed: 10,000 and
    /// 50,000 land as fast)
    #[arg(long, env = "CHAINX_FLUSH_ROWS", default_value_t = 10_000, help_heading = "Lake")]
    pub flush_rows: usize,
    /// ... or once this many bytes of messages have been consumed since the last commit
    #[arg(long, env = "CHAINX_FLUSH_BYTES", default_value_t = 128 << 20, help_heading = "Lake")]
    pub flush_bytes: usize,
    /// ... or after this many seconds: the latency to a queryable row, and how many files a day
    /// a table gains when the chain is slower than --flush-rows (2,880 a day at 30)
    #[arg(long, env = "CHAINX_FLUSH_INTERVAL", default_value_t = 30.0, help_heading = "Lake")]
    pub flush_interval: f64,
    /// Pause a partition whose messages hold more than this many MiB beyond the slowest
    /// partition's last block, so that blocks waiting for their other partitions cannot pile up
    #[arg(long, env = "CHAINX_MAX_AHEAD_MB", default_value_t = (chainx_sinks::DEFAULT_MAX_AHEAD_BYTES >> 20) as f64, help_heading = "Lake")]
    pub max_ahead_mb: f64,
    /// Exit once every table asked for covers blocks 0..=N [default: run forever]
    #[arg(long, env = "CHAINX_UNTIL_BLOCK", help_heading = "Lake")]
    pub until_block: Option<u64>,
    /// The chain the topics carry, by name (`chainx chains`) or id: recorded in the tables the
    /// sink creates and checked against those it opens [default: unchecked]
    #[arg(long, env = "CHAINX_CHAIN", help_heading = "Lake")]
    pub chain: Option<String>,
    /// Tables to land, comma-separated: blocks, transactions, decoded_calls, logs,
    /// token_transfers, decoded_events (logs and token_transfers need the clock's --receipts,
    /// decoded_events and decoded_calls the tx-decoder), traces, contracts (the clock's
    /// --traces), tokens (its --tokens) [default: the first six]
    #[arg(long, env = "CHAINX_TABLES", help_heading = "Lake", value_delimiter = ',')]
    pub tables: Option<Vec<String>>,
}

#[derive(Debug, Clone, Args, Default)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers [default: 127.0.0.1:9092]
    #[arg(long, env = "CHAINX_BROKERS", help_heading = "Kafka")]
    pub brokers: Option<String>,
    /// Topic prefix: the chain's name [default: mainnet]
    #[arg(long, env = "CHAINX_NETWORK", help_heading = "Kafka")]
    pub network: Option<String>,
    /// Extra librdkafka setting KEY=VALUE (SASL, TLS...); repeatable
    #[arg(
        long = "kafka-option",
        env = "CHAINX_KAFKA_OPTIONS",
        value_delimiter = ',',
        help_heading = "Kafka",
        hide_env_values = true
    )]
    pub kafka_options: Vec<String>,
    /// Serve Prometheus metrics on this address, e.g. 0.0.0.0:9100 [default: off]
    #[arg(long, env = "CHAINX_METRICS_ADDR", help_heading = "Metrics")]
    pub metrics_addr: Option<String>,
}

#[derive(Debug, Args)]
pub struct BlockClockArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub rpc: RpcArgs,
    /// full-block: fetch whole blocks and publish the class topics here; per-tx: publish hash ids for tx-crawler replicas
    #[arg(long, env = "CHAINX_MODE", value_parser = ["full-block", "per-tx"], default_value = "full-block", help_heading = "Clock")]
    pub mode: String,
    /// WebSocket URL for eth_subscribe newHeads (may hold a key; never printed) [default: the RPC URL if ws://, else poll]
    #[arg(long, env = "CHAINX_WS_URL", hide_env_values = true, help_heading = "Clock")]
    pub ws_url: Option<String>,
    /// Seconds between head polls without WebSocket
    #[arg(long, env = "CHAINX_POLL_INTERVAL", default_value_t = 1.0, help_heading = "Clock")]
    pub poll_interval: f64,
    /// First block on a first start (later starts resume from the topic) [default: the head]
    #[arg(long, env = "CHAINX_START_BLOCK", help_heading = "Clock")]
    pub start_block: Option<u64>,
    /// Exit once this block is published [default: run forever]
    #[arg(long, env = "CHAINX_UNTIL_BLOCK", help_heading = "Clock")]
    pub until_block: Option<u64>,
    /// Publish a block only once this many blocks are on top of it
    #[arg(long, env = "CHAINX_CONFIRMATIONS", default_value_t = 0, help_heading = "Clock")]
    pub confirmations: u64,
    /// Deepest reorg handled; a deeper one stops the clock with an error [default: the --chain
    /// preset's, else 64]
    #[arg(long, env = "CHAINX_MAX_REORG_DEPTH", help_heading = "Clock")]
    pub max_reorg_depth: Option<u64>,
    /// Blocks per Kafka transaction while catching up
    #[arg(
        long,
        env = "CHAINX_MAX_BLOCKS_PER_COMMIT",
        default_value_t = 100,
        help_heading = "Clock"
    )]
    pub max_blocks_per_commit: usize,
    /// Full-block mode: also fetch receipts (eth_getBlockReceipts), filling the receipt_* fields
    /// and publishing each block's logs and token transfers (mined.logs, mined.token_transfers)
    #[arg(long, env = "CHAINX_RECEIPTS", help_heading = "Clock")]
    pub receipts: bool,
    /// Full-block mode: also fetch each block's traces (trace_block, or debug_traceBlockByNumber
    /// with callTracer) and publish them and the contracts they created (mined.traces,
    /// mined.contracts): one call more per block
    #[arg(long, env = "CHAINX_TRACES", help_heading = "Clock")]
    pub traces: bool,
    /// Also read what the tokens among those contracts say of themselves, four eth_calls a token,
    /// and publish it (mined.tokens); implies --traces
    #[arg(long, env = "CHAINX_TOKENS", help_heading = "Clock")]
    pub tokens: bool,
}

#[derive(Debug, Args)]
pub struct TxCrawlerArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub rpc: RpcArgs,
    /// Also fetch each receipt (eth_getTransactionReceipt), filling the receipt_* fields
    #[arg(long, env = "CHAINX_RECEIPTS", help_heading = "Crawler")]
    pub receipts: bool,
    /// Consumer group the replicas share [default: chainx-tx-crawler.NETWORK]
    #[arg(long, env = "CHAINX_GROUP", help_heading = "Crawler")]
    pub group: Option<String>,
    /// Hash ids per batch (one HTTP request)
    #[arg(long, env = "CHAINX_CRAWL_BATCH", default_value_t = 200, help_heading = "Crawler")]
    pub batch: usize,
}

#[derive(Debug, Args)]
pub struct TxDecoderArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Folder of <address>.json ABIs (JSON ABI or an artifact with `abi`)
    #[arg(long, env = "CHAINX_ABI_DIR", help_heading = "ABIs")]
    pub abi_dir: Option<PathBuf>,
    /// Etherscan-compatible API, e.g. https://api.etherscan.io/api; its key comes from CHAINX_ETHERSCAN_KEY
    #[arg(long, env = "CHAINX_ETHERSCAN_URL", help_heading = "ABIs")]
    pub etherscan_url: Option<String>,
    /// Where fetched ABIs are cached [default: ~/.cache/chainx/abi]
    #[arg(long, env = "CHAINX_ABI_CACHE", help_heading = "ABIs")]
    pub abi_cache: Option<PathBuf>,
    /// The chain decoded (a name from `chainx chains`, or an id): Etherscan is asked for its
    /// contracts (`chainid=`), the ABI cache is kept per chain, and its topic prefix is the default
    #[arg(long, env = "CHAINX_CHAIN", help_heading = "ABIs")]
    pub chain: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Create the network's topics (existing ones are left alone)
    Create(TopicsCreateArgs),
}

#[derive(Debug, Args)]
pub struct TopicsCreateArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Partitions per topic
    #[arg(long, env = "CHAINX_PARTITIONS", default_value_t = 3, help_heading = "Topics")]
    pub partitions: i32,
    /// Replicas per partition (3 in production)
    #[arg(long, env = "CHAINX_REPLICATION", default_value_t = 1, help_heading = "Topics")]
    pub replication: i32,
    /// Hours a message is kept
    #[arg(long, env = "CHAINX_RETENTION_HOURS", default_value_t = 168, help_heading = "Topics")]
    pub retention_hours: i64,
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// TOML file with [rpc], [lake] and [backfill] sections (see README)
    #[arg(long, env = "CHAINX_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args, Default)]
pub struct RpcArgs {
    /// JSON-RPC endpoint; may hold an API key, which is never printed [default: http://127.0.0.1:8545]
    #[arg(long, env = "CHAINX_RPC_URL", help_heading = "RPC", hide_env_values = true)]
    pub rpc_url: Option<String>,
    /// The chain the node must serve, by name (`chainx chains`) or id: checked against its
    /// eth_chainId at start; a preset also sets the topics' --network and the clock's
    /// --max-reorg-depth [default: any chain]
    #[arg(long, env = "CHAINX_CHAIN", help_heading = "RPC")]
    pub chain: Option<String>,
    /// HTTP requests in flight at once [default: 16]
    #[arg(long, env = "CHAINX_MAX_CONCURRENT_REQUESTS", help_heading = "RPC")]
    pub max_concurrent_requests: Option<usize>,
    /// Calls per second, averaged over the run [default: unlimited]
    #[arg(long, env = "CHAINX_RPS", help_heading = "RPC")]
    pub rps: Option<f64>,
    /// Retries of a failed request (429, 5xx, timeouts, resets) before giving up [default: 6]
    #[arg(long, env = "CHAINX_MAX_RETRIES", help_heading = "RPC")]
    pub max_retries: Option<u32>,
    /// First retry delay in milliseconds; doubles per retry, with jitter [default: 250]
    #[arg(long, env = "CHAINX_RETRY_INITIAL_MS", help_heading = "RPC")]
    pub retry_initial_ms: Option<u64>,
    /// Timeout of one HTTP request in seconds [default: 30]
    #[arg(long, env = "CHAINX_REQUEST_TIMEOUT_SECS", help_heading = "RPC")]
    pub request_timeout_secs: Option<u64>,
    /// The largest reply read, in MiB; a larger one fails its request [default: 256]
    #[arg(long, env = "CHAINX_MAX_REPLY_MB", help_heading = "RPC")]
    pub max_reply_mb: Option<u64>,
    /// Node-as-a-service URL template with a {key} placeholder, e.g. https://mainnet.infura.io/v3/{key}
    #[arg(long, env = "CHAINX_PROVIDER_URL", help_heading = "API keys")]
    pub provider_url: Option<String>,
    /// Key pseudo-names, comma-separated; each secret comes from CHAINX_KEY_<NAME> or --secrets-file
    #[arg(long, env = "CHAINX_KEYS", value_delimiter = ',', help_heading = "API keys")]
    pub keys: Option<Vec<String>>,
    /// Calls (or, with --key-costs, credits) per second each key allows [default: 10]
    #[arg(long, env = "CHAINX_KEY_RPS", help_heading = "API keys")]
    pub key_rps: Option<u32>,
    /// Calls (or, with --key-costs, credits) per 24 h each key allows [default: 100000]
    #[arg(long, env = "CHAINX_KEY_DAILY", help_heading = "API keys")]
    pub key_daily: Option<u64>,
    /// What a call costs against the keys' budgets: calls, infura (credits) or alchemy
    /// (compute units); the config's [[providers]] method_costs overrides methods [default: calls]
    #[arg(long, env = "CHAINX_KEY_COSTS", help_heading = "API keys")]
    pub key_costs: Option<String>,
    /// File of `name = "secret"` lines, mode 0600
    #[arg(long, env = "CHAINX_SECRETS_FILE", help_heading = "API keys")]
    pub secrets_file: Option<std::path::PathBuf>,
    /// Redis URL shared by all replicas, so key limits hold across them [default: in-process, one replica]
    #[arg(long, env = "CHAINX_COORDINATOR", help_heading = "API keys", hide_env_values = true)]
    pub coordinator: Option<String>,
    /// shared: any replica uses any key within the shared limits; exclusive: each replica leases one key [default: shared]
    #[arg(long, env = "CHAINX_KEY_MODE", value_parser = ["shared", "exclusive"], help_heading = "API keys")]
    pub key_mode: Option<String>,
    /// Exclusive mode: seconds a lease lasts unless renewed; a crashed replica's key frees within it [default: 30]
    #[arg(long, env = "CHAINX_LEASE_TTL_SECS", help_heading = "API keys")]
    pub lease_ttl_secs: Option<u64>,
    /// Exclusive mode: seconds before a replica hands its key back and leases the least-used free one [default: 600]
    #[arg(long, env = "CHAINX_KEY_ROTATE_SECS", help_heading = "API keys")]
    pub key_rotate_secs: Option<u64>,
    /// Cassandra/ScyllaDB nodes (host:port,...) for the durable usage ledger: budgets survive restarts [default: none]
    #[arg(long, env = "CHAINX_USAGE_STORE", help_heading = "API keys")]
    pub usage_store: Option<String>,
    /// Append one JSON line per provider request here (key pseudo-name, method, batch size, status, latency)
    #[arg(long, env = "CHAINX_REQUEST_LOG", help_heading = "API keys")]
    pub request_log: Option<std::path::PathBuf>,
    /// This replica's name in the request log [default: HOSTNAME-pid]
    #[arg(long, env = "CHAINX_REPLICA_ID", help_heading = "API keys")]
    pub replica_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// First block, inclusive
    #[arg(long, env = "CHAINX_FROM", help_heading = "Range")]
    pub from: Option<u64>,
    /// Last block, inclusive
    #[arg(long, env = "CHAINX_TO", help_heading = "Range")]
    pub to: Option<u64>,
    #[command(flatten)]
    pub rpc: RpcArgs,
    /// Lake root: a folder, file://, hdfs://HOST:PORT/path or s3://BUCKET/path [default: ./lake]
    #[arg(long, env = "CHAINX_LAKE", help_heading = "Lake")]
    pub lake: Option<String>,
    /// Tables to land, comma-separated: blocks, transactions, decoded_calls, logs,
    /// token_transfers, decoded_events (logs and what is made of them need receipts), traces,
    /// contracts (one trace_block or debug_traceBlockByNumber call more per block; alone, blocks
    /// come as headers), tokens (four eth_calls per token created) [default: all but
    /// decoded_calls, traces, contracts and tokens; blocks and transactions with --no-receipts]
    #[arg(long, env = "CHAINX_TABLES", help_heading = "Tables", value_delimiter = ',')]
    pub tables: Option<Vec<String>>,
    /// Folder of <address>.json ABIs for decoded_calls and decoded_events, besides the built-in ones
    #[arg(long, env = "CHAINX_ABI_DIR", help_heading = "Tables")]
    pub abi_dir: Option<PathBuf>,
    /// Etherscan-compatible API for other contracts' ABIs, as the tx-decoder's; its key comes
    /// from CHAINX_ETHERSCAN_KEY
    #[arg(long, env = "CHAINX_ETHERSCAN_URL", help_heading = "Tables")]
    pub etherscan_url: Option<String>,
    /// Where fetched ABIs are cached [default: ~/.cache/chainx/abi]
    #[arg(long, env = "CHAINX_ABI_CACHE", help_heading = "Tables")]
    pub abi_cache: Option<PathBuf>,
    /// Skip receipts: one call per block instead of two; receipt_* columns stay null
    #[arg(long, env = "CHAINX_NO_RECEIPTS", help_heading = "Fetch", num_args = 0..=1, default_missing_value = "true")]
    pub no_receipts: Option<bool>,
    /// Blocks between two reads of the tables' coverage, so blocks other writers landed are not
    /// fetched again [default: 1000]
    #[arg(long, env = "CHAINX_CHUNK_BLOCKS", help_heading = "Fetch")]
    pub chunk_blocks: Option<u64>,
    /// Memory the run may use, in MiB, whatever the range and --chunk-blocks [default: 512]
    #[arg(long, env = "CHAINX_MAX_MEMORY_MB", help_heading = "Fetch")]
    pub max_memory: Option<u64>,
    /// A table commits once its files hold this many MiB of Parquet (the Delta and Spark norm);
    /// every table commits when the run ends [default: 128]
    #[arg(long, env = "CHAINX_TARGET_FILE_MB", help_heading = "Fetch")]
    pub target_file_mb: Option<u64>,
    /// Every table commits at least this often, in seconds, however small its files: what a
    /// kill can lose [default: 300]
    #[arg(long, env = "CHAINX_COMMIT_INTERVAL", help_heading = "Fetch")]
    pub commit_interval: Option<f64>,
    /// Blocks per HTTP request (batched JSON-RPC) [default: 10]
    #[arg(long, env = "CHAINX_BATCH_BLOCKS", help_heading = "Fetch")]
    pub batch_blocks: Option<usize>,
    /// Stop this many blocks below the head instead of at the node's `finalized` block (for
    /// nodes without the tag) [default: the finalized block]
    #[arg(
        long,
        env = "CHAINX_CONFIRMATIONS",
        help_heading = "Range",
        conflicts_with = "to_head"
    )]
    pub confirmations: Option<u64>,
    /// Land up to --to even past the finalized block (a dev chain; else the stream owns the tip)
    #[arg(long, env = "CHAINX_TO_HEAD", help_heading = "Range", num_args = 0..=1, default_missing_value = "true")]
    pub to_head: Option<bool>,
    /// Serve Prometheus metrics on this address while the backfill runs, e.g. 0.0.0.0:9100 [default: off]
    #[arg(long, env = "CHAINX_METRICS_ADDR", help_heading = "Metrics")]
    pub metrics_addr: Option<String>,
}

#[derive(Debug, Args)]
pub struct BlocksForDateArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The UTC day, YYYY-MM-DD
    #[arg(env = "CHAINX_DATE")]
    pub date: String,
    /// Accept a day the chain has not finished yet (its blocks so far)
    #[arg(long, env = "CHAINX_PARTIAL")]
    pub partial: bool,
    #[command(flatten)]
    pub rpc: RpcArgs,
}

#[derive(Debug, Subcommand)]
pub enum HiveCommand {
    /// Print the DDL: CREATE DATABASE, then CREATE TABLE per lake table (and MSCK REPAIR TABLE for parquet)
    Ddl(HiveArgs),
    /// Apply the DDL over HiveServer2 with beeline: creates what is missing, registers new partitions
    Sync(HiveSyncArgs),
}

#[derive(Debug, Args)]
pub struct HiveArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Lake root as Hive reaches it: a folder, file://, hdfs://HOST:PORT/path or s3://BUCKET/path [default: ./lake]
    #[arg(long, env = "CHAINX_LAKE", help_heading = "Hive")]
    pub lake: Option<String>,
    /// Hive database
    #[arg(long, env = "CHAINX_HIVE_DATABASE", default_value = "chainx", help_heading = "Hive")]
    pub database: String,
    /// `delta`: tables read through the Delta log (a Spark Thrift server with delta-spark): always
    /// exactly the committed rows. `parquet`: plain external tables over the folders, for engines
    /// without Delta; they also show uncommitted and replaced files until `lake vacuum`
    #[arg(long, env = "CHAINX_HIVE_FORMAT", default_value = "delta", help_heading = "Hive")]
    pub format: chainx_tables::hive::Format,
}

#[derive(Debug, Args)]
pub struct HiveSyncArgs {
    #[command(flatten)]
    pub hive: HiveArgs,
    /// HiveServer2 (or Spark Thrift server) HOST:PORT
    #[arg(long, env = "CHAINX_HIVESERVER2", help_heading = "Hive")]
    pub hiveserver2: String,
    /// The beeline client to run
    #[arg(long, env = "CHAINX_BEELINE", default_value = "beeline", help_heading = "Hive")]
    pub beeline: std::path::PathBuf,
    /// HiveServer2 user
    #[arg(long, env = "CHAINX_HIVE_USER", default_value = "chainx", help_heading = "Hive")]
    pub user: String,
}

#[derive(Debug, Subcommand)]
pub enum LakeCommand {
    /// Row counts, coverage and the first rows of each table
    Show(LakeShowArgs),
    /// Merge each partition's small files into one, then delete the replaced files (safe beside
    /// backfills, sinks, unwinds and other compactions)
    Compact(LakeCompactArgs),
    /// Delete data files no live version reads (replaced, or never committed) once older than
    /// the retention
    Vacuum(LakeVacuumArgs),
    /// Check coverage against rows, transaction_count against transaction rows and, with
    /// --rpc-url, the stored block hashes against the node's; exits 1 and lists bad ranges
    Verify(Box<LakeVerifyArgs>),
}

#[derive(Debug, Args)]
pub struct LakeVerifyArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Lake root: a folder, file://, hdfs://HOST:PORT/path or s3://BUCKET/path [default: ./lake]
    #[arg(long, env = "CHAINX_LAKE")]
    pub lake: Option<String>,
    /// Also compare every stored block hash with the node's (one call per block, batched)
    #[command(flatten)]
    pub rpc: RpcArgs,
}

#[derive(Debug, Args)]
pub struct LakeVacuumArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Lake root: a folder, file://, hdfs://HOST:PORT/path or s3://BUCKET/path [default: ./lake]
    #[arg(long, env = "CHAINX_LAKE")]
    pub lake: Option<String>,
    /// Keep unreferenced files younger than this: it must exceed the longest time a writer
    /// takes from writing a file to committing it, or vacuum deletes its files before it commits
    #[arg(long, env = "CHAINX_VACUUM_RETENTION_HOURS", default_value_t = 1.0)]
    pub retention_hours: f64,
    /// List what would be deleted, delete nothing
    #[arg(long, env = "CHAINX_VACUUM_DRY_RUN")]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct LakeCompactArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Lake root: a folder, file://, hdfs://HOST:PORT/path or s3://BUCKET/path [default: ./lake]
    #[arg(long, env = "CHAINX_LAKE")]
    pub lake: Option<String>,
    /// Size of the files it writes, in MiB; files of half this or more are left as they are
    #[arg(long, env = "CHAINX_TARGET_FILE_MB", default_value_t = 128)]
    pub target_file_mb: u64,
}

#[derive(Debug, Args)]
pub struct LakeShowArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Lake root: a folder, file://, hdfs://HOST:PORT/path or s3://BUCKET/path [default: ./lake]
    #[arg(long, env = "CHAINX_LAKE")]
    pub lake: Option<String>,
    /// Rows to print per table
    #[arg(long, env = "CHAINX_SHOW_ROWS", default_value_t = 3)]
    pub rows: usize,
}
