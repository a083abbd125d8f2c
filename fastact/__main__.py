"""Command line: ``fastact bench`` (the benchmark) and ``fastact demo`` (the experiments)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: fastact {bench,demo} [options]   (fastact bench --help)")
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "bench":
        from fastact.bench import main as bench_main

        return bench_main(rest)
    if cmd == "demo":
        from fastact.demo import main as demo_main

        return demo_main(rest)
    print(f"fastact: unknown command {cmd!r}; use 'bench' or 'demo'", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
