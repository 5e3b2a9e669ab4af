# Every target runs inside .venv (created on first use) so a fresh clone needs only `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED ?= $(abspath ../shared)
STAMP := $(VENV)/.installed-stamp
# Tests, benches and the demo use the small offline `test-mbf128` pack from ../shared/models.
export STASH_SENSE_MODEL_DIR ?= $(SHARED)/models
export STASH_SENSE_SHARED ?= $(SHARED)

.PHONY: test bench bench-peers demo demo-ui lint lint-js requirements clean package gpu-check

$(STAMP): requirements.txt requirements-dev.txt requirements-nodeps.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -r requirements-nodeps.txt
	touch $@

test: $(STAMP)
	$(BIN)/python -m pytest

# Every benchmark of the README (about an hour on 2 cores the first time: test videos and the
# synthetic full-size database are built once and cached under bench/cache/).
bench: $(STAMP)
	$(BIN)/python -m bench.engine_bench
	$(BIN)/python -m bench.db_bench
	$(BIN)/python -m bench.lfw_splits
	$(BIN)/python -m devtools eval --pack test-mbf128 --identities bench/cache/lfw/eval_ids \
		--distractors bench/cache/lfw/eval_distractors --json bench/results/eval.json
	$(BIN)/python -m devtools eval --pack test-mbf128 --identities $(SHARED)/datasets/deepface_testset \
		--json bench/results/eval_deepface.json
	$(BIN)/python -m bench.hard_set
	$(BIN)/python -m devtools eval --pack test-mbf128 --identities bench/cache/hard/eval_ids \
		--distractors bench/cache/hard/eval_distractors --by-kind --json bench/results/eval_hard.json
	$(BIN)/python -m devtools eval --pack test-mbf128 --identities bench/cache/lfw/eval_ids \
		--distractors bench/cache/lfw/eval_distractors --mirror-band 2.0 --json bench/cache/mirror/eval_2.0.json
	$(BIN)/python -m bench.prod_pack_bench --eval-full bench/results/eval.json \
		--eval-gated bench/cache/mirror/eval_2.0.json
	$(BIN)/python -m bench.worker_bench
	$(BIN)/python -m bench.bulk_bench
	$(BIN)/python -m bench.adaptive_bench
	$(BIN)/python -m bench.scenes_bench
	$(BIN)/python -m bench.projection

# Optional peer comparison (issue 9): face_recognition/dlib into the same .venv, then the bench.
# Quick check: `make bench-peers PEERS_ARGS=--quick`.
PEERS_STAMP := $(VENV)/.peers-stamp
$(PEERS_STAMP): $(STAMP) requirements-peers.txt
	$(BIN)/python -m pip install -q --no-deps -r requirements-peers.txt
	touch $@

bench-peers: $(PEERS_STAMP)
	$(BIN)/python -m bench.peers_bench $(PEERS_ARGS)

# CPU vs the best GPU execution provider: images/s both ways, provider used, embeddings within 1e-3
# cosine (README "GPU check"). Needs a GPU build of onnxruntime; never run where this is developed.
gpu-check: $(STAMP)
	$(BIN)/python -m bench.gpu_check $(GPU_CHECK_ARGS)

# The plugin as Stash runs it, on a demo Stash seeded with LFW galleries (devtools/demo/run.py).
demo: $(STAMP)
	$(BIN)/python -m devtools.demo.run

# The same demo library in Stash's real web UI (../shared/stash-ui) with the plugin installed, behind a
# reverse proxy at http://127.0.0.1:$(DEMO_UI_PORT)/stash/; prints the URLs and runs until Ctrl-C.
DEMO_UI_PORT ?= 9999
demo-ui: $(STAMP)
	$(BIN)/python -m devtools.demo.ui --port $(DEMO_UI_PORT)

# What Stash's plugin manager installs: dist/stash_sense.zip and the source index dist/index.yml
# (add the folder's URL + /index.yml as a source in Stash: Settings > Plugins > Available Plugins).
package:
	$(PYTHON) devtools/package.py dist

# ruff everywhere; mypy on the typed core (engine, contracts, service: [tool.mypy]); the import
# layers ([tool.importlinter]); eslint on the UI (lint-js).
lint: $(STAMP)
	$(BIN)/ruff check stash_sense devtools tests bench stash_sense_plugin.py
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(MAKE) lint-js

# pyproject.toml is the one source of requirements; this rewrites the requirements*.txt files.
requirements:
	$(PYTHON) -m devtools.requirements

# ESLint on the plugin's browser code (stash_sense/js); the tool lives in devtools/eslint/ (not shipped).
JS_TOOLING := devtools/eslint
$(JS_TOOLING)/node_modules/.installed-stamp: $(JS_TOOLING)/package.json $(JS_TOOLING)/package-lock.json
	cd $(JS_TOOLING) && npm ci --no-audit --no-fund
	touch $@

lint-js: $(JS_TOOLING)/node_modules/.installed-stamp
	$(JS_TOOLING)/node_modules/.bin/eslint --config $(JS_TOOLING)/eslint.config.mjs --max-warnings 0 stash_sense/js

clean:
	rm -rf $(VENV) .pytest_cache dist
