"""The gce provider's fixtures (GCE fake on 127.0.0.1, nodes, provider factory)."""

from tests.integration.providers.gce.conftest import (  # noqa: F401
    fake,
    make_provider,
    nodes,
    provider,
)
