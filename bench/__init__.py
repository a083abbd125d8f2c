"""The asv benchmark suite (``asv run``) and the benchmark report tools.

Parameters come from the activation table through :func:`fastact.bench.cases`,
so every activation is benchmarked without being listed here. Set
``FASTACT_ASV_SMALL=1`` for the quick CI pass (small sizes only).

``bench/tools/`` (not a package, so asv does not import it) holds the report
scripts: ``report.py`` writes the README table and the figures,
``reproducibility.py`` runs ``fastact bench --quick`` twice and compares them,
``agreement.py`` compares the row-wise kernels with PyTorch, ``first_call.py``
measures first-call latency, ``overhead.py`` per-call overhead, and
``gpu_targets.py`` the GPU targets. Every steady-state timing goes through
:mod:`fastact.timing` (``first_call.py`` times single first calls).
"""
