"""The Service conformance suite: `pytest conformance/` against any cluster."""
