"""Tests of the cluster transport: codec, gRPC service and client over mutual TLS."""
