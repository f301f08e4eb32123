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
    const ethCall = async (to, name, fn, args = []) => {
      const data = iface(name).encodeFunctionData(fn, args);
      const out = await rpc("eth_call", [{ to, data }, "latest"]);
      return iface(name).decodeFunctionResult(fn, out);
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
    // Block 5: an ERC-721, an ERC-1155, an Aave-shaped pool, an early-style token and a beacon
    // of anonymous events.
    const collectible = await deploy(0, "Collectible");
    const multi = await deploy(0, "MultiToken");
    const pool = await deploy(0, "LendingPool");
    const oldToken = await deploy(0, "OldToken", [supply]);
    const beacon = await deploy(0, "Beacon");
    await mine();
    // Block 6: the pool's reserves, users' allowances for it, and early tokens for everyone.
    for (const t of [tokenA, tokenB]) {
      await call(0, t, "Token", "approve", [pool, MAX]);
      await call(0, pool, "LendingPool", "supply", [t, 10n ** 25n, wallets[0].address, 0]);
    }
    for (let u = 1; u < 10; u++) {
      await call(u, tokenA, "Token", "approve", [pool, MAX]);
      await call(u, tokenB, "Token", "approve", [pool, MAX]);
      await call(0, oldToken, "OldToken", "transfer", [wallets[u].address, 10n ** 22n]);
    }
    await mine();
    const pairAB = (await ethCall(factory, "UniswapV2Factory", "getPair", [tokenA, tokenB]))[0];
    const pairWA = (await ethCall(factory, "UniswapV2Factory", "getPair", [weth, tokenA]))[0];
    manifest.contracts = Object.fromEntries(
      Object.entries({ weth, token_a: tokenA, token_b: tokenB, factory, router, pair_ab: pairAB, pair_weth_a: pairWA,
        collectible, multi_token: multi, lending_pool: pool, old_token: oldToken, beacon })
        .map(([k, v]) => [k, v.toLowerCase()]));
    // Who holds what, so that transfers the mix sends succeed.
    const nftOwner = new Map(); // id -> wallet
    let nfts = 0;
    const held = new Map(); // `${id}/${wallet}` -> amount of ERC-1155 id
    const hold = (id, w, d) => held.set(`${id}/${w}`, (held.get(`${id}/${w}`) ?? 0n) + d);
    const holding = (id, w) => held.get(`${id}/${w}`) ?? 0n;
    const tokens = [tokenA, tokenB, weth];
    const erc20s = new Set([tokenA, tokenB, weth, oldToken].map((a) => a.toLowerCase()));

    // The mix: every seventh block is empty; the others hold 1..14 transactions.
    let deployed = 0;
    while (block < BLOCKS) {
      const n = (block + 1) % 7 === 0 ? 0 : 1 + pick(14);
      for (let i = 0; i < n; i++) {
        const from = 1 + pick(9);
        const other = wallets[1 + ((from + pick(8)) % 9)].address;
        const r = rand();
        const deadline = GENESIS_TIME + 10 ** 8;
        if (r < 0.22) {
          // value with all digits significant: exact wei amounts must survive the lake
          const value = BigInt(1 + pick(1_000_000)) * 10n ** 12n + BigInt(pick(999_999_937));
          // 30000 gas: a type-1 transfer pays 4300 more for its access list
          await send(from, { to: other, value, gas: 30000n });
        } else if (r < 0.27) {
          manifest.native_to_contract_empty_input++;
          await send(from, { to: weth, value: BigInt(1 + pick(1000)) * 10n ** 15n, gas: 60000n });
        } else if (r < 0.42) {
          await call(from, pick(2) ? tokenA : tokenB, "Token", "transfer", [other, BigInt(1 + pick(10 ** 6)) * 10n ** 12n]);
        } else if (r < 0.54) {
          const [a, b] = pick(2) ? [tokenA, tokenB] : [tokenB, tokenA];
          await call(from, router, "UniswapV2Router02", "swapExactTokensForTokens",
            [BigInt(1 + pick(1000)) * 10n ** 15n, 0n, [a, b], wallets[from].address, deadline]);
        } else if (r < 0.62) {
          await call(from, router, "UniswapV2Router02", "swapExactETHForTokens",
            [0n, [weth, tokenA], wallets[from].address, deadline], { value: BigInt(1 + pick(100)) * 10n ** 14n });
        } else if (r < 0.79) {
          // A swap straight on the pair, as bots do: the input sent to it, then `swap` for half
          // of what the reserves of the last block would pay (slack for the block's other swaps).
          const aIn = pick(2) === 1;
          const [r0, r1] = await ethCall(pairAB, "UniswapV2Pair", "getReserves");
          const zeroIn = (aIn ? tokenA : tokenB).toLowerCase() < (aIn ? tokenB : tokenA).toLowerCase();
          const amountIn = BigInt(1 + pick(1000)) * 10n ** 15n;
          const [rIn, rOut] = zeroIn ? [r0, r1] : [r1, r0];
          const out = (amountIn * 997n * rOut) / (rIn * 1000n + amountIn * 997n) / 2n;
          await call(from, aIn ? tokenA : tokenB, "Token", "transfer", [pairAB, amountIn]);
          await call(from, pairAB, "UniswapV2Pair", "swap", zeroIn ? [0n, out, wallets[from].address] : [out, 0n, wallets[from].address]);
        } else if (r < 0.82) {
          deployed++;
          erc20s.add((await deploy(from, "Token", [`Token${deployed}`, `T${deployed}`, BigInt(1 + pick(1000)) * 10n ** 21n])).toLowerCase());
        } else if (r < 0.87) {
          // reverts on purpose: more than the sender holds (a receipt with status 0)
          manifest.intended_reverts++;
          await call(from, tokenB, "Token", "transfer", [other, 10n ** 30n], { gas: 100000n });
        } else if (r < 0.89) {
          await call(from, pick(2) ? tokenA : tokenB, "Token", "approve", [other, BigInt(pick(10 ** 9))]);
        } else if (r < 0.915) {
          const mine721 = [...nftOwner].filter(([, w]) => w === from).map(([id]) => id);
          if (mine721.length === 0 || pick(3) === 0) {
            nftOwner.set(++nfts, from);
            await call(from, collectible, "Collectible", "mint", [wallets[from].address]);
          } else {
            const id = mine721[pick(mine721.length)];
            const to = 1 + ((from + pick(8)) % 9);
            nftOwner.set(id, to);
            await call(from, collectible, "Collectible", "transferFrom", [wallets[from].address, wallets[to].address, id]);
          }
        } else if (r < 0.94) {
          const ids = [1n, 2n, 3n];
          const to = 1 + ((from + pick(8)) % 9);
          const op = pick(4);
          if (op === 0 || ids.every((id) => holding(id, from) === 0n)) {
            const id = ids[pick(3)];
            hold(id, from, 10n);
            await call(from, multi, "MultiToken", "mint", [wallets[from].address, id, 10n]);
          } else if (op === 1) {
            ids.forEach((id, i) => hold(id, from, BigInt(i + 1)));
            await call(from, multi, "MultiToken", "mintBatch", [wallets[from].address, ids, [1n, 2n, 3n]]);
          } else if (op === 2) {
            const id = ids.find((id) => holding(id, from) > 0n);
            hold(id, from, -1n);
            hold(id, to, 1n);
            await call(from, multi, "MultiToken", "safeTransferFrom", [wallets[from].address, wallets[to].address, id, 1n, "0x"]);
          } else {
            const some = ids.filter((id) => holding(id, from) > 0n);
            some.forEach((id) => { hold(id, from, -1n); hold(id, to, 1n); });
            await call(from, multi, "MultiToken", "safeBatchTransferFrom",
              [wallets[from].address, wallets[to].address, some, some.map(() => 1n), "0x"]);
          }
        } else if (r < 0.975) {
          const asset = pick(2) ? tokenA : tokenB;
          const amount = BigInt(1 + pick(1000)) * 10n ** 15n;
          const op = pick(4);
          if (op === 0) {
            await call(from, pool, "LendingPool", "supply", [asset, amount, wallets[from].address, 0]);
          } else if (op === 1) {
            await call(from, pool, "LendingPool", "borrow", [asset, amount, 2n, 0, wallets[from].address]);
          } else if (op === 2) {
            await call(from, pool, "LendingPool", "repay", [asset, amount, 2n, wallets[from].address]);
          } else {
            const collateral = asset === tokenA ? tokenB : tokenA;
            await call(from, pool, "LendingPool", "liquidationCall", [collateral, asset, other, amount, false]);
          }
        } else if (r < 0.985) {
          await call(from, oldToken, "OldToken", "transfer", [other, BigInt(1 + pick(10 ** 6)) * 10n ** 12n]);
        } else if (r < 0.995) {
          await call(from, beacon, "Beacon", "ping", []);
        } else {
          // emits, then reverts: the log is rolled back with the transaction
          manifest.intended_reverts++;
          await call(from, beacon, "Beacon", "pingThenRevert", [], { gas: 100000n });
        }
      }
      await mine();
    }

    // Events read back from the node's receipts, decoded with ethers and the contracts' own ABIs
    // (an oracle apart from chainx's decoder): counts per event signature, token transfers per
    // standard (an ERC-1155 batch counts its ids), swaps per pair, liquidations per collateral.
    Object.assign(manifest, {
      logs: 0, events: {}, anonymous_logs: 0,
      token_transfers: { erc20: 0, erc721: 0, erc1155: 0 },
      swaps_by_pair: {}, liquidations_by_collateral: {},
    });
    const ifaces = new Map([[weth, "WETH"], [tokenA, "Token"], [tokenB, "Token"], [factory, "UniswapV2Factory"],
      [pairAB, "UniswapV2Pair"], [pairWA, "UniswapV2Pair"], [collectible, "Collectible"], [multi, "MultiToken"],
      [pool, "LendingPool"], [oldToken, "OldToken"], [beacon, "Beacon"]].map(([a, n]) => [a.toLowerCase(), iface(n)]));
    const tokenIface = iface("Token");
    const bump = (o, k, by = 1) => { o[k] = (o[k] ?? 0) + by; };
    const count = (log) => {
      manifest.logs++;
      const address = log.address.toLowerCase();
      const parsed = (ifaces.get(address) ?? tokenIface).parseLog(log);
      if (!parsed) {
        if (address === beacon.toLowerCase()) manifest.anonymous_logs++;
        return;
      }
      bump(manifest.events, parsed.signature);
      if (parsed.name === "Transfer") bump(manifest.token_transfers, erc20s.has(address) ? "erc20" : "erc721");
      if (parsed.name === "TransferSingle") bump(manifest.token_transfers, "erc1155");
      if (parsed.name === "TransferBatch") bump(manifest.token_transfers, "erc1155", parsed.args.ids.length);
      if (parsed.name === "Swap") bump(manifest.swaps_by_pair, address);
      if (parsed.name === "LiquidationCall") bump(manifest.liquidations_by_collateral, parsed.args.collateralAsset.toLowerCase());
    };
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
      for (const log of receipts.flatMap((r) => r.logs)) count(log);
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
