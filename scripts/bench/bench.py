"""chainx backfill versus cryo and ethereum-etl on the fixture chain, in the same run.

Each tool lands blocks + transactions for the whole fixture chain; chainx also with its default
tables (plus logs, token transfers and decoded events, from the same receipts) and cryo also with
its logs dataset. Two nodes serve it:
- anvil, loaded with the fixture chain: what a user runs against; on a small machine the node's
  own CPU (decoding blocks, recovering senders) bounds every tool;
- a replay node (testkit's replay_node) answering from memory with anvil's recorded replies, so
  that the tools' own costs (requests, parsing, encoding, writing) decide.
Wall time is the median of --runs runs; provider requests are counted in one further run per
tool through a counting proxy in front of anvil (JSON-RPC calls, what providers bill, and HTTP
requests), which also records the replies the replay node serves. Prints ratios against cryo.

Traces: chainx's traces (and traces, contracts and tokens) against cryo's traces dataset, on
anvil, with their calls per block.

Mainnet shape: testkit's mainnet_node serves 2,000 blocks shaped like mainnet's (150
transactions, ~345 logs, 0.9 MB of JSON each), rendered before it listens and served from
memory; chainx and cryo land blocks +
transactions (with receipts) from it, and mainnet_node's `floor` downloads the same replies as
the backfill asks them and throws them away (what no client can beat on this node). Wall time
and peak RSS (`/usr/bin/time -v`) of each.

Streaming (streaming.py): head-to-topic latency of the block clock against ethereum-etl's
`stream`, the sink's rows/s on one core, and a simulated day at the head.

    python bench.py --chainx target/release/chainx --replay-node target/release/replay_node \
        --anvil PATH --state .chain/state.json
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import streaming


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rpc(url, method, params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, body, {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)["result"]


def start_anvil(binary, state):
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--host", "127.0.0.1", "--port", str(port), "--order", "fifo", "--silent", "--load-state", state],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            return proc, url, int(rpc(url, "eth_blockNumber", []), 16)
        except OSError:
            if time.time() > deadline:
                proc.kill()
                sys.exit(f"anvil did not start on {url}")
            time.sleep(0.05)


class CountingProxy:
    """Forwards JSON-RPC to upstream and counts HTTP requests and calls (batch items)."""

    def __init__(self, upstream, recording):
        host_port = upstream.split("//")[1]
        self.calls = 0
        self.http = 0
        self.lock = threading.Lock()
        proxy = self
        local = threading.local()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                doc = json.loads(body)
                with proxy.lock:
                    proxy.http += 1
                    proxy.calls += len(doc) if isinstance(doc, list) else 1
                if not hasattr(local, "conn"):
                    local.conn = http.client.HTTPConnection(host_port)
                local.conn.request("POST", "/", body, {"content-type": "application/json"})
                reply = local.conn.getresponse().read()
                calls = doc if isinstance(doc, list) else [doc]
                answers = json.loads(reply)
                answers = answers if isinstance(answers, list) else [answers]
                by_id = {a.get("id"): a for a in answers}
                for c in calls:
                    a = by_id.get(c.get("id"))
                    if a is not None and "result" in a:
                        key = c["method"] + "|" + json.dumps(c.get("params"), separators=(",", ":"))  # absent: null, as the replay node sees it
                        recording[key] = a["result"]
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def run_chainx(binary, receipts, tables=None):
    def run(url, out):
        cmd = [binary, "backfill", "--to-head", "--rpc-url", url, "--from", "0", "--to", str(LAST), "--lake", out]
        if not receipts:
            cmd.append("--no-receipts")
        if tables:
            cmd += ["--tables", tables]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, "CHAINX_LOG": "warn"})
    return run


def run_cryo_datasets(datasets):
    def run(url, out):
        # In a subprocess so each run pays the same start-up as the CLI tools.
        code = (
            "import cryo; cryo.freeze(%r, blocks=['0:%d'], rpc=%r, output_dir=%r, no_verbose=True)"
            % (datasets, LAST + 1, url, out)
        )
        subprocess.run([PYTHON, "-c", code], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return run


run_cryo = run_cryo_datasets(["blocks", "transactions"])


def run_etl(url, out):
    subprocess.run(
        [os.path.join(os.path.dirname(PYTHON), "ethereumetl"), "export_blocks_and_transactions",
         "--start-block", "0", "--end-block", str(LAST), "--provider-uri", url,
         "--blocks-output", os.path.join(out, "blocks.csv"), "--transactions-output", os.path.join(out, "transactions.csv")],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def timed(name, fn, url):
    """Seconds for one run. A peer killed by a signal (cryo 0.3.2 segfaults now and then) is run
    again, at most twice, and reported; chainx is never retried."""
    for attempt in range(3):
        out = tempfile.mkdtemp(prefix=f"bench-{name.split()[0]}-")
        start = time.perf_counter()
        try:
            fn(url, out)
            return time.perf_counter() - start
        except subprocess.CalledProcessError as e:
            if name.startswith("chainx") or e.returncode >= 0 or attempt == 2:
                raise
            print(f"note: {name} died with signal {-e.returncode}; running it again", file=sys.stderr)
        finally:
            shutil.rmtree(out, ignore_errors=True)


def median_seconds(name, fn, url, runs):
    return statistics.median(timed(name, fn, url) for _ in range(runs))


def count_requests(name, fn, anvil_url, recording):
    proxy = CountingProxy(anvil_url, recording)
    out = tempfile.mkdtemp(prefix=f"bench-{name.split()[0]}-")
    fn(proxy.url, out)
    shutil.rmtree(out)
    proxy.stop()
    return proxy.calls, proxy.http


def start_replay(binary, recording):
    path = os.path.join(tempfile.mkdtemp(prefix="bench-replay-"), "recording.jsonl")
    with open(path, "w") as f:
        for key, result in recording.items():
            f.write(json.dumps({"key": key, "result": result}) + "\n")
    proc = subprocess.Popen([binary, path], stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def budget_use(args, keys=4, rps=10, last=299):
    """chainx with m keys at rps each through the NaaS gateway: calls per second achieved over
    m x rps, and the 429s the gateway had to send (target: >= 90% and none)."""
    proc, url, _ = start_anvil(args.anvil, args.state)
    secrets = [f"bench-secret-{i}-{os.urandom(6).hex()}" for i in range(keys)]
    gateway = subprocess.Popen([args.naas_gateway, url] + [f"{s}:{rps}:100000" for s in secrets],
                               stdout=subprocess.PIPE, text=True)
    try:
        base = gateway.stdout.readline().strip()
        env = {**os.environ, "CHAINX_LOG": "warn", **{f"CHAINX_KEY_BENCH_{i}": s for i, s in enumerate(secrets)}}
        out = tempfile.mkdtemp(prefix="bench-keys-")
        start = time.perf_counter()
        subprocess.run(
            [args.chainx, "backfill", "--to-head", "--provider-url", base + "/v3/{key}",
             "--keys", ",".join(f"bench_{i}" for i in range(keys)), "--key-rps", str(rps),
             "--from", "0", "--to", str(last), "--lake", out],
            check=True, env=env, stdout=subprocess.DEVNULL,
        )
        elapsed = time.perf_counter() - start
        shutil.rmtree(out)
        req = urllib.request.Request(base + "/stats", b"{}", {"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            stats = json.load(r)
    finally:
        gateway.kill()
        proc.kill()
    calls = sum(k["served"] for k in stats)
    return {
        "keys": keys, "rps": rps, "calls": calls, "seconds": elapsed,
        "use": calls / (elapsed * keys * rps),
        "rejected": sum(k["rejected"] for k in stats),
        "peak_per_second": max(k["peak_per_second"] for k in stats),
    }


def peak_rss_mb(log):
    for line in log.splitlines():
        if "Maximum resident set size" in line:
            return int(line.split()[-1]) / 1024
    return None


def mainnet_shape(args, blocks=2000, first=18_000_000):
    """chainx and cryo against the mainnet-shaped node, and the node's transfer floor."""
    last = first + blocks - 1
    # Rendered before it listens, then served as text: the clients' costs decide, not the node's.
    node = subprocess.Popen([args.mainnet_node, "rendered", str(first), str(last)], stdout=subprocess.PIPE, text=True)
    url = node.stdout.readline().strip()
    timer = shutil.which("time") or "/usr/bin/time"
    results = []

    def measure(name, cmd, env=None, into=results):
        out = tempfile.mkdtemp(prefix="bench-mainnet-")
        start = time.perf_counter()
        done = subprocess.run([timer, "-v"] + cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, **(env or {})})
        seconds = time.perf_counter() - start
        shutil.rmtree(out, ignore_errors=True)
        if done.returncode != 0:
            sys.exit(f"{name} failed on the mainnet-shaped node:\n{done.stderr[-2000:]}")
        into.append({"tool": name, "seconds": seconds, "peak_rss_mb": peak_rss_mb(done.stderr)})

    traces = []
    try:
        chainx = lambda tables: lambda out: [args.chainx, "backfill", "--to-head", "--rpc-url", url, "--from",
                                             str(first), "--to", str(last), "--lake", out, "--tables", tables]
        measure("chainx blocks+transactions", chainx("blocks,transactions"), {"CHAINX_LOG": "warn"})
        measure("chainx default tables (+ logs, transfers, events)",
                chainx("blocks,transactions,logs,token_transfers,decoded_events"), {"CHAINX_LOG": "warn"})
        code = ("import cryo; cryo.freeze(['blocks', 'transactions'], blocks=['%d:%d'], rpc=%r, output_dir=%s, "
                "no_verbose=True)")
        measure("cryo blocks+transactions", lambda out: [PYTHON, "-c", code % (first, last + 1, url, repr(out))])
        # Traces (the node makes them as it is asked, about 440 a block): chainx's header and
        # trace_block per block against cryo's trace_block alone.
        measure("chainx traces", chainx("traces"), {"CHAINX_LOG": "warn"}, traces)
        code = "import cryo; cryo.freeze(['traces'], blocks=['%d:%d'], rpc=%r, output_dir=%s, no_verbose=True)"
        measure("cryo traces", lambda out: [PYTHON, "-c", code % (first, last + 1, url, repr(out))], into=traces)
        floor = subprocess.run([args.mainnet_node, "floor", url, str(first), str(last)],
                               check=True, capture_output=True, text=True).stdout
        floor = json.loads(floor.strip().splitlines()[-1])
        results.append({"tool": "transfer floor (download the same replies, discard)", "seconds": floor["seconds"],
                        "peak_rss_mb": None, "bytes": floor["bytes"]})
    finally:
        node.kill()
    return {"blocks": blocks, "results": results, "traces": traces}


def table(title, results, blocks, with_requests):
    cryo = next(r for r in results if r["tool"].startswith("cryo"))["seconds"]
    print(f"\n{title}\n")
    head = f"{'tool':<46} {'wall s':>8} {'x cryo':>7}"
    if with_requests:
        head += f" {'calls':>7} {'calls/block':>11} {'HTTP req':>9}"
    print(head)
    for r in results:
        line = f"{r['tool']:<46} {r['seconds']:>8.3f} {r['seconds'] / cryo:>7.2f}"
        if with_requests:
            line += f" {r['calls']:>7} {r['calls'] / blocks:>11.2f} {r['http']:>9}"
        print(line)


def main():
    global LAST, PYTHON
    ap = argparse.ArgumentParser()
    ap.add_argument("--chainx", required=True)
    ap.add_argument("--replay-node", required=True)
    ap.add_argument("--naas-gateway", required=True)
    ap.add_argument("--anvil", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--head-latency", help="testkit's head_latency binary (streaming benchmark)")
    ap.add_argument("--latency-blocks", type=int, default=60)
    ap.add_argument("--sink-throughput", help="testkit's sink_throughput binary")
    ap.add_argument("--sink-transactions", type=int, default=1_000_000)
    ap.add_argument("--simulated-day", help="testkit's simulated_day binary")
    ap.add_argument("--day-blocks", type=int, default=7200)
    ap.add_argument("--day-pace-ms", type=int, default=50)
    ap.add_argument("--mainnet-node", help="testkit's mainnet_node binary (mainnet-shaped runs)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    PYTHON = sys.executable
    tools = [
        ("chainx blocks+transactions", run_chainx(args.chainx, True, "blocks,transactions")),
        ("chainx + logs, token_transfers, decoded_events", run_chainx(args.chainx, True)),
        ("chainx --no-receipts", run_chainx(args.chainx, False)),
        ("cryo blocks+transactions", run_cryo),
        ("cryo blocks+transactions+logs", run_cryo_datasets(["blocks", "transactions", "logs"])),
        ("ethereum-etl export_blocks_and_transactions", run_etl),
    ]
    # Traces: chainx's header + trace_block per block (plus four eth_calls a token) against
    # cryo's traces dataset (trace_block alone: its rows carry no block timestamp).
    trace_tools = [
        ("chainx traces", run_chainx(args.chainx, True, "traces")),
        ("chainx traces,contracts,tokens", run_chainx(args.chainx, True, "traces,contracts,tokens")),
        ("cryo traces", run_cryo_datasets(["traces"])),
    ]
    proc, url, LAST = start_anvil(args.anvil, args.state)
    blocks = LAST + 1
    recording = {}
    on_anvil = []
    traces_on_anvil = []
    try:
        for name, fn in tools:
            seconds = median_seconds(name, fn, url, args.runs)
            calls, http_requests = count_requests(name, fn, url, recording)
            on_anvil.append({"tool": name, "seconds": seconds, "calls": calls, "http": http_requests})
        for name, fn in trace_tools:
            seconds = median_seconds(name, fn, url, args.runs)
            calls, http_requests = count_requests(name, fn, url, {})
            traces_on_anvil.append({"tool": name, "seconds": seconds, "calls": calls, "http": http_requests})
    finally:
        proc.kill()
    replay, replay_url = start_replay(args.replay_node, recording)
    try:
        on_replay = [{"tool": name, "seconds": median_seconds(name, fn, replay_url, args.runs)} for name, fn in tools]
    finally:
        replay.kill()
    mainnet = mainnet_shape(args) if args.mainnet_node else None
    budget = budget_use(args)
    latency = streaming.head_latency(args, PYTHON) if args.head_latency else []
    sink = streaming.sink_throughput(args) if args.sink_throughput else None
    day = streaming.simulated_day(args) if args.simulated_day else None
    print(f"\nfixture chain: {blocks} blocks, same data, same run; median of {args.runs} runs each")
    table("served by anvil (node-bound: anvil's CPU per run is the same for every tool)", on_anvil, blocks, True)
    table("served by the replay node (client-bound: the tools' own costs)", on_replay, blocks, False)
    table("traces, served by anvil (target: at most 3 calls per block)", traces_on_anvil, blocks, True)
    if mainnet:
        res = mainnet["results"]
        cryo = next(r for r in res if r["tool"].startswith("cryo"))["seconds"]
        floor = res[-1]
        print(f"\nmainnet-shaped node: {mainnet['blocks']} blocks, {floor['bytes'] / 1e9:.2f} GB of JSON "
              f"(blocks + receipts); one run each\n")
        print(f"{'tool':<52} {'wall s':>8} {'x cryo':>7} {'x floor':>8} {'peak RSS MB':>12}")
        for r in res:
            rss = f"{r['peak_rss_mb']:.0f}" if r["peak_rss_mb"] else "-"
            print(f"{r['tool']:<52} {r['seconds']:>8.2f} {r['seconds'] / cryo:>7.2f} "
                  f"{r['seconds'] / floor['seconds']:>8.2f} {rss:>12}")
        cryo_traces = mainnet["traces"][-1]["seconds"]
        print(f"\n{'traces':<52} {'wall s':>8} {'x cryo':>7} {'peak RSS MB':>12}")
        for r in mainnet["traces"]:
            rss = f"{r['peak_rss_mb']:.0f}" if r["peak_rss_mb"] else "-"
            print(f"{r['tool']:<52} {r['seconds']:>8.2f} {r['seconds'] / cryo_traces:>7.2f} {rss:>12}")
    print(f"\nkey budget use through the NaaS gateway ({budget['keys']} keys x {budget['rps']} rps): "
          f"{budget['calls']} calls in {budget['seconds']:.1f} s = {budget['use']:.0%} of the budget "
          f"(target >= 90%), {budget['rejected']} 429s, peak {budget['peak_per_second']} calls/s on one key")
    if latency:
        streaming.print_latency(latency, args.latency_blocks)
    if sink:
        streaming.print_sink(sink)
    if day:
        streaming.print_day(day)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"blocks": blocks, "anvil": on_anvil, "replay": on_replay, "traces": traces_on_anvil,
                       "budget": budget,
                       "head_latency": latency, "sink": sink, "simulated_day": day,
                       "mainnet": mainnet}, f, indent=2)


if __name__ == "__main__":
    main()
