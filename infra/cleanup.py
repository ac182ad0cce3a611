"""./cleanup.sh: delete the stack's data and state (var/), and with --cache the installer cache too.
Destructive, so it asks first unless --yes is given; it refuses while the stack is running."""
from __future__ import annotations

import argparse
import shutil
import sys

from infra.layout import Layout
from infra.supervisor import Supervisor


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cleanup.sh", description=__doc__)
    ap.add_argument("--yes", action="store_true", help="do not ask")
    ap.add_argument("--cache", action="store_true", help="also delete .cache/ (next install downloads again)")
    ap.add_argument("--credentials", action="store_true", help="also delete the generated .env")
    args = ap.parse_args(argv)
    layout = Layout()
    if Supervisor(layout).running():
        print("[cleanup] the stack is running; run ./stop.sh first", file=sys.stderr)
        return 1
    targets = [layout.var] + ([layout.cache, layout.root / ".venv"] if args.cache else [])
    if args.credentials:
        targets.append(layout.env_file)
    targets = [t for t in targets if t.exists()]
    if not targets:
        print("[cleanup] nothing to delete")
        return 0
    print("[cleanup] will delete:\n  " + "\n  ".join(str(t) for t in targets))
    if not args.yes:
        if not sys.stdin.isatty():
            print("[cleanup] refusing without --yes (no terminal to ask on)", file=sys.stderr)
            return 1
        if input("Type 'yes' to delete: ").strip().lower() != "yes":
            print("[cleanup] aborted, nothing deleted")
            return 1
    for t in targets:
        if t.is_dir():
            shutil.rmtree(t)
        else:
            t.unlink()
    print("[cleanup] done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
