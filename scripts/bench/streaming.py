"""The streaming benchmarks of `make bench`, each a testkit binary that starts a real Kafka broker:

- head_latency: anvil mining a block a second; head-to-topic latency (head announced -> block
  readable in the topic) of `chainx block-clock` polling and over WebSocket, and of
  ethereum-etl's `stream` to Kafka, the peer;
- sink_throughput: `chainx sink` on one core draining a topic of synthetic blocks;
- simulated_day: a day at the head (7,200 mainnet-shaped blocks, 12 s compressed to --day-pace-ms),
  block clock -> Kafka -> sink: files and commits per table, the sink's and the clock's
  resident memory after each simulated hour (flat, not growing), and the day's compaction.
"""

import json
import os
import subprocess


def json_lines(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def head_latency(args, python):
    etl = os.path.join(os.path.dirname(python), "ethereumetl")
    return json_lines([args.head_latency, args.chainx, str(args.latency_blocks), etl])


def sink_throughput(args):
    return json_lines([args.sink_throughput, args.chainx, str(args.sink_transactions)])[0]


def simulated_day(args):
    return json_lines([args.simulated_day, args.chainx, str(args.day_blocks), str(args.day_pace_ms)])[0]


def print_latency(latency, blocks):
    etl = next((r for r in latency if r["mode"] == "ethereum-etl"), None)
    print(f"\nhead-to-topic latency, anvil mining 1 block/s, real Kafka, {blocks} blocks each "
          f"(head announced -> block readable, read_committed)\n")
    print(f"{'job':<40} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'p99 x etl':>10} {'target p99':>11}")
    names = {"poll": "chainx block-clock (poll 1 s)", "ws": "chainx block-clock (WebSocket newHeads)",
             "ethereum-etl": "ethereum-etl stream (poll 1 s, blocks only)"}
    targets = {"poll": "<= 1500", "ws": "<= 300", "ethereum-etl": ""}
    for r in latency:
        ratio = f"{r['p99_ms'] / etl['p99_ms']:.2f}" if etl else "-"
        print(f"{names[r['mode']]:<40} {r['p50_ms']:>7.0f} {r['p99_ms']:>7.0f} {r['max_ms']:>7.0f} "
              f"{ratio:>10} {targets[r['mode']]:>11}")


def print_sink(sink):
    print(f"\nchainx sink on one core (taskset), real Kafka -> local Delta lake: {sink['transactions']} "
          f"transactions + {sink['blocks']} blocks in {sink['seconds']:.1f} s = {sink['rows_per_s']:.0f} rows/s "
          f"(target >= 100000), peak RSS {sink['peak_rss_mb']:.0f} MB")


def print_day(day):
    hours = day["blocks"] / 300
    print(f"\na simulated day at the head: {day['blocks']} mainnet-shaped blocks ({hours:.0f} h at 12 s), one every "
          f"{day['pace_ms']} ms ({day['compression']:.0f}x; the sink's 30 s flush interval compressed alike), "
          f"block clock --receipts -> real Kafka -> sink, in {day['seconds']:.0f} s; the sink ended "
          f"{day['sink_lag_s']:.1f} s after the last block\n")
    print(f"{'table':<16} {'rows':>10} {'commits':>8} {'files':>6} {'files/day':>10} {'after compact':>14}")
    for name, t in day["tables"].items():
        if t["rows"]:
            print(f"{name:<16} {t['rows']:>10} {t['commits']:>8} {t['files']:>6} {t['files_per_day']:>10.0f} "
                  f"{t['files_after_compact']:>14}")
    print(f"\n{'resident MB':<14} {'first hour':>10} {'last hour':>10} {'last/first':>11} {'peak':>6}")
    for job in ("sink", "clock"):
        m = day[f"{job}_rss_mb"]
        ratio = f"{m['day'] / m['first_hour']:.2f}" if m["first_hour"] else "-"
        print(f"{job:<14} {m['first_hour']:>10.0f} {m['day']:>10.0f} {ratio:>11} {m['peak']:>6.0f}")
    print(f"sink by hour: {' '.join(f'{v:.0f}' for v in day['sink_rss_mb']['by_hour'])}")
    print(f"lake compact over the day: {day['compact']['seconds']:.0f} s, peak RSS {day['compact']['peak_rss_mb']:.0f} MB")
