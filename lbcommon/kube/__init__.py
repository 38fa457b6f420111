"""The Kubernetes boundary shared by both programs: list+watch, translation into
domain values, Leases, and loading an API client."""
