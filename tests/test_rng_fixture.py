"""The fixture that fails a test which leaks global random state does fail one."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INNER_CONFTEST = """
from tests.conftest import _no_leaking_rng  # noqa: F401 - the fixture under test

def pytest_configure(config):
    config.addinivalue_line("markers", "own_rng: its own fork of the global generators")
"""


@pytest.mark.own_rng  # the inner tests leak on purpose, in this process
def test_a_leak_fails_and_a_declared_fork_does_not(pytester):
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(
        """
        import numpy as np
        import pytest
        import torch

        def test_leaks_torch():
            torch.manual_seed(3)

        def test_leaks_numpy():
            np.random.rand()

        def test_own_generator():
            torch.randn(3, generator=torch.Generator().manual_seed(0))

        @pytest.mark.own_rng
        def test_declared():
            torch.manual_seed(3)
            np.random.rand()
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(["*changed the global random state of torch*"])
    result.stdout.fnmatch_lines(["*changed the global random state of numpy*"])
