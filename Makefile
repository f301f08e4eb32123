# chainx: `make demo` runs the main job on embedded defaults; `make test` runs every test.
CARGO_TARGET_DIR ?= $(HOME)/.cache/chainx/target
export CARGO_TARGET_DIR

.PHONY: setup demo test chain lint lint_deploy bench clean-lake build publish secrets network

## Everything the tests and CI's lint need (Debian packages, PyPI venvs, Maven jars, npm), once;
## a warm machine checks in seconds. `scripts/setup.sh --dry-run` says what it would install.
setup:
	scripts/setup.sh test

## Start the local fixture chain, backfill it into ./lake, print counts and rows.
demo:
	scripts/setup.sh demo
	scripts/demo.sh

## The whole test suite (dev profile), against real anvil and the recorded mainnet replies,
## then the Python suites (installer, third-party readers, Airflow, Hive). Every suite runs even
## when one fails; the last line names the failed ones.
test: setup chain
	scripts/test.sh

## Build (once, cached) the fixture chain and link it at .chain/.
chain:
	scripts/chain.sh

lint: lint_deploy
	cargo fmt --all --check
	git ls-files -z '*.sh' .ci/run | xargs -0 shellcheck
	cargo clippy --workspace --all-targets -- -D warnings

## Deployment files without an engine: every compose/swarm file through docker-compose (and
## `docker stack config` where the client has it), Prometheus's config through promtool, then
## scripts/lint_deploy.py (images, ports, volumes, secrets, health checks, limits, README).
lint_deploy: setup
	for f in services/*_layer/compose.yml services/*_layer/swarm.yml; do docker-compose -f $$f config -q 2>/dev/null || { docker-compose -f $$f config -q; exit 1; }; done
	if docker stack config --help >/dev/null 2>&1; then for f in services/*_layer/swarm.yml; do docker stack config -c $$f >/dev/null || exit 1; done; fi
	promtool check config services/ops_layer/prometheus/prometheus.yml
	cd services/ops_layer/prometheus && promtool test rules alerts_test.yml
	cargo fetch --locked --target "$$(rustc -vV | sed -n "s/^host: //p")"   # docker/Dockerfile builds with --locked
	$$(scripts/venv.sh deploy-lint scripts/lint_deploy.requirements.txt)/bin/python scripts/lint_deploy.py

## chainx vs cryo vs ethereum-etl on the fixture chain, same run: wall-time ratios, calls/block;
## chainx vs cryo vs the transfer floor on 2,000 mainnet-shaped blocks, with peak RSS;
## then head-to-topic latency of the block clock vs ethereum-etl stream on a real Kafka, and
## the sink's rows/s on one core, and a simulated day at the head (files, commits, RSS by hour).
bench: chain
	cargo build --release -p chainx -p chainx-testkit --bin chainx --bin replay_node --bin naas_gateway --bin head_latency --bin sink_throughput --bin mainnet_node --bin simulated_day
	$$(scripts/bench/setup.sh)/bin/python scripts/bench/bench.py \
	  --chainx $(CARGO_TARGET_DIR)/release/chainx --replay-node $(CARGO_TARGET_DIR)/release/replay_node \
	  --naas-gateway $(CARGO_TARGET_DIR)/release/naas_gateway --head-latency $(CARGO_TARGET_DIR)/release/head_latency \
	  --sink-throughput $(CARGO_TARGET_DIR)/release/sink_throughput --mainnet-node $(CARGO_TARGET_DIR)/release/mainnet_node \
	  --simulated-day $(CARGO_TARGET_DIR)/release/simulated_day \
	  --anvil $$(ls -d scripts/chain/node_modules/@foundry-rs/anvil-*/bin/anvil | head -n1) \
	  --state .chain/state.json --json bench-results.json

clean-lake:
	rm -rf lake

# ---- Images and deployment (needs a Docker engine; see README "Deployment") ----
# Images are $(IMAGES)/<name>:$(TAG); the compose files read the same CHAINX_IMAGES and CHAINX_TAG.
IMAGES ?= chainx
TAG ?= dev
REGISTRY ?=
export CHAINX_IMAGES := $(if $(REGISTRY),$(REGISTRY)/$(IMAGES),$(IMAGES))
export CHAINX_TAG := $(TAG)
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
LAYERS := ops fast batch app

## Every image: the chainx binary first (Airflow's image copies it), then the layers' images.
build:
	DOCKER_BUILDKIT=1 docker build -f docker/Dockerfile -t $(CHAINX_IMAGES)/chainx:$(TAG) .
	docker build -f docker/fast_layer/scylla/Dockerfile -t $(CHAINX_IMAGES)/scylla:$(TAG) .
	docker build -f docker/batch_layer/hive-metastore/Dockerfile -t $(CHAINX_IMAGES)/hive:$(TAG) .
	docker build -f docker/batch_layer/spark-thriftserver/Dockerfile -t $(CHAINX_IMAGES)/spark-thriftserver:$(TAG) .
	docker build -f docker/batch_layer/airflow/Dockerfile --build-arg CHAINX_IMAGE=$(CHAINX_IMAGES)/chainx:$(TAG) -t $(CHAINX_IMAGES)/airflow:$(TAG) .
	docker build -f docker/ops_layer/prometheus/Dockerfile -t $(CHAINX_IMAGES)/prometheus:$(TAG) .
	docker build -f docker/ops_layer/grafana/Dockerfile -t $(CHAINX_IMAGES)/grafana:$(TAG) .

## Pushes the images to REGISTRY (e.g. make publish REGISTRY=registry.example.com TAG=0.1.0).
publish: build
	@test -n "$(REGISTRY)" || { echo "make publish needs REGISTRY=host[:port]"; exit 1; }
	for image in chainx scylla hive spark-thriftserver airflow prometheus grafana; do docker push $(CHAINX_IMAGES)/$$image:$(TAG) || exit 1; done

## services/secrets/*: random passwords and the API keys' template (kept once created).
secrets:
	scripts/secrets.sh

## The network every layer joins (bridge on one node; attachable overlay on a swarm).
network:
	docker network inspect chainx >/dev/null 2>&1 || docker network create chainx

network_prod:
	docker network inspect chainx >/dev/null 2>&1 || docker network create --driver overlay --attachable chainx

## One node (compose), per layer: deploy_dev_ops, deploy_dev_fast, deploy_dev_batch, deploy_dev_app.
## Start them in that order: the app layer's jobs need Kafka, Redis, Scylla and HDFS.
deploy_dev_%: network secrets
	$(COMPOSE) -p chainx-$* -f services/$*_layer/compose.yml up -d

watch_dev_%:
	$(COMPOSE) -p chainx-$* -f services/$*_layer/compose.yml ps
	$(COMPOSE) -p chainx-$* -f services/$*_layer/compose.yml logs -f --tail=100

stop_dev_%:
	$(COMPOSE) -p chainx-$* -f services/$*_layer/compose.yml down

## A swarm, per layer: deploy_prod_ops, deploy_prod_fast, deploy_prod_batch, deploy_prod_app
## (images from REGISTRY: run make publish first).
deploy_prod_%: network_prod secrets
	docker stack deploy --with-registry-auth -c services/$*_layer/swarm.yml chainx-$*
