"""The one harness of tests, scripts and benchmarks (not shipped): servers started and stopped, ports, /proc
readings, percentiles, the HTTP client, the reference prediction.

- `harness.ports`: free_port, listening, wait_for.
- `harness.proc`: a process seen from outside through Linux /proc (children, workers, memory, CPU).
- `harness.processes`: a server started in its own session with its log in a file, waited for, stopped.
- `harness.http`: the keep-alive HTTP/1.1 client of the load generators, plain requests for readiness checks.
- `harness.stats`: the one percentile (nearest rank) and the latency summary.
- `harness.reference`: what the plain scikit-learn pipeline predicts, to check served answers against.
- `harness.inference_rows`: realistic inference-log rows (in-distribution, shifted, single-class) and a registered
  version carrying a reference profile, for the monitoring tests and bench_monitor.py.

Layering (pyproject.toml, import-linter): scripts and benchmarks may import harness; harness may import the
product; nothing in the product imports harness.
"""
