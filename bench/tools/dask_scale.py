"""fastact on Dask beyond memory: softmax and cross-entropy over an array several
times larger than each worker's memory limit, on a ``dask.distributed`` LocalCluster.

    python bench/tools/dask_scale.py                 # 8 GiB float32, 2 workers x 1 GiB
    python bench/tools/dask_scale.py --gib 1 --json out.json

The logits are generated lazily with ``dask.array.random`` in the workers (never
materialised on the client); every result block is reduced to one number in the
worker, so only scalars come back. Each worker runs one thread and fastact's
kernels are set to one thread there (``set_num_threads(1)``), so "per worker" is
per core. Timed, each once after a warm-up on a small array (the kernels compile
in the workers outside the timed region):

* ``source``: generating the logits and touching every block (the floor);
* ``softmax``: softmax over a class axis split into several chunks (the tree
  reduction of per-chunk (max, sum of exp) and the blockwise pass);
* ``cross_entropy``: cross-entropy with ``return_grad=True`` over row chunks
  (class axis in one chunk), the loss and the whole gradient computed.

Throughput is the logits' bytes over the wall time, divided by the number of
workers; "net" subtracts the source's time. Next to it: the same fastact calls on
an in-memory NumPy array in this process, on one thread.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import numpy as np

import fastact


def _touch(b: np.ndarray) -> np.ndarray:
    """One float64 per block (keeps the block's value in the result)."""
    return np.full((1,) * b.ndim, float(b.reshape(-1)[:: max(b.size // 64, 1)].sum()))


def _reduce_blocks(a):  # type: ignore[no-untyped-def]
    import dask.array as da

    chunks = tuple((1,) * len(c) for c in a.chunks)
    return da.map_blocks(_touch, a, chunks=chunks, dtype=np.float64).sum()


def single_process(rows: int, C: int, reps: int = 3) -> dict[str, float]:
    """GB/s of fastact on an in-memory float32 array, one thread."""
    rng = np.random.default_rng(0)
    x = rng.random((rows, C), dtype=np.float32) * 8
    t = rng.integers(0, C, rows)
    prev = fastact.get_num_threads()
    fastact.set_num_threads(1)
    try:
        fastact.softmax(x[:8])
        fastact.cross_entropy(x[:8], t[:8], return_grad=True)
        out = {}
        for name, f in (
            ("softmax", lambda: fastact.softmax(x)),
            ("cross_entropy", lambda: fastact.cross_entropy(x, t, return_grad=True)),
        ):
            ts = []
            for _ in range(reps):
                t0 = time.perf_counter()
                f()
                ts.append(time.perf_counter() - t0)
            out[name] = x.nbytes / statistics.median(ts) / 1e9
    finally:
        fastact.set_num_threads(prev)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gib", type=float, default=8.0, help="logits size in GiB (float32)")
    p.add_argument("--classes", type=int, default=32768)
    p.add_argument("--class-chunks", type=int, default=4, help="chunks along the class axis")
    p.add_argument("--chunk-mib", type=float, default=32.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--memory-limit", default="1GiB")
    p.add_argument("--json", help="write the figures here")
    a = p.parse_args(argv)

    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    C = a.classes
    rows = int(a.gib * 2**30 / 4 / C)
    chunk_elems = int(a.chunk_mib * 2**20 / 4)
    cc = C // a.class_chunks
    split = (max(chunk_elems // cc, 1), cc)  # class axis split (softmax)
    whole = (max(chunk_elems // C, 1), C)  # class axis whole (cross-entropy)
    nbytes = rows * C * 4

    cluster = LocalCluster(
        n_workers=a.workers, threads_per_worker=1, processes=True,
        memory_limit=a.memory_limit, dashboard_address=None,
    )  # fmt: skip
    client = Client(cluster)
    try:
        client.run(fastact.set_num_threads, 1)
        limit = dask.utils.parse_bytes(a.memory_limit)

        def logits(chunks):  # type: ignore[no-untyped-def]
            rng = da.random.default_rng(0)
            return rng.random((rows, C), dtype=np.float32, chunks=chunks) * 8

        def target(chunks):  # type: ignore[no-untyped-def]
            return da.random.default_rng(1).integers(0, C, rows, chunks=chunks[0])

        # warm-up: compile the kernels in every worker, outside the timed region
        small = da.random.default_rng(2).random((64, C), dtype=np.float32, chunks=(8, cc))
        ts = da.random.default_rng(3).integers(0, C, 64, chunks=8)
        for _ in range(2):
            client.compute([
                _reduce_blocks(fastact.softmax(small)),
                _reduce_blocks(fastact.cross_entropy(small.rechunk((8, C)), ts,
                                                     return_grad=True)[1]),
            ], sync=True)  # fmt: skip

        cases = {
            "source": lambda: _reduce_blocks(logits(split)),
            "softmax": lambda: _reduce_blocks(fastact.softmax(logits(split))),
            "cross_entropy": lambda: (
                lambda lg: lg[0] + _reduce_blocks(lg[1])
            )(fastact.cross_entropy(logits(whole), target(whole), return_grad=True)),
        }
        res: dict[str, float] = {}
        for name, make in cases.items():
            graph = make()
            t0 = time.perf_counter()
            v = client.compute(graph, sync=True)
            res[name] = time.perf_counter() - t0
            if not math.isfinite(float(v)):
                raise RuntimeError(f"{name}: non-finite result {v}")
    finally:
        client.close()
        cluster.close()

    local = single_process(max(chunk_elems // C, 1) * 16, C)
    per = {k: nbytes / t / 1e9 / a.workers for k, t in res.items()}
    net = {
        k: nbytes / max(res[k] - res["source"], 1e-9) / 1e9 / a.workers
        for k in ("softmax", "cross_entropy")
    }
    print(f"logits: {rows} x {C} float32 = {nbytes / 2**30:.2f} GiB; "
          f"{a.workers} workers x {a.memory_limit} "
          f"({nbytes / limit:.1f}x one worker's limit)")  # fmt: skip
    print(f"chunks: softmax {split} (class axis in {a.class_chunks} chunks), "
          f"cross-entropy {whole}")  # fmt: skip
    print(f"{'':15s} {'wall s':>8s} {'GB/s/worker':>12s} {'net GB/s/worker':>16s} "
          f"{'1-process GB/s':>15s}")  # fmt: skip
    for k in res:
        n = f"{net[k]:16.2f}" if k in net else " " * 16
        l1 = f"{local[k]:15.2f}" if k in local else ""
        print(f"{k:15s} {res[k]:8.1f} {per[k]:12.2f} {n} {l1}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"gib": nbytes / 2**30, "workers": a.workers,
                       "memory_limit": a.memory_limit, "wall_s": res,
                       "gbps_per_worker": per, "net_gbps_per_worker": net,
                       "single_process_gbps": local}, f, indent=1)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
