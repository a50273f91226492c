"""``python -m draganything.train CONFIG.json [--set key=value ...]`` runs (or resumes) one training stage."""

from __future__ import annotations

import argparse
import sys

from ..errors import DragAnythingError
from .config import TrainConfig, parse_override


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m draganything.train", description=__doc__)
    parser.add_argument("config", help="a JSON file with TrainConfig fields (see draganything/tiny/configs)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field (value parsed as JSON when possible); repeatable")
    args = parser.parse_args(argv)
    try:
        config = TrainConfig.from_json(args.config, dict(parse_override(item) for item in args.set))
        from .trainer import train

        train(config)
    except DragAnythingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
