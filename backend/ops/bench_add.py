"""`python -m backend bench-add`: what one add costs with 5, 100 and 1,000 additions already stored, as latency
(p50 / p95 per add) and as counted work (files hashed, vectors given to the indexes, whether the view was rebuilt),
for the appending path the app serves and, with --old, for the path before it (every add re-hashes the store and
rebuilds the view). The store is a temporary folder; the existing additions are bulk-loaded from small generated
specs (features instead of pictures, so loading 1,000 takes seconds)."""
from __future__ import annotations

import logging
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import numpy as np

from backend.grow.service import GrowService
from backend.grow.store import AdditionStore, Loaded, encoder_identity
from backend.grow.view import grown_view

log = logging.getLogger(__name__)

SIZES = (5, 100, 1000)
REPEATS = 20          # timed adds per size (the store grows by these while measuring)
OLD_REPEATS = 3       # the old path costs seconds per add, growing with the store: fewer samples
OLD_SIZES = (5, 100)
KINDS = ("museum", "game")


def generated_spec(i: int, dim: int, seed: int = 0, rooms: int = 2, images: int = 3) -> dict:
    """A small valid spec: `rooms` rooms of `images` random unit feature rows each, one sentence per paragraph."""
    rng = np.random.default_rng([seed, i])
    feats = rng.standard_normal((rooms, images, dim)).astype(np.float32)
    return {"id": f"bench-{seed}-{i:05d}", "kind": KINDS[i % 2], "title": f"Generated world {i}",
            "paragraphs": [f"Generated world {i} for the add benchmark."]
                          + [f"Room {r + 1} of world {i}." for r in range(rooms)],
            "rooms": [{"title": f"Room {r + 1}", "features": feats[r].tolist()} for r in range(rooms)]}


class RebuildEveryAdd(GrowService):
    """The code path before appending (git 02152ef): each change re-reads and re-hashes every addition and rebuilds
    the whole view from the bundle's."""

    def refresh(self, force: bool = False):
        with self._lock:
            version, served = self.store.version(), self._served()
            if not force and version == served.version:
                return served
            hashed0 = self.store.hashed
            items = self.store.items()
            loaded = self.store.load(items)
            view = grown_view(self.base, loaded.additions, loaded.skipped, version, tuple(it["dir"] for it in items))
            self._swap(view)
            self.last_work = {**view.work, "files_hashed": self.store.hashed - hashed0}
            return view

    def _written(self, additions, summaries) -> None:
        """Nothing kept: the old path read every addition back."""


def _service_with_store(service, store_dir: Path, old: bool):
    """service (a loaded SearchService) serving a fresh store from its bundle's own view; returns the GrowService."""
    if not hasattr(service, "_bench_base"):
        service._bench_base = service._view          # the bundle's view, before any store was served
    service._view = service._bench_base
    cls = RebuildEveryAdd if old else GrowService
    service.grow = cls(AdditionStore(store_dir, encoder_identity(service.bundle)), service.encoder,
                       dim=int(service.bundle.encoder_spec.get("dim", 0)), served=lambda: service._view,
                       swap=service.swap_view)
    return service.grow


def measure(service, sizes=SIZES, repeats: int = REPEATS, old: bool = False, seed: int = 0) -> list[dict]:
    """Per size: bulk-load up to `size` additions (one view swap), then `repeats` single adds, each timed and its
    work counted."""
    dim = int(service.bundle.encoder_spec.get("dim", 0))
    rows, n = [], 0
    with tempfile.TemporaryDirectory(prefix="bench-add-") as tmp:
        grow = _service_with_store(service, Path(tmp) / "store", old)
        for size in sizes:
            t0 = time.perf_counter()
            bulk = [(f"gen-{i}", generated_spec(i, dim, seed), None) for i in range(n, size)]
            out = grow.add_many(bulk) if bulk else {"added": [], "skipped": []}
            assert not out["skipped"], out["skipped"]
            bulk_s = time.perf_counter() - t0
            n = size
            lat, cpu, encode_ms, serve_ms, work = [], [], [], [], []
            for _ in range(repeats):
                t, c = time.perf_counter(), time.process_time()
                res = grow.add(generated_spec(n, dim, seed))
                lat.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)   # CPU of this process: less swayed by other jobs
                encode_ms.append(res["timings_ms"]["encode"])
                serve_ms.append(res["timings_ms"]["store_and_serve"])
                work.append(dict(grow.last_work))
                n += 1
            rows.append({"existing": size, "bulk_load_s": round(bulk_s, 2), "bulk_loaded": len(bulk),
                         "add_ms": _pct(lat), "add_cpu_ms": _pct(cpu), "encode_ms": _pct(encode_ms), "store_and_serve_ms": _pct(serve_ms),
                         "files_hashed_per_add": sorted({w["files_hashed"] for w in work}),
                         "vectors_indexed_per_add": sorted({w["vectors_indexed"] for w in work}),
                         "rebuilt": any(w["rebuilt"] for w in work), "metaverses_after": res["metaverses"]})
            log.info("%s path, %d existing: %s", "old" if old else "appending", size, rows[-1])
    return rows


def _pct(xs: list[float]) -> dict:
    a = np.asarray(xs, float)
    return {"p50": round(float(np.percentile(a, 50)), 1), "p95": round(float(np.percentile(a, 95)), 1),
            "n": len(xs)}


def run_add_bench(bundle: Path, sizes=SIZES, repeats: int = REPEATS, old: bool = False,
                  old_repeats: int = OLD_REPEATS, old_sizes=OLD_SIZES, out: Optional[Path] = None) -> dict:
    from backend.ops.bench import _machine
    from backend.service import SearchService
    service = SearchService.from_bundle(bundle)
    report = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": _machine(),
              "bundle": str(bundle), "bundle_metaverses": service.bundle.collection.n_metaverses,
              "spec": "generated: 2 rooms x 3 feature rows, 3 one-sentence paragraphs (backend/ops/bench_add.py)",
              "appending": measure(service, sizes, repeats)}
    if old:
        report["old"] = measure(service, old_sizes, old_repeats, old=True)
    if out:
        import json
        Path(out).write_text(json.dumps(report, indent=1))
    return report
