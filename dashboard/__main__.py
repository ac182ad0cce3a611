"""python -m dashboard: serve the read API and the page with uvicorn (settings from the environment)."""
from __future__ import annotations

import logging
import sys

import uvicorn

from dashboard.app import create_app
from dashboard.config import ConfigError, load_config


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        cfg = load_config()
    except ConfigError as exc:
        print(f"dashboard: {exc}", file=sys.stderr)
        return 2
    # one worker: the LISTEN connection and the page cache are per process; access log off (hot path)
    uvicorn.run(create_app(cfg), host=cfg.host, port=cfg.port, log_level="info", access_log=False,
                timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
