"""The image tests share one build and one working container: one xdist worker runs them."""

from __future__ import annotations

import pytest

GROUP = "images"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep this package's tests on one xdist worker (the mark exists only with xdist)."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if "tests/integration/images/" in item.nodeid:
            item.add_marker(pytest.mark.xdist_group(GROUP))
