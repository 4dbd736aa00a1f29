.PHONY: bench test
# quantlens vs LiteRT vs TFLite Micro (see scripts/bench.py); PYTHON=... to reuse a venv.
bench:
	bash scripts/bench.sh
test:
	cargo test --release
