"""jobjanitor benchmarks: `make bench` (python -m benchmarks.run) rewrites docs/benchmarks.md."""
