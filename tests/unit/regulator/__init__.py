"""Tests of the regulator query service and its risk indicators (issue 7)."""
