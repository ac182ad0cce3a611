"""What the Dagster UI shows for the asset checks of a group, from the webserver's GraphQL API, and which of
them are not passing — the e2e's assertion that every bronze check executed in the stack and none failed
(driven to fail in tests/unit/infra/test_ui_checks.py)."""
from __future__ import annotations

NEVER_EXECUTED = "NEVER EXECUTED"
CHECKS_QUERY = """{ assetNodes { assetKey { path } groupName
  assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } } } }"""


def check_status(nodes: list[dict], group: str) -> dict[str, str]:
    """``asset.check`` -> the status the UI shows (NEVER EXECUTED when the check has no execution) for every
    check of ``group``'s assets, from the ``assetNodes`` of :data:`CHECKS_QUERY`."""
    return {f"{n['assetKey']['path'][-1]}.{c['name']}":
            (c["executionForLatestMaterialization"] or {}).get("status") or NEVER_EXECUTED
            for n in nodes if n["groupName"] == group for c in (n["assetChecksOrError"].get("checks") or [])}


def not_passing(status: dict[str, str], expected: set[str]) -> dict[str, str]:
    """The checks that are not green: every one of ``expected`` missing from the UI, never executed, failed
    (whatever its severity: a WARN failure is yellow, not green), errored or still running -> why."""
    missing = {name: "NOT IN THE UI" for name in expected - set(status)}
    return {**missing, **{name: s for name, s in status.items() if s != "SUCCEEDED"}}


def bronze_checks_expected() -> set[str]:
    """Every bronze check the code declares (crypto_pipeline/bronze/checks.py), as ``asset.check``."""
    from crypto_pipeline.bronze.checks import specs

    return {f"{asset}.{check}" for asset, check, _ in specs()}
