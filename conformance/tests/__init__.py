"""Unit tests of the conformance plugin: no cluster, no processes."""
