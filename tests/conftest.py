"""Shared fixtures. `lab`: a whole in-process lab cluster, isolated per test.

Usage:

    def test_something(lab: Lab) -> None:            # default lab, kube-dns x3 Ready
        ...

    @pytest.mark.lab_options(nodes=4, faults=("slow-ready",))
    def test_other(lab: Lab) -> None:                # any LabOptions field
        ...

The fixture runs the lab fast (speed 20 unless given) on a free DNS port (dns_port 0), so tests
can run side by side; every lab has its own 127.N.0.0/16 addresses. It waits until kube-dns is
Ready (pass wait_ready=False to skip) and stops the lab, closing every socket, after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

DEFAULT_TEST_OPTIONS: dict[str, Any] = {"speed": 20.0, "dns_port": 0, "start_timeout": 60.0}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab_options(**kwargs): LabOptions for the `lab` fixture")
    config.addinivalue_line("markers", "slow: a long lab scenario (deselect with -m 'not slow')")


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[Any]:
    from wizard.lab.cluster import Lab, LabOptions

    marker = request.node.get_closest_marker("lab_options")
    options = LabOptions(**{**DEFAULT_TEST_OPTIONS, **(marker.kwargs if marker else {})})
    with Lab(options) as running:
        yield running


@pytest.fixture
def zh(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Chinese for every message made inside the test; the catalog compiled into tmp_path; English
    (and a fresh catalog cache) again after."""
    from wizard import i18n

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    i18n._catalogs.clear()
    i18n.set_language("zh")
    try:
        yield
    finally:
        i18n.set_language("en")
        i18n._catalogs.clear()
