"""Command line: ``fastact bench``, ``fastact demo``, ``fastact info``.

``fastact --help`` lists the subcommands; ``fastact <command> --help`` their options.
"""

from __future__ import annotations

import sys

#: subcommand -> one line of help
COMMANDS = {
    "bench": "time fastact against PyTorch, NumPy and a memory stream (median and interval)",
    "demo": "run the experiments (training curves and figures)",
    "info": "the configuration: version, backends, threads, library versions",
}


def usage() -> str:
    lines = [
        "usage: fastact [--help] [--version] <command> [options]",
        "",
        "commands:",
        *(f"  {name:7s} {text}" for name, text in COMMANDS.items()),
        "",
        "fastact <command> --help shows the options of a command.",
    ]
    return "\n".join(lines)


def info() -> int:
    """Print ``fastact.show_config()`` where it exists, else backends and threads."""
    import fastact

    show = getattr(fastact, "show_config", None)
    if callable(show):
        text = show()
        if isinstance(text, str):  # show_config may return its text rather than print it
            print(text)
        return 0
    from fastact import bench

    m = bench.machine()
    print(f"fastact {fastact.__version__}")
    print(f"backends: {', '.join(fastact.available_backends())}")
    print(f"threads: {fastact.get_num_threads()}")
    for k, v in m["thread_counts"].items():
        print(f"  {k}: {v}")
    for k in ("python", "numpy", "numba", "torch", "cpu", "cpu_count", "governor"):
        if k in m:
            print(f"{k}: {m[k]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(usage(), file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        import fastact

        print(f"fastact {fastact.__version__}")
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "bench":
        from fastact.bench import main as bench_main

        return bench_main(rest)
    if cmd == "demo":
        from fastact.demo import main as demo_main

        return demo_main(rest)
    if cmd == "info":
        if rest and rest[0] in ("-h", "--help"):
            print(f"usage: fastact info\n\n{COMMANDS['info']}")
            return 0
        return info()
    print(
        f"fastact: unknown command {cmd!r}; choose one of {', '.join(COMMANDS)}\n\n{usage()}",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
