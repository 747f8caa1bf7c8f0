"""Run benchmarks: ``python -m tests.bench`` (all) or ``python -m tests.bench NAME [NAME…]``.

A benchmark is a module ``tests/bench/<name>.py`` with ``run() -> Iterable[Figure]``. Each
figure is printed as one JSON line ``{"bench", "figure", "unit", "baseline", "ratio"}``
(baseline and ratio where the benchmark measures one in the same run).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

from tests.bench._common import emit


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    names = argv or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}",
            file=sys.stderr,
        )
        return 2
    for name in names:
        module = importlib.import_module(f"tests.bench.{name}")
        for fig in module.run():
            emit(fig)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
