"""Benchmarks behind `flexiclip bench` / `make bench`: each module exposes run() -> dict."""
