"""Real upstream Kubernetes on one machine: binaries, PKI, control plane, nodes."""
