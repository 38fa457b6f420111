"""Cluster selection and option parsing."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from conformance.settings import (
    ClusterMode,
    Reachability,
    choose_mode,
    named_report_dir,
    settings_from,
)

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


@pytest.mark.parametrize(
    ("options", "env", "expected"),
    [
        pytest.param({}, {}, Reachability.AUTO, id="default-auto"),
        pytest.param({"conformance_runner_reaches_nodes": "no"}, {}, Reachability.NO, id="flag"),
        pytest.param(
            {}, {"LBCTL_CONFORMANCE_RUNNER_REACHES_NODES": "Yes"}, Reachability.YES, id="env"
        ),
        pytest.param(
            {"conformance_runner_reaches_nodes": "no"},
            {"LBCTL_CONFORMANCE_RUNNER_REACHES_NODES": "yes"},
            Reachability.NO,
            id="flag-beats-env",
        ),
    ],
)
def test_runner_reaches_nodes(
    options: dict[str, str], env: dict[str, str], expected: Reachability
) -> None:
    assert settings_from(options, env).runner_reaches_nodes is expected


def test_bad_runner_reaches_nodes_names_the_flag() -> None:
    with pytest.raises(pytest.UsageError, match="--conformance-runner-reaches-nodes"):
        settings_from({}, {"LBCTL_CONFORMANCE_RUNNER_REACHES_NODES": "sometimes"})


@pytest.mark.parametrize(
    ("options", "env", "named"),
    [
        pytest.param({}, {}, None, id="default-is-not-named"),
        pytest.param({"conformance_report_dir": "out"}, {}, Path("out"), id="flag"),
        pytest.param({}, {"LBCTL_CONFORMANCE_REPORT_DIR": "/out"}, Path("/out"), id="env"),
        pytest.param(
            {"conformance_report_dir": "out", "conformance_lb_timeout": "soon"},
            {},
            Path("out"),
            id="other-flags-unread",
        ),
    ],
)
def test_named_report_dir(options: dict[str, str], env: dict[str, str], named: Path | None) -> None:
    assert named_report_dir(options, env) == named


def test_lb_ip_from_flag_or_env_and_a_bad_one_names_the_flag() -> None:
    assert settings_from({}, {}).lb_ip is None
    assert settings_from({"conformance_lb_ip": " 198.18.0.240 "}, {}).lb_ip == "198.18.0.240"
    assert settings_from({}, {"LBCTL_CONFORMANCE_LB_IP": "203.0.113.9"}).lb_ip == "203.0.113.9"
    with pytest.raises(pytest.UsageError, match="--conformance-lb-ip"):
        settings_from({"conformance_lb_ip": "static"}, {})
