"""monitor.sh's MinIO section: gold freshness per table once gold has written, 'not built yet' before."""
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import infra.provision
from infra.monitor import minio_rows
from shared.settings import load_stack_settings


def _rows(monkeypatch, names):
    now = datetime.now(timezone.utc)
    objs = [SimpleNamespace(object_name=n, size=10, last_modified=now - timedelta(seconds=age)) for n, age in names]
    client = SimpleNamespace(list_objects=lambda bucket, recursive: iter(objs))
    monkeypatch.setattr(infra.provision, "minio_client", lambda settings, creds: client)
    return {r[1]: r for r in minio_rows(load_stack_settings(env={}), None)}


def test_gold_not_built_yet(monkeypatch):
    rows = _rows(monkeypatch, [("silver/ohlcv/x.parquet", 5)])
    assert rows["gold"][3] == "not built yet" and not any(k.startswith("gold/") for k in rows)


def test_gold_freshness_per_table(monkeypatch):
    rows = _rows(monkeypatch, [("gold/risk/symbol=BTCUSDT/a.parquet", 130), ("gold/risk/.hoodie/x.commit", 70),
                               ("gold/signals/s/b.parquet", 400), ("silver/ohlcv/c.parquet", 5)])
    assert rows["gold"][3] == "last write 1m10s ago"
    assert rows["gold/risk"][3] == "last write 1m10s ago" and rows["gold/signals"][3] == "last write 6m40s ago"
