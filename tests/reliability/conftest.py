"""The soak test is left out of a run unless asked for (``-m soak``, or ``CRM_SOAK_SECONDS``
set): it is a load test of a fixed wall-clock length, and the default run is the one every
change waits for on a shared two-core machine. CI runs it on its own, at a small size
(``.ci/run``). Left out means deselected and counted as such, never skipped."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    asked = "soak" in (config.option.markexpr or "") or os.environ.get("CRM_SOAK_SECONDS")
    if asked:
        return
    left_out = [item for item in items if item.get_closest_marker("soak")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("soak")]
