"""chainx backfill versus cryo and ethereum-etl on the fixture chain, in the same run.

Each tool lands blocks + transactions for the whole fixture chain from the same anvil node.
Wall time is the median of --runs runs straight against anvil; provider requests are counted in
one further run through a counting proxy (JSON-RPC calls, what providers bill, and HTTP requests).
Prints a table and the ratios against cryo.

    python bench.py --chainx target/release/chainx --anvil PATH --state .chain/state.json
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

    def __init__(self, upstream):
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


def run_chainx(binary, receipts):
    def run(url, out):
        cmd = [binary, "backfill", "--rpc-url", url, "--from", "0", "--to", str(LAST), "--lake", out]
        if not receipts:
            cmd.append("--no-receipts")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, "CHAINX_LOG": "warn"})
    return run


def run_cryo(url, out):
    # In a subprocess so each run pays the same start-up as the CLI tools.
    code = (
        "import cryo; cryo.freeze(['blocks', 'transactions'], blocks=['0:%d'], rpc=%r, output_dir=%r, no_verbose=True)"
        % (LAST + 1, url, out)
    )
    subprocess.run([PYTHON, "-c", code], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_etl(url, out):
    subprocess.run(
        [os.path.join(os.path.dirname(PYTHON), "ethereumetl"), "export_blocks_and_transactions",
         "--start-block", "0", "--end-block", str(LAST), "--provider-uri", url,
         "--blocks-output", os.path.join(out, "blocks.csv"), "--transactions-output", os.path.join(out, "transactions.csv")],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def measure(name, fn, anvil_url, runs):
    times = []
    for _ in range(runs):
        out = tempfile.mkdtemp(prefix=f"bench-{name}-")
        start = time.perf_counter()
        fn(anvil_url, out)
        times.append(time.perf_counter() - start)
        shutil.rmtree(out)
    proxy = CountingProxy(anvil_url)
    out = tempfile.mkdtemp(prefix=f"bench-{name}-")
    fn(proxy.url, out)
    shutil.rmtree(out)
    proxy.stop()
    return {"tool": name, "seconds": statistics.median(times), "calls": proxy.calls, "http": proxy.http}


def main():
    global LAST, PYTHON
    ap = argparse.ArgumentParser()
    ap.add_argument("--chainx", required=True)
    ap.add_argument("--anvil", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    PYTHON = sys.executable
    proc, url, LAST = start_anvil(args.anvil, args.state)
    blocks = LAST + 1
    try:
        results = [
            measure("chainx", run_chainx(args.chainx, True), url, args.runs),
            measure("chainx --no-receipts", run_chainx(args.chainx, False), url, args.runs),
            measure("cryo blocks+transactions", run_cryo, url, args.runs),
            measure("ethereum-etl export_blocks_and_transactions", run_etl, url, args.runs),
        ]
    finally:
        proc.kill()
    cryo = results[2]["seconds"]
    print(f"\nfixture chain: {blocks} blocks; median of {args.runs} runs each, same anvil node, same run\n")
    print(f"{'tool':<46} {'wall s':>8} {'x cryo':>7} {'calls':>7} {'calls/block':>11} {'HTTP req':>9}")
    for r in results:
        print(f"{r['tool']:<46} {r['seconds']:>8.2f} {r['seconds'] / cryo:>7.2f} {r['calls']:>7} "
              f"{r['calls'] / blocks:>11.2f} {r['http']:>9}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"blocks": blocks, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
