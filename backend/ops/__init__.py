"""Drivers: building bundles, benchmarks, running the app in a child process."""
