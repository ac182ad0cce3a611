"""Command line: ``python -m binance_sim --help``.

Runs in the foreground (supervisord-friendly), logs to stdout, and on
SIGTERM/SIGINT sends ``serverShutdown`` to every client, closes them and
exits 0.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from .config import SimConfig, SymbolSpec, clock_id_base
from .control_auth import TOKEN_ENV
from .faults import FaultSpec
from .server import SimulatorServer

log = logging.getLogger("binance_sim")


def _value(v: str):
    if v.lower() in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def _kv(items: list[str]) -> dict:
    out = {}
    for it in items:
        k, sep, v = it.partition("=")
        if not sep:
            raise SystemExit(f"expected key=value, got {it!r}")
        out[k.strip()] = _value(v.strip())
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m binance_sim",
                                description="Binance-compatible market-data simulator (WebSocket streams + REST).")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9443, help="port for WS, REST and /_sim (0 = ephemeral; default 9443)")
    p.add_argument("--symbols", default="BTCUSDT,ETHUSDT", help="comma-separated symbols (default BTCUSDT,ETHUSDT)")
    p.add_argument("--rate", type=float, default=20.0, help="mean trades/s per symbol (default 20)")
    p.add_argument("--rates", default="", help="per-symbol overrides, e.g. BTCUSDT=200,ETHUSDT=50")
    p.add_argument("--seed", type=int, default=1, help="random seed (same seed, same market)")
    p.add_argument("--id-base", default="0", metavar="N|clock",
                   help="added to the first trade/aggTrade/update id; 'clock' derives it from the wall clock so "
                        "ids keep increasing across restarts (default 0: ids start at 1)")
    p.add_argument("--step-ms", type=int, default=20, help="engine step in ms, divides 100 (default 20)")
    p.add_argument("--history-s", type=int, default=3600, help="trade/kline history kept for REST (s)")
    p.add_argument("--ping-interval", type=float, default=20.0, help="server ping interval (s)")
    p.add_argument("--pong-timeout", type=float, default=60.0, help="disconnect after this long without pong (s)")
    p.add_argument("--max-lifetime", type=float, default=86_400.0, help="connection lifetime (s)")
    p.add_argument("--max-incoming", type=int, default=5, help="incoming WS messages/s per connection")
    p.add_argument("--weight-limit", type=int, default=6000, help="REST weight per minute per IP")
    p.add_argument("--fault", action="append", default=[], metavar="KEY=VALUE",
                   help="fault for every connection, repeatable; keys: " + ", ".join(FaultSpec.__dataclass_fields__))
    p.add_argument("--refuse-for", type=float, default=0.0, help="refuse WS connections for the first N s (503)")
    p.add_argument("--rest-fault", action="append", default=[], metavar="STATUS[:COUNT]",
                   help="answer the next COUNT REST requests with STATUS (429, 418, 500, 503, 504)")
    p.add_argument("--replay", metavar="FILE", help="play a JSONL(.gz) archive instead of the synthetic market")
    p.add_argument("--speed", type=float, default=1.0, help="replay speed factor (0 = as fast as possible)")
    p.add_argument("--replay-loop", action="store_true", help="restart the replay at the end")
    p.add_argument("--replay-wait", action="store_true", help="start the replay at the first subscription")
    p.add_argument("--tls-cert", metavar="PEM", help="serve wss:// and https:// with this certificate chain")
    p.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert (default: in the same file)")
    p.add_argument("--tls-dir", metavar="DIR", help="make (once) a local CA + server certificate for "
                   "127.0.0.1/localhost in DIR and serve TLS with it; clients trust DIR/ca.pem")
    p.add_argument("--log-level", default="INFO")
    return p


def config_from_args(a: argparse.Namespace) -> SimConfig:
    rates = {k.upper(): float(v) for k, v in _kv([r for r in a.rates.split(",") if r]).items()}
    symbols = []
    for s in [s.strip() for s in a.symbols.split(",") if s.strip()]:
        spec = SymbolSpec.default(s, rate=rates.get(s.upper(), a.rate))
        symbols.append(spec)
    faults = _kv(a.fault)
    FaultSpec.from_dict(faults)  # validate early with a clear message
    id_base = clock_id_base() if a.id_base == "clock" else int(a.id_base)
    cert, key = a.tls_cert, a.tls_key
    if a.tls_dir:
        from .tls import ensure_certificates
        files = ensure_certificates(a.tls_dir)
        cert, key = str(files.cert), str(files.key)
    # the control API's token comes from the environment, never the command line (`ps` shows that to everyone)
    return SimConfig(host=a.host, port=a.port, control_token=os.environ.get(TOKEN_ENV) or None, symbols=symbols,
                     seed=a.seed, id_base=id_base, step_ms=a.step_ms,
                     history_s=a.history_s, ping_interval_s=a.ping_interval, pong_timeout_s=a.pong_timeout,
                     max_lifetime_s=a.max_lifetime, max_incoming_per_s=a.max_incoming,
                     weight_limit_1m=a.weight_limit, replay_file=a.replay, replay_speed=a.speed,
                     replay_loop=a.replay_loop, replay_wait_for_client=a.replay_wait, faults=faults,
                     tls_cert=cert, tls_key=key)


async def _serve(cfg: SimConfig, a: argparse.Namespace) -> None:
    server = SimulatorServer(cfg)
    await server.start()
    if a.refuse_for:
        server.faults.refuse(seconds=a.refuse_for)
    for rf in a.rest_fault:
        status, _, count = rf.partition(":")
        server.faults.arm_rest(int(status), int(count or 1))
    mode = f"replay file={cfg.replay_file} speed={cfg.replay_speed}" if cfg.replay_file else \
        "synthetic symbols=" + ",".join(f"{s.symbol}:{s.rate:g}/s" for s in cfg.symbols)
    log.info("binance_sim listening ws=%s/ws rest=%s/api/v3/ping mode=%s seed=%s",
             server.ws_url, server.rest_url, mode, cfg.seed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutdown requested: notifying %d client(s)", len(server.connections))
    await server.stop()
    log.info("binance_sim stopped")


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=getattr(logging, a.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        cfg = config_from_args(a)
    except ValueError as e:
        print(f"binance_sim: configuration error: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(cfg, a))
    except OSError as e:
        log.error("cannot start: %s", e)
        return 1
    return 0
