"""nodeproxy: the L4 data plane of lbctl's local provider (see docs/nodeproxy.md)."""
