"""The `necklab` command: `necklab [--host H] [--port P]` serves the app, `necklab render …` writes a
lesson pack (see `necklab render --help`)."""
from __future__ import annotations

import sys
from collections.abc import Sequence

from necklab.cli import render
from necklab.ui import app


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["render"]:
        return render.main(args[1:], prog="necklab render")
    if args[:1] == ["serve"]:
        args = args[1:]
    app.main(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
