"""The code location loads the way the webserver and daemon load it (one Definitions at module scope,
the serving layer merged in) - `dagster definitions validate` is Dagster's own loader."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_code_location_validates_with_the_serving_layer():
    r = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-m",
                        "crypto_pipeline.definitions"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "Validation successful" in r.stdout + r.stderr


def test_serving_assets_are_in_the_code_location():
    from crypto_pipeline.definitions import defs

    keys = {k.to_user_string() for k in defs.get_repository_def().asset_graph.get_all_asset_keys()}
    assert {"serving_candles", "serving_gold_risk", "serving_gold_signals", "serving_latest_ticker"} <= keys


def test_one_automation_sensor_evaluates_silver_and_serving_so_a_sync_joins_its_upstreams_run():
    from crypto_pipeline.definitions import defs

    repo = defs.get_repository_def()
    sensor = repo.get_sensor_def("silver_automation")
    targeted = {k.to_user_string() for k in sensor.asset_selection.resolve(repo.asset_graph)}
    assert {"silver_ohlcv", "silver_indicators", "serving_candles", "serving_candle_indicators",
            "serving_gold_risk"} <= targeted
