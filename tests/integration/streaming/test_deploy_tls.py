"""The deploy stack's own service definitions (infra/services.py, as ./deploy.sh runs them): the simulator
serves TLS with the certificate deploy made once under var/etc/tls, and the streaming service ingests over
wss:// and https://, trusting that CA only."""
from __future__ import annotations

import json
import os
import time
import urllib.request

from infra.services import sim_tls_dir


def test_deploy_specs_run_streaming_over_tls(own_stack, monkeypatch):
    monkeypatch.setenv("STREAM_SOURCE", "simulator")  # no internet here: never probe Binance
    own_stack.start("simulator", "streaming")
    tls = sim_tls_dir(own_stack.layout)
    assert os.stat(tls / "server-key.pem").st_mode & 0o777 == 0o600
    assert os.stat(tls / "ca-key.pem").st_mode & 0o777 == 0o600
    url = f"http://{own_stack.settings.bind_host}:{own_stack.settings.streaming.metrics_port}/status"
    deadline = time.time() + 60
    while True:
        with urllib.request.urlopen(url, timeout=5) as r:
            st = json.loads(r.read())
        if st["delivered"] > 100 or time.time() > deadline:
            break
        time.sleep(1)
    assert st["ws_url"].startswith("wss://") and st["source"] == "simulator"
    assert st["delivered"] > 100 and st["delivery_failed"] == 0 and st["symbols_unavailable"] == {}
    before = {p.name: p.read_bytes() for p in tls.iterdir()}
    own_stack.stop("simulator")
    own_stack.start("simulator")  # deploy runs prepare again: the certificate is reused, not remade
    assert {p.name: p.read_bytes() for p in tls.iterdir()} == before
