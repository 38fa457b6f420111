"""pytest plugin of the conformance suite (registered as `lbctl-conformance`)."""

from __future__ import annotations
