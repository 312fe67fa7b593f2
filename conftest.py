"""Repository-wide pytest hooks: in CI, a skipped test counts as a failure.

Tests that need a service (Chromium, PostgreSQL, Redis) skip with a reason
when it is absent, which keeps a developer's run useful on a bare machine.
CI installs and starts every service first, so a skip there means a check
silently did not run: these hooks turn it into a failure that keeps the
reason. Expected failures (xfail) are left as they are.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

CI_VALUES = frozenset({"true", "1"})


def running_in_ci() -> bool:
    """Tell whether the CI variable asks for skips to count as failures."""
    return os.environ.get("CI", "").strip().lower() in CI_VALUES


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """Return the human-readable reason a skipped report carries."""
    longrepr = report.longrepr
    # A skip stores (path, line, "Skipped: reason"); anything else is shown
    # as pytest would print it.
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def fail_skipped(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Rewrite a skipped report into a failed one that keeps the reason."""
    report.outcome = "failed"
    report.longrepr = (
        f"skipped tests fail in CI (CI={os.environ.get('CI')}): {skip_reason(report)}"
    )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # tryfirst makes this the outermost wrapper, so it sees the report after
    # the skipping plugin has marked xfail outcomes with "wasxfail".
    report = yield
    if (
        running_in_ci()
        and report.outcome == "skipped"
        and not hasattr(report, "wasxfail")
    ):
        fail_skipped(report)
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    # A module-level pytest.skip() or importorskip() skips a whole file at
    # collection time, before any test report exists.
    report = yield
    if running_in_ci() and report.outcome == "skipped":
        fail_skipped(report)
    return report


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Exit status 5 means nothing ran at all, which in CI hides a broken
    # test path or selection just as a skip would.
    if running_in_ci() and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                "no tests were collected, which fails the run in CI", red=True
            )
