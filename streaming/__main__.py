"""CLI: ``python -m streaming --help``. Runs in the foreground (supervisord), JSON logs on stdout."""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import yaml

from shared.settings import SettingsError
from shared.symbols import SYMBOLS_FILE, load_symbols
from streaming.config import ENV_OVERRIDES, STREAMING_FILE, load_streaming_settings


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m streaming",
        description="Binance websocket -> Kafka ingest (crypto_raw_<symbol>, crypto_dlq), gap-free via REST backfill.",
        epilog="Environment: " + ", ".join(ENV_OVERRIDES) + ", ACTIVE_SYMBOLS. "
               "Endpoints: http://<metrics.host>:<metrics.port>/metrics, /healthz, /status.")
    p.add_argument("--config", type=Path, default=STREAMING_FILE, help=f"service settings (default {STREAMING_FILE})")
    p.add_argument("--symbols", type=Path, default=SYMBOLS_FILE, help=f"symbols file (default {SYMBOLS_FILE})")
    p.add_argument("--source", choices=["binance", "simulator", "replay", "auto"], help="override 'source'")
    p.add_argument("--kafka", help="bootstrap servers (overrides KAFKA_BOOTSTRAP_SERVERS)")
    p.add_argument("--metrics-port", type=int, help="metrics/health port (0 = ephemeral)")
    p.add_argument("--set", action="append", default=[], metavar="DOTTED.KEY=VALUE",
                   help="override any setting, e.g. --set connection.max_age_s=3600 (YAML value)")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--check-config", action="store_true", help="validate the config files, print the result, exit")
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    overrides: dict = {}
    for item in a.set:
        k, sep, v = item.partition("=")
        if not sep:
            print(f"--set expects KEY=VALUE, got {item!r}", file=sys.stderr)
            return 2
        overrides[k.strip()] = yaml.safe_load(v)
    if a.source:
        overrides["source"] = a.source
    if a.kafka:
        overrides["kafka.bootstrap_servers"] = a.kafka
    if a.metrics_port is not None:
        overrides["metrics.port"] = a.metrics_port
    try:
        settings = load_streaming_settings(a.config, overrides=overrides)
        symbols = load_symbols(a.symbols)
    except SettingsError as e:
        print(f"configuration error:\n{e}", file=sys.stderr)
        return 2
    if a.check_config:
        print(f"OK: source={settings.source} kafka={settings.kafka.bootstrap_servers} "
              f"symbols={[s.symbol for s in symbols.active]} "
              f"streams={sum(len(s.streams) for s in symbols.active)}")
        return 0
    from streaming.logs import setup_logging
    from streaming.service import Service

    setup_logging(a.log_level)
    return asyncio.run(Service(settings, symbols).run())


if __name__ == "__main__":
    sys.exit(main())
