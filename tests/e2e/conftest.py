"""e2e: remember whether a test of the module failed (its module-scoped stack keeps its logs then)."""
import pytest


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if rep.when == "call" and rep.failed:
        item.getparent(pytest.Module).e2e_failed = True  # what a module-scoped fixture's request.node is
    return rep
