"""What lbctl and nodeproxy both need: domain values, the Kubernetes informer and
Lease loops, the metrics/health server, flags with environment fallback, logging.

Neither program imports the other; both import this (docs/architecture.md).
"""
