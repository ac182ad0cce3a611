"""The deploy e2e's assertion on the bronze asset checks (tests/e2e/ui_checks.py), driven to fail on crafted
GraphQL answers: a failed check, a WARN failure, a check never executed and a check missing from the UI are
each reported; only an all-SUCCEEDED answer covering every declared check passes."""
from tests.e2e.ui_checks import NEVER_EXECUTED, bronze_checks_expected, check_status, not_passing


def node(asset: str, group: str, checks: dict[str, str | None]) -> dict:
    return {"assetKey": {"path": [asset]}, "groupName": group, "assetChecksOrError": {"checks": [
        {"name": name, "executionForLatestMaterialization": None if s is None else {"status": s}}
        for name, s in checks.items()]}}


def ui(statuses: dict[str, str | None]) -> list[dict]:
    """assetNodes as the webserver answers them: the bronze checks with ``statuses`` and a silver asset."""
    by_asset: dict[str, dict[str, str | None]] = {}
    for name, s in statuses.items():
        asset, check = name.split(".", 1)
        by_asset.setdefault(asset, {})[check] = s
    return [node(a, "bronze", c) for a, c in by_asset.items()] + [node("silver_ohlcv", "silver", {"x": "FAILED"})]


def test_every_declared_check_succeeded_passes():
    expected = bronze_checks_expected()
    assert len(expected) >= 13 and "bronze_trades.trade_id_continuity" in expected
    status = check_status(ui(dict.fromkeys(expected, "SUCCEEDED")), "bronze")
    assert status == dict.fromkeys(expected, "SUCCEEDED")        # other groups' checks are not bronze's
    assert not_passing(status, expected) == {}


def test_a_failed_never_executed_or_missing_check_is_reported():
    expected = bronze_checks_expected()
    statuses: dict[str, str | None] = dict.fromkeys(expected, "SUCCEEDED")
    statuses["bronze_trades.freshness"] = "FAILED"                   # a WARN check failing is not green either
    statuses["bronze_trades.record_key_unique"] = None               # no execution at all
    statuses["bronze_klines.record_key_unique"] = "EXECUTION_FAILED"
    del statuses["bronze_depth.schema_matches_contract"]              # declared in code, absent from the UI
    bad = not_passing(check_status(ui(statuses), "bronze"), expected)
    assert bad == {"bronze_trades.freshness": "FAILED", "bronze_trades.record_key_unique": NEVER_EXECUTED,
                   "bronze_klines.record_key_unique": "EXECUTION_FAILED",
                   "bronze_depth.schema_matches_contract": "NOT IN THE UI"}


def test_an_empty_answer_is_not_a_pass():
    assert set(not_passing({}, bronze_checks_expected())) == bronze_checks_expected()
