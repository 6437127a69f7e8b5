"""Benchmarks that drive a local network started as OS processes (`scf bench ...`)."""
