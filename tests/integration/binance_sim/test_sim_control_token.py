"""The /_sim control API with a token (as in the deploy stack): refused without it or with a wrong one, accepted
with it; the exchange API stays open; the CLI reads the token from its environment, never its command line."""
import os
import secrets
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest

from binance_sim import SimControl, run_in_thread
from sim_it_helpers import cfg, http

ROOT = Path(__file__).resolve().parents[3]


def post(url: str, token: str | None = None) -> int:
    req = urllib.request.Request(url, data=b"{}", method="POST", headers={"Content-Type": "application/json"})
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.fixture(scope="module")
def guarded():
    token = secrets.token_urlsafe(24)
    h = run_in_thread(cfg(control_token=token))
    yield h, token
    h.stop()


def test_control_api_refuses_requests_without_the_token(guarded):
    sim, token = guarded
    for path in ("/_sim/reset", "/_sim/faults/next", "/_sim/server_shutdown", "/_sim/disconnect_all"):
        assert post(sim.rest_url + path) == 401
        assert post(sim.rest_url + path, token="x" + token[1:]) == 401
    assert http(sim.rest_url + "/_sim/status")[0] == 401
    assert not sim.server.stopping  # the refused server_shutdown did nothing


def test_the_fixtures_handle_carries_the_token(guarded):
    sim, token = guarded
    assert post(sim.rest_url + "/_sim/reset", token=token) == 200
    assert sim.control.arm_next(drop_after_messages=5)  # the handle's client sends it
    assert "connections" in sim.control.status()
    with pytest.raises(urllib.error.HTTPError, match="401"):
        SimControl(sim.rest_url).status()
    assert http(sim.rest_url + "/api/v3/ping")[0] == 200  # market data needs no token


def test_cli_takes_the_token_from_its_environment_only():
    token = secrets.token_urlsafe(24)
    p = subprocess.Popen([sys.executable, "-m", "binance_sim", "--port", "0", "--symbols", "BTCUSDT", "--rate", "5"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT), SIMULATOR_CONTROL_TOKEN=token))
    try:
        line = p.stdout.readline().decode()
        rest = line.split("rest=")[1].split("/api")[0]
        assert post(rest + "/_sim/reset") == 401
        assert SimControl(rest, token=token).status()["mode"] == "synthetic"
        assert token not in " ".join(psutil.Process(p.pid).cmdline()) and token not in line
    finally:
        p.terminate()
        p.wait(20)
