"""``python -m binance_sim`` entry point."""
import sys

from .cli import main

sys.exit(main())
