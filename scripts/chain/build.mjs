// Builds chainx's fixture chain: a deterministic activity mix on anvil, dumped so that tests
// reload it in about two seconds, plus a manifest of the counts tests must find in the lake.
//
//   node build.mjs OUT_DIR
//
// Writes OUT_DIR/state.json (anvil --load-state), OUT_DIR/manifest.json, OUT_DIR/calls.json
// (every contract call: tx hash, function, arguments) and OUT_DIR/abi/*.json.
// Everything is seeded: the same script and anvil version give the same block hashes.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync, readdirSync } from "node:fs";
import { createServer } from "node:net";
import { gunzipSync } from "node:zlib";
import path from "node:path";
import { fileURLToPath } from "node:url";
import solc from "solc";
import { ethers } from "ethers";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.resolve(process.argv[2] ?? path.join(HERE, "..", "..", ".chain"));
const BLOCKS = Number(process.env.CHAIN_BLOCKS ?? 600);
const GENESIS_TIME = 1709251200; // 2024-03-01T00:00:00Z
const BLOCK_SPACING = 600; // seconds: 600 blocks span five UTC days, so five block_date partitions
const MNEMONIC = "test test test test test test test test test test test junk"; // anvil's default
const GWEI = 10n ** 9n;

function anvilBinary() {
  const dir = path.join(HERE, "node_modules", "@foundry-rs");
  const platform = readdirSync(dir).find((d) => d.startsWith("anvil-"));
  if (!platform) throw new Error(`no anvil platform package under ${dir}: run npm ci in ${HERE}`);
  return path.join(dir, platform, "bin", "anvil");
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

function compile() {
  const dir = path.join(HERE, "contracts");
  const sources = {};
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".sol"))) {
    sources[f] = { content: readFileSync(path.join(dir, f), "utf8") };
  }
  const input = {
    language: "Solidity",
    sources,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "cancun",
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
    },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (out.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length) throw new Error(errors.map((e) => e.formattedMessage).join("\n"));
  const artifacts = {};
  for (const file of Object.values(out.contracts)) {
    for (const [name, c] of Object.entries(file)) {
      artifacts[name] = { abi: c.abi, bytecode: "0x" + c.evm.bytecode.object };
    }
  }
  return artifacts;
}

// Small seeded PRNG (mulberry32) so the activity mix is the same on every machine.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function main() {
  const artifacts = compile();
  const port = await freePort();
  const anvil = spawn(
    anvilBinary(),
    ["--port", String(port), "--host", "127.0.0.1", "--order", "fifo", "--no-mining",
     "--timestamp", String(GENESIS_TIME), "--chain-id", "31337", "--silent"],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  const url = `http://127.0.0.1:${port}`;
  let id = 0;
  const rpc = async (method, params = []) => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params }),
    });
    const body = await res.json();
    if (body.error) throw new Error(`${method}: ${JSON.stringify(body.error)}`);
    return body.result;
  };
  for (let i = 0; ; i++) {
    try { await rpc("eth_chainId"); break; } catch (e) {
      if (i > 200) throw new Error(`anvil did not start on ${url}: ${e}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  try {
    const wallets = [...Array(10).keys()].map((i) =>
      ethers.HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`));
    const nonces = wallets.map(() => 0);
    const rand = rng(20240301);
    const pick = (n) => Math.floor(rand() * n);
    const manifest = {
      chain_id: 31337,
      genesis_timestamp: GENESIS_TIME,
      block_spacing_seconds: BLOCK_SPACING,
      tx_kind: { native_token_transfer: 0, contract_deployment: 0, contract_interaction: 0 },
      transaction_type: { "0": 0, "1": 0, "2": 0 },
      native_to_contract_empty_input: 0,
      intended_reverts: 0,
      contracts: {},
    };

    let block = 0;
    let pending = [];
    // Every contract call as sent: calls.json lets tests check decoded arguments against it.
    const calls = [];
    const plain = (v) => (typeof v === "bigint" || typeof v === "number") ? v.toString()
      : Array.isArray(v) ? v.map(plain)
      : (typeof v === "string" && /^0x[0-9a-fA-F]{40}$/.test(v)) ? v.toLowerCase() : v;
    // Signs and sends one transaction; kind is classified here, from what we built, so the
    // manifest is independent of chainx's own classifier.
    const send = async (w, { to = null, data = "0x", value = 0n, gas = 300000n, type }) => {
      const wallet = wallets[w];
      const txType = type ?? pick(3);
      const tx = { chainId: 31337, nonce: nonces[w]++, to, data, value, gasLimit: gas, type: txType };
      if (txType === 0 || txType === 1) tx.gasPrice = 3n * GWEI + BigInt(pick(1000)) * 1000n;
      else { tx.maxFeePerGas = 5n * GWEI; tx.maxPriorityFeePerGas = BigInt(1 + pick(3)) * GWEI; }
      if (txType === 1) tx.accessList = to ? [{ address: to, storageKeys: [ethers.zeroPadValue("0x01", 32)] }] : [];
      const raw = await wallet.signTransaction(tx);
      // Sent one at a time: concurrent sends may reach anvil out of nonce order.
      pending.push(await rpc("eth_sendRawTransaction", [raw]));
      manifest.transaction_type[String(txType)]++;
      const kind = to === null ? "contract_deployment"
        : (data === "0x" || data === "") ? "native_token_transfer" : "contract_interaction";
      manifest.tx_kind[kind]++;
      return ethers.getCreateAddress({ from: wallet.address, nonce: tx.nonce });
    };
    const mine = async () => {
      const hashes = pending;
      block++;
      await rpc("evm_setNextBlockTimestamp", [GENESIS_TIME + block * BLOCK_SPACING]);
      await rpc("evm_mine");
      const b = await rpc("eth_getBlockByNumber", ["latest", false]);
      if (Number(b.number) !== block || b.transactions.length !== hashes.length) {
        const lost = hashes.filter((h) => !b.transactions.includes(h));
        throw new Error(`block ${block}: anvil dropped ${lost.length} of ${hashes.length} txs: ${lost.join(", ")}`);
      }
      pending = [];
    };

    const iface = (name) => new ethers.Interface(artifacts[name].abi);
    const deploy = (w, name, args = []) => {
      const data = ethers.concat([artifacts[name].bytecode, iface(name).encodeDeploy(args)]);
      return send(w, { data, gas: 3_000_000n, type: 2 });
    };
    const call = async (w, to, name, fn, args, extra = {}) => {
      const out = await send(w, { to, data: iface(name).encodeFunctionData(fn, args), ...extra });
      calls.push({ hash: pending[pending.length - 1], to: to.toLowerCase(), contract: name, function: fn, args: plain(args) });
      return out;
    };

    // Block 1: the protocol contracts.
    const supply = 10n ** 27n;
    const weth = await deploy(0, "WETH");
    const tokenA = await deploy(0, "Token", ["Alpha", "ALP", supply]);
    const tokenB = await deploy(0, "Token", ["Beta", "BET", supply]);
    const factory = await deploy(0, "UniswapV2Factory");
    await mine();
    // Block 2: router, approvals, wrapped ether for the WETH/ALP pool.
    const router = await deploy(0, "UniswapV2Router02", [factory, weth]);
    const MAX = ethers.MaxUint256;
    for (const t of [tokenA, tokenB]) await call(0, t, "Token", "approve", [router, MAX]);
    await call(0, weth, "WETH", "deposit", [], { value: 100n * 10n ** 18n });
    await call(0, weth, "WETH", "approve", [router, MAX]);
    await mine();
    // Block 3: pools (the factory creates pairs with CREATE2) and user funding.
    await call(0, router, "UniswapV2Router02", "addLiquidity", [tokenA, tokenB, 10n ** 24n, 2n * 10n ** 24n, wallets[0].address], { gas: 3_000_000n });
    await call(0, router, "UniswapV2Router02", "addLiquidity", [weth, tokenA, 50n * 10n ** 18n, 10n ** 23n, wallets[0].address], { gas: 3_000_000n });
    for (let u = 1; u < 10; u++) {
      await call(0, tokenA, "Token", "transfer", [wallets[u].address, 10n ** 22n]);
      await call(0, tokenB, "Token", "transfer", [wallets[u].address, 10n ** 22n]);
    }
    await mine();
    // Block 4: users approve the router.
    for (let u = 1; u < 10; u++) {
      await call(u, tokenA, "Token", "approve", [router, MAX]);
      await call(u, tokenB, "Token", "approve", [router, MAX]);
    }
    await mine();
    manifest.contracts = Object.fromEntries(
      Object.entries({ weth, token_a: tokenA, token_b: tokenB, factory, router }).map(([k, v]) => [k, v.toLowerCase()]));

    // The mix: every seventh block is empty; the others hold 1..14 transactions.
    let deployed = 0;
    while (block < BLOCKS) {
      const n = (block + 1) % 7 === 0 ? 0 : 1 + pick(14);
      for (let i = 0; i < n; i++) {
        const from = 1 + pick(9);
        const other = wallets[1 + ((from + pick(8)) % 9)].address;
        const r = rand();
        const deadline = GENESIS_TIME + 10 ** 8;
        if (r < 0.28) {
          // value with all digits significant: exact wei amounts must survive the lake
          const value = BigInt(1 + pick(1_000_000)) * 10n ** 12n + BigInt(pick(999_999_937));
          // 30000 gas: a type-1 transfer pays 4300 more for its access list
          await send(from, { to: other, value, gas: 30000n });
        } else if (r < 0.34) {
          manifest.native_to_contract_empty_input++;
          await send(from, { to: weth, value: BigInt(1 + pick(1000)) * 10n ** 15n, gas: 60000n });
        } else if (r < 0.52) {
          await call(from, pick(2) ? tokenA : tokenB, "Token", "transfer", [other, BigInt(1 + pick(10 ** 6)) * 10n ** 12n]);
        } else if (r < 0.66) {
          const [a, b] = pick(2) ? [tokenA, tokenB] : [tokenB, tokenA];
          await call(from, router, "UniswapV2Router02", "swapExactTokensForTokens",
            [BigInt(1 + pick(1000)) * 10n ** 15n, 0n, [a, b], wallets[from].address, deadline]);
        } else if (r < 0.76) {
          await call(from, router, "UniswapV2Router02", "swapExactETHForTokens",
            [0n, [weth, tokenA], wallets[from].address, deadline], { value: BigInt(1 + pick(100)) * 10n ** 14n });
        } else if (r < 0.81) {
          deployed++;
          await deploy(from, "Token", [`Token${deployed}`, `T${deployed}`, BigInt(1 + pick(1000)) * 10n ** 21n]);
        } else if (r < 0.91) {
          // reverts on purpose: more than the sender holds (a receipt with status 0)
          manifest.intended_reverts++;
          await call(from, tokenB, "Token", "transfer", [other, 10n ** 30n], { gas: 100000n });
        } else {
          await call(from, pick(2) ? tokenA : tokenB, "Token", "approve", [other, BigInt(pick(10 ** 9))]);
        }
      }
      await mine();
    }

    // Outcomes read back from the node: failed receipts and per-day block counts.
    let failed = 0;
    let txs = 0;
    const byDate = {};
    for (let n = 0; n <= block; n++) {
      const b = await rpc("eth_getBlockByNumber", ["0x" + n.toString(16), false]);
      const date = new Date(Number(b.timestamp) * 1000).toISOString().slice(0, 10);
      byDate[date] = byDate[date] ?? { blocks: 0, transactions: 0 };
      byDate[date].blocks++;
      byDate[date].transactions += b.transactions.length;
      txs += b.transactions.length;
      const receipts = await rpc("eth_getBlockReceipts", ["0x" + n.toString(16)]);
      failed += receipts.filter((r) => r.status === "0x0").length;
    }
    const last = await rpc("eth_getBlockByNumber", ["latest", false]);
    Object.assign(manifest, {
      first_block: 0,
      last_block: block,
      block_count: block + 1,
      transaction_count: txs,
      receipt_status_failed: failed,
      by_date: byDate,
      last_block_hash: last.hash,
    });
    const sum = Object.values(manifest.tx_kind).reduce((a, b) => a + b, 0);
    if (sum !== txs) throw new Error(`manifest counts ${sum} txs but the chain holds ${txs}`);

    mkdirSync(path.join(OUT, "abi"), { recursive: true });
    const dump = await rpc("anvil_dumpState");
    writeFileSync(path.join(OUT, "state.json"), gunzipSync(Buffer.from(dump.slice(2), "hex")));
    writeFileSync(path.join(OUT, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
    writeFileSync(path.join(OUT, "calls.json"), JSON.stringify(calls) + "\n");
    for (const [name, a] of Object.entries(artifacts)) {
      writeFileSync(path.join(OUT, "abi", `${name}.json`), JSON.stringify(a.abi, null, 2) + "\n");
    }
    console.log(`fixture chain: ${block + 1} blocks, ${txs} txs, ${failed} failed -> ${OUT}`);
  } finally {
    anvil.kill("SIGKILL");
  }
}

main().catch((e) => {
  console.error(`chain build failed: ${e.stack ?? e}`);
  process.exit(1);
});
