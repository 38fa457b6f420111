"""Fakes of external services for tests: `gce` (a Compute Engine v1 REST fake), `aws` (moto)."""
