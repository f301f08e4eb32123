# chainx: `make demo` runs the main job on embedded defaults; `make test` runs every test.
CARGO_TARGET_DIR ?= $(HOME)/.cache/chainx/target
export CARGO_TARGET_DIR

.PHONY: demo test chain lint bench clean-lake

## Start the local fixture chain, backfill it into ./lake, print counts and rows.
demo:
	scripts/demo.sh

## The whole test suite (dev profile), against real anvil and the recorded mainnet replies,
## then third-party readers (delta-rs, DuckDB) over a lake the chainx binary landed.
test: chain
	cargo test --workspace
	CHAINX_BIN=$(CARGO_TARGET_DIR)/debug/chainx $$(tests/readers/setup.sh)/bin/python -m pytest -q tests/readers
	CHAINX_BIN=$(CARGO_TARGET_DIR)/debug/chainx $$(airflow/setup.sh)/bin/python -m pytest -q airflow/tests
	CHAINX_BIN=$(CARGO_TARGET_DIR)/debug/chainx $$(scripts/services/hive/setup.sh)/bin/python -m pytest -q tests/hive

## Build (once, cached) the fixture chain and link it at .chain/.
chain:
	scripts/chain.sh

lint:
	cargo fmt --all --check
	git ls-files -z '*.sh' .ci/run | xargs -0 shellcheck
	cargo clippy --workspace --all-targets -- -D warnings

## chainx vs cryo vs ethereum-etl on the fixture chain, same run: wall-time ratios, calls/block;
## then head-to-topic latency of the block clock vs ethereum-etl stream on a real Kafka, and
## the sink's rows/s on one core.
bench: chain
	cargo build --release -p chainx -p chainx-testkit --bin chainx --bin replay_node --bin naas_gateway --bin head_latency --bin sink_throughput
	$$(scripts/bench/setup.sh)/bin/python scripts/bench/bench.py \
	  --chainx $(CARGO_TARGET_DIR)/release/chainx --replay-node $(CARGO_TARGET_DIR)/release/replay_node \
	  --naas-gateway $(CARGO_TARGET_DIR)/release/naas_gateway --head-latency $(CARGO_TARGET_DIR)/release/head_latency \
	  --sink-throughput $(CARGO_TARGET_DIR)/release/sink_throughput \
	  --anvil $$(ls -d scripts/chain/node_modules/@foundry-rs/anvil-*/bin/anvil | head -n1) \
	  --state .chain/state.json --json bench-results.json

clean-lake:
	rm -rf lake
