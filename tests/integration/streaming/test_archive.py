"""Raw archive: JSONL.gz micro-batches on MinIO, readable by binance_sim's replay parser."""
from __future__ import annotations

import gzip
import time

from minio import Minio

from binance_sim.replay import parse_line
from tests.integration.streaming.conftest import ServiceThread, start_sim, stream_records, symbols_yaml


def test_raw_frames_archived_in_replay_format(kafka_stack, minio_stack, tmp_path):
    boot = kafka_stack.settings.kafka_bootstrap
    st = minio_stack.settings
    creds = minio_stack.creds
    sim = start_sim({"ARCUSDT": 50})
    prefix = f"test-raw/{time.time_ns()}"
    try:
        svc = ServiceThread(boot, sim, symbols_yaml(tmp_path, {"ARCUSDT": ["trade", "bookTicker"]}), overrides={
            "archive.enabled": True, "archive.s3_endpoint": st.s3_endpoint, "archive.access_key": creds.minio_user,
            "archive.secret_key": creds.minio_password, "archive.bucket": st.minio.bucket, "archive.prefix": prefix,
            "archive.batch_max_s": 1})
        svc.wait(lambda: svc.svc.archive.written >= 2, 30, "archive batches")
        assert svc.stop() == 0
    finally:
        sim.stop()
    host = st.s3_endpoint.split("://", 1)[1]
    mc = Minio(host, access_key=creds.minio_user, secret_key=creds.minio_password, secure=False)
    objs = list(mc.list_objects(st.minio.bucket, prefix=prefix + "/", recursive=True))
    assert objs and all(o.object_name.endswith(".jsonl.gz") and "/date=" in o.object_name for o in objs)
    trades = []
    for o in objs:
        body = gzip.decompress(mc.get_object(st.minio.bucket, o.object_name).read())
        for line in body.splitlines():
            ts, stream, payload = parse_line(line)
            assert ts and stream in ("arcusdt@trade", "arcusdt@bookTicker")
            if stream == "arcusdt@trade":
                trades.append(payload)
    kafka_trades = stream_records(boot, "ARCUSDT", "arcusdt@trade")
    archived_ids = {__import__("orjson").loads(p)["t"] for p in trades}
    live_ids = {e["payload"]["t"] for e in kafka_trades if e["source"] == "simulator"}
    assert archived_ids == live_ids  # every raw trade frame received is in the archive
