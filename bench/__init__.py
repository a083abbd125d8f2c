"""The asv benchmark suite (``asv run``) and the benchmark report tools.

Parameters come from the activation table through :func:`fastact.bench.cases`,
so every activation is benchmarked without being listed here. Set
``FASTACT_ASV_SMALL=1`` for the quick CI pass (small sizes only).
"""
