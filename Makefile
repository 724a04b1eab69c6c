VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: install demo test protos bench train loadtest memwall smallfiles checkpointmem clean

install: $(VENV)/.installed
	@echo "hfed is in $(VENV)/bin: run 'source $(VENV)/bin/activate' so that 'hfed' is on your PATH"

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test,tf]'
	touch $@

protos: install
	$(PY) -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. --pyi_out=. protos/hfed.proto

demo: install
	$(PY) -m client.demo

test: install
	$(PY) -m pytest -q

# Data path against this machine's limits, today's write (a baseline commit run beside
# it) and a 64-client burst with a DataNode leak check, in one run (~5 min):
# bench/results/datapath.md. BENCH_ARGS="--size 256M --runs 1" for a quicker run.
BENCH_ARGS ?=
bench: install
	$(PY) -m bench.datapath $(BENCH_ARGS)

train: install
	$(PY) -m bench.train

# Locust against a throwaway 2-namespace cluster in a fresh temporary directory (removed
# afterwards, also when a run fails): write, read and mixed storms, headless, CSVs in
# $(LOADTEST_OUT)/loadtest_<scenario>_*.csv (not tracked). Override e.g.
# LOADTEST_ARGS="-u 32 -r 32 -t 60s".
LOADTEST_OUT ?= bench/results/loadtest
LOADTEST_ARGS ?= -u 16 -r 16 -t 30s
loadtest: install
	@dir=$$(mktemp -d -t hfed-loadtest.XXXXXX) || exit 1; \
	cleanup() { HFED_HOME=$$dir/home $(VENV)/bin/hfed cluster down --dir $$dir/cluster >/dev/null 2>&1; rm -rf "$$dir"; }; \
	trap cleanup EXIT; trap 'exit 130' INT TERM; \
	mkdir -p $(LOADTEST_OUT); \
	HFED_HOME=$$dir/home $(VENV)/bin/hfed cluster up --dir $$dir/cluster --namespaces 2 --datanodes 1 --replication 1 || exit 1; \
	rc=0; for s in write read mixed; do \
	  $(VENV)/bin/locust -f bench/locustfile.py --headless --only-summary $(LOADTEST_ARGS) --scenario $$s \
	    --hfed-conf $$dir/cluster/hfed.toml --csv $(LOADTEST_OUT)/loadtest_$$s || rc=1; \
	done; \
	echo "CSVs in $(LOADTEST_OUT)/loadtest_<scenario>_*.csv"; exit $$rc

# Bytes per file (1M files in-process) and the wall for 1, 2 and 4 namespaces:
# bench/results/memory_wall.md + PNGs. MEMWALL_ARGS="--files 10M" for the 10M figure.
MEMWALL_ARGS ?=
memwall: install
	$(PY) -m bench.memory_wall $(MEMWALL_ARGS)

# Small files straight to DataNodes vs empty, one-block and unpacked files in one run (~8 min):
# bench/results/small_files.md + .json. SMALLFILES_ARGS="--files 20k" for a quicker run.
SMALLFILES_ARGS ?=
smallfiles: install
	$(PY) -m bench.small_files $(SMALLFILES_ARGS)

# Paged columns vs the commit before them, in one run: bytes per file, op speed and a
# checkpoint's peak memory at 1M files: bench/results/checkpoint_memory.md + .json.
# CHECKPOINTMEM_ARGS="--files 200k" for a quicker run.
CHECKPOINTMEM_ARGS ?=
checkpointmem: install
	$(PY) -m bench.checkpoint_memory $(CHECKPOINTMEM_ARGS)

clean:
	rm -rf $(VENV) *.egg-info

# Fuzz each service (ClientProtocol, DatanodeProtocol, DataTransfer) against real daemons,
# 10 min each by default: bench/results/fuzz.md. FUZZ_ARGS="--seconds 60" for a quicker run;
# FUZZ_ARGS="--service datatransfer --replay <hex>" replays one input of a finding.
.PHONY: fuzz
FUZZ_ARGS ?=
fuzz: install
	$(PY) -m bench.fuzz $(FUZZ_ARGS)

# A subtree of one-block files moved to another namespace by metadata only (hard links)
# vs `hfed dfs -cp` of a sample, per 10k files, and the DataNodes' disk before/after
# (~10 min, mostly the fill): bench/results/move.md. MOVEBENCH_ARGS="--files 20k --sample 2k" for a
# quicker run, "--files 100k" for the 100k figure.
.PHONY: movebench
MOVEBENCH_ARGS ?=
movebench: install
	$(PY) -m bench.move $(MOVEBENCH_ARGS)

# Locust users fill a namespace to its budget, then a namespace is added and half the
# full one moved into it while they write (~3 min): bench/results/rebalance.md + .png.
.PHONY: rebalance
REBALANCE_ARGS ?=
rebalance: install
	$(PY) -m bench.rebalance $(REBALANCE_ARGS)

# Subtree moves interrupted by kill -9 of the mover, a NameNode or a DataNode, then continued
# (~3 min): bench/results/move_faults.md.
.PHONY: movefaults
MOVEFAULTS_ARGS ?=
movefaults: install
	$(PY) -m bench.move_faults $(MOVEFAULTS_ARGS)

# What metrics and the status page cost a NameNode: one op per RPC with a 1 s scraper vs the
# build before metrics, same run (~3 min): bench/results/metrics_overhead.md.
.PHONY: metricsbench
METRICSBENCH_ARGS ?=
metricsbench: install
	$(PY) -m bench.metrics_overhead $(METRICSBENCH_ARGS)

# WebHDFS OPEN/CREATE of a 1 GiB file through the redirect vs the native client, same run
# (~3 min): bench/results/webhdfs.md. WEBHDFSBENCH_ARGS="--size 256M" for a quicker run.
.PHONY: webhdfsbench
WEBHDFSBENCH_ARGS ?=
webhdfsbench: install
	$(PY) -m bench.webhdfs $(WEBHDFSBENCH_ARGS)

# `-checksum` of a 1 GiB file (replication 1) vs its GetBlockLocations round trip vs reading it
# once (~1 min): bench/results/checksum.md. CHECKSUMBENCH_ARGS="--size 256M" for a quicker run.
.PHONY: checksumbench
CHECKSUMBENCH_ARGS ?=
checksumbench: install
	$(PY) -m bench.checksum $(CHECKSUMBENCH_ARGS)

# Locality on 3 emulated hosts (network namespaces, 1 Gbit/s htb links; root only, ~2 min):
# remote vs local block reads against the raw link rate, and one 3-trainer epoch with the
# locality plan vs round-robin: bench/results/locality.md + .png. LOCALITY_ARGS="--link 10gbit".
.PHONY: locality
LOCALITY_ARGS ?=
locality: install
	$(PY) -m bench.locality $(LOCALITY_ARGS)
