"""The root conftest.py turns skips into failures when CI is set.

Each test copies the real conftest.py into a scratch project and runs pytest
on it in a subprocess, so the hooks are exercised exactly as CI loads them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT_CONFTEST = Path(__file__).resolve().parents[2] / "conftest.py"

SKIPPING_TESTS = """
import pytest

@pytest.mark.skip(reason="chromium-absent-marker")
def test_marked():
    pass

def test_skips_inside():
    pytest.skip("redis-absent-call")

def test_passes():
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scratch project whose only conftest is the repository's own."""
    pytester.makeconftest(ROOT_CONFTEST.read_text(encoding="utf-8"))
    # The outer pytest-django exports its settings module; the scratch
    # project has none, so the plugin is switched off for the inner run.
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    monkeypatch.delenv("CI", raising=False)


def run(pytester: pytest.Pytester) -> pytest.RunResult:
    """Run the scratch project's tests in a fresh interpreter."""
    return pytester.runpytest_subprocess(
        "-ra", "-p", "no:django", "-p", "no:cacheprovider"
    )


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_skip_fails_when_ci_is_set(
    project: None,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    value: str,
) -> None:
    monkeypatch.setenv("CI", value)
    pytester.makepyfile(test_services=SKIPPING_TESTS)

    result = run(pytester)

    # A skip marker is applied during setup, so pytest reports it as an error;
    # pytest.skip() in the body becomes an ordinary failure.
    result.assert_outcomes(passed=1, failed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # Each summary line keeps the original skip reason.
    result.stdout.fnmatch_lines(
        ["ERROR *test_marked - skipped tests fail in CI*chromium-absent-marker"]
    )
    result.stdout.fnmatch_lines(
        ["FAILED *test_skips_inside - skipped tests fail in CI*redis-absent-call"]
    )


@pytest.mark.parametrize("value", [None, "", "false", "0"])
def test_skip_stays_a_skip_outside_ci(
    project: None,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    value: str | None,
) -> None:
    if value is not None:
        monkeypatch.setenv("CI", value)
    pytester.makepyfile(test_services=SKIPPING_TESTS)

    result = run(pytester)

    result.assert_outcomes(passed=1, skipped=2)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["SKIPPED *chromium-absent-marker"])
    result.stdout.fnmatch_lines(["SKIPPED *redis-absent-call"])


def test_xfail_is_left_alone_in_ci(
    project: None, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(
        test_expected="""
        import pytest

        @pytest.mark.xfail(reason="known gap")
        def test_fails_as_expected():
            assert False

        @pytest.mark.xfail(reason="not run", run=False)
        def test_not_run():
            pass

        def test_imperative_xfail():
            pytest.xfail("declared at run time")
        """
    )

    result = run(pytester)

    result.assert_outcomes(xfailed=3)
    assert result.ret == pytest.ExitCode.OK


def test_module_level_skip_fails_in_ci(
    project: None, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(
        test_optional="""
        import pytest

        pytest.importorskip("hashwhisper_no_such_module_for_tests")

        def test_never_collected():
            pass
        """
    )

    result = run(pytester)

    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["*skipped tests fail in CI*hashwhisper_no_such_module_for_tests*"]
    )


def test_module_level_skip_is_a_skip_outside_ci(
    project: None, pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(
        test_optional="""
        import pytest

        pytest.skip("optional service", allow_module_level=True)
        """
    )

    result = run(pytester)

    # Nothing was collected, so pytest itself answers exit status 5 here.
    result.assert_outcomes(skipped=1)
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_no_tests_collected_fails_in_ci(
    project: None, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(test_empty="X = 1\n")

    result = run(pytester)

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*no tests were collected*fails the run in CI*"])


def test_no_tests_collected_keeps_exit_5_outside_ci(
    project: None, pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(test_empty="X = 1\n")

    result = run(pytester)

    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
