"""The one harness of tests, scripts and benchmarks (not shipped): servers started and stopped, ports, /proc readings, percentiles, the HTTP client."""
