"""Cluster selection and option parsing."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from conformance.settings import ClusterMode, choose_mode, settings_from

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("option", "env", "kubeconfig", "mode"),
    [
        pytest.param(None, {}, None, ClusterMode.LOCAL, id="default-local"),
        pytest.param(None, {"KUBECONFIG": "/k"}, None, ClusterMode.KUBECONFIG, id="env-kubeconfig"),
        pytest.param(None, {}, "/k", ClusterMode.KUBECONFIG, id="flag-kubeconfig"),
        pytest.param(
            None,
            {"LBCTL_CONFORMANCE_CLUSTER": "kind", "KUBECONFIG": "/k"},
            None,
            ClusterMode.KIND,
            id="env-beats-kubeconfig",
        ),
        pytest.param(
            "local",
            {"LBCTL_CONFORMANCE_CLUSTER": "kind"},
            "/k",
            ClusterMode.LOCAL,
            id="flag-beats-all",
        ),
    ],
)
def test_choose_mode(
    option: str | None, env: dict[str, str], kubeconfig: str | None, mode: ClusterMode
) -> None:
    assert choose_mode(option, env, kubeconfig) is mode


def test_bad_env_mode_is_a_usage_error() -> None:
    with pytest.raises(pytest.UsageError, match="LBCTL_CONFORMANCE_CLUSTER='gke'"):
        choose_mode(None, {"LBCTL_CONFORMANCE_CLUSTER": "gke"}, None)


def test_settings_flags_beat_env() -> None:
    settings = settings_from(
        {"conformance_lb_timeout": "30", "conformance_kubeconfig": "/flag"},
        {
            "LBCTL_CONFORMANCE_LB_TIMEOUT": "99",
            "KUBECONFIG": "/env",
            "LBCTL_CONFORMANCE_ALLOW": "203.0.113.0/24",
        },
    )
    assert settings.lb_timeout == 30
    assert settings.kubeconfig == Path("/flag")
    assert settings.mode is ClusterMode.KUBECONFIG
    assert settings.allow == (ipaddress.ip_network("203.0.113.0/24"),)
    assert settings.report_dir == Path("reports")


@pytest.mark.parametrize("value", ["soon", "0", "-5"])
def test_bad_lb_timeout(value: str) -> None:
    with pytest.raises(pytest.UsageError, match="--conformance-lb-timeout"):
        settings_from({"conformance_lb_timeout": value}, {})
