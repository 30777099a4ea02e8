"""The application front sits at the top of backend/ because it composes search, explore, recommend and grow.

It loads a bundle once, validates requests, runs the engine and returns the one JSON form; the UI, the REST routes,
the CLI and the benches all go through it. It lives here, beside cli.py and not inside any of the packages it
composes, so that the arrows run one way: those packages never import it (tests/test_layers.py), and grow gets the
objects it needs (the encoder, the served view, a way to swap it) instead of the front itself."""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Optional

from backend.data.bundle import Bundle, BundleError, load_bundle
from backend.data.images import load_query_image
from backend.data.thumbs import THUMB_OFFSETS, THUMBS_BIN, read_thumb, thumbnail_png
from backend.device import configure_serving_threads, gpu_task
from backend.paths import ASSETS, CACHE_DIR
from backend.search.engine import Engine
from backend.search.index_choice import index_factory_from_env
from backend.search.kind_intent import KindReader
from backend.search.queries import ImageQuery, MetaverseQuery, Query, StoredImageQuery, TextQuery
from backend.search.results import SearchResponse, result_to_json

log = logging.getLogger(__name__)

EXAMPLES_FILE = ASSETS / "examples.json"
THUMB_SIZES = (32, 48, 64, 96, 128, 256)  # sizes the thumbnail route renders (bounded, so its cache is bounded)
# Searches running at once, whichever door they come through (REST threads, Gradio's queue, scripts): one per core,
# since each runs torch with one thread; more only adds switching (env METAVERSE_SEARCH_SLOTS overrides).
SEARCH_SLOTS = int(os.environ.get("METAVERSE_SEARCH_SLOTS") or os.cpu_count() or 2)


class SearchService:
    """Everything the UI, CLI, REST route and bench need from a loaded bundle. Public methods return JSON-ready data
    and raise ValueError with a message a person can act on."""

    def __init__(self, bundle: Bundle, encoder, engine: Engine):
        from backend.explore.service import ExploreService
        from backend.grow.view import View
        from backend.recommend.service import RecommendService
        self.bundle = bundle
        self.encoder = encoder
        explore = ExploreService(bundle, list(engine.rankers), engine.default_ranker)
        self._view = View(bundle.collection, engine, explore, RecommendService(bundle.collection, engine, explore))
        self.grow = None            # GrowService once additions are on (from_bundle, or enable_additions)
        self.load_seconds: Optional[float] = None
        self._slots = threading.BoundedSemaphore(max(1, SEARCH_SLOTS))
        self._warm_in_background = False
        # Which kind a typed query names (backend/search/kind_intent.py), read against the bundle's own descriptions.
        self.kind_reader = KindReader(bundle.collection, encoder, cache_dir=CACHE_DIR)
        for ranker in engine.rankers.values():   # a query's one-word spans are the words the kind reader just encoded
            if hasattr(ranker, "word_lookup"):
                ranker.word_lookup = self.kind_reader.cached

    # ---- the served view (bundle + additions), swapped whole ----------------------------------------------------
    @property
    def view(self):
        if self.grow is not None:
            self.grow.maybe_refresh()
        return self._view

    def swap_view(self, view) -> None:
        self._view = view
        if self._warm_in_background:
            threading.Thread(target=self.warm_caches, name="warm-caches", daemon=True).start()

    @property
    def collection(self):
        return self.view.collection

    @property
    def engine(self) -> Engine:
        return self.view.engine

    @property
    def explore(self):
        return self.view.explore

    @property
    def recommender(self):
        return self.view.recommender

    def enable_additions(self, store=None) -> None:
        """Serve the metaverses of an additions store (default: $METAVERSE_ADDITIONS or data/additions) beside the
        bundle's, and accept adds and removals."""
        from backend.grow.service import GrowService
        from backend.grow.store import AdditionStore, encoder_identity
        self.grow = GrowService(store or AdditionStore(identity=encoder_identity(self.bundle)), self.encoder,
                                dim=int(self.bundle.encoder_spec.get("dim", 0)), served=lambda: self._view,
                                swap=self.swap_view)

    @property
    def default_ranker(self) -> str:
        return self.engine.default_ranker

    # ---- construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_bundle(cls, path: Path | str, check_hashes: bool = True, additions: bool = False) -> "SearchService":
        """Load a bundle, its encoder and rankers. BundleError names the file and the rebuild command.
        additions: also serve the metaverses added at run time (backend.grow), from $METAVERSE_ADDITIONS or
        data/additions. A long-running server then calls start_warming(); a short CLI run computes what it needs on
        demand instead."""
        t0 = time.perf_counter()
        configure_serving_threads()
        bundle = load_bundle(path, check_hashes=check_hashes)
        from backend.encoders.factory import load_encoder
        try:
            encoder = load_encoder(bundle.encoder_spec, bundle.path)
        except (OSError, KeyError, RuntimeError, ValueError) as e:
            raise BundleError(f"{bundle.path}: could not load the encoder {bundle.encoder_spec.get('name')!r} "
                              f"({e}); rebuild with `python -m backend build demo`") from e
        from backend.search.rankers.baseline import BaselineRanker
        rankers = {"baseline": BaselineRanker(bundle.collection, encoder)}
        if "hicalm" in bundle.manifest.get("rankers", {}):
            from backend.search.rankers.hicalm import HicalmRanker
            rankers["hicalm"] = HicalmRanker.from_bundle(bundle, encoder)
        default = bundle.manifest.get("default_ranker", "baseline")
        service = cls(bundle, encoder, Engine(bundle.collection, rankers, default if default in rankers else "baseline",
                                              index_factory=index_factory_from_env()))
        if additions:
            service.enable_additions()
        service.warm_up()
        service.load_seconds = round(time.perf_counter() - t0, 3)
        log.info("service ready in %.2fs: %d metaverses, rankers %s", service.load_seconds,
                 bundle.collection.n_metaverses, list(rankers))
        return service

    def warm_up(self) -> None:
        """One query per ranker so the first user does not pay for lazy initialisation."""
        for name in self.engine.rankers:
            self.search(text="a warm-up query", k=1, ranker=name)

    def start_warming(self) -> None:
        """Fill the rankers' query-independent caches in a daemon thread, now and after every view swap. Call it once
        the UI is built: the thread imports plotly (and narwhals) and hdbscan, and the UI's build importing the same
        packages at the same time deadlocked on narwhals' circular imports (_DeadlockError: the app exited at start)."""
        import narwhals.stable.v1  # noqa: F401 - imported here, on the caller's thread, before the warm thread runs
        import narwhals.stable.v2  # noqa: F401
        import plotly.graph_objects  # noqa: F401
        self._warm_in_background = True
        threading.Thread(target=self.warm_caches, name="warm-caches", daemon=True).start()

    def warm_caches(self) -> None:
        """Query-independent work of every ranker, done once in the background after start-up."""
        t0 = time.perf_counter()
        for ranker in self.engine.rankers.values():
            ranker.warm_caches()
        self.kind_reader.warm()
        self.explore.warm()        # map JSON, so the Explore tab's first draw only serialises it
        self.recommender.warm()    # HDBSCAN's import and first calls (~5 s cold), off the first person's request
        log.info("ranker caches warm in %.2fs", time.perf_counter() - t0)

    # ---- small accessors ----------------------------------------------------------------------------------------
    def rankers(self) -> list[str]:
        return list(self.engine.rankers)

    def examples(self) -> list[str]:
        try:
            data = json.loads(EXAMPLES_FILE.read_text())
        except (OSError, json.JSONDecodeError):
            return []
        key = self.bundle.manifest.get("source", {}).get("type", "demo")
        return list(data.get(key, data.get("demo", [])))

    def info(self) -> dict:
        m = self.bundle.manifest
        return {"bundle": str(self.bundle.path), "name": m.get("name"), "created": m.get("created"),
                "encoder": m["encoder"].get("name"), "counts": m.get("counts", {}), "rankers": self.rankers(),
                "default_ranker": self.default_ranker, "source": m.get("source", {}), "reports": m.get("reports", {})}

    def thumbnail_png(self, key: str, size: int = 64) -> bytes:
        """PNG bytes of one collection image by key ('<metaverse id>/<room>/<image>', from 1)."""
        if size not in THUMB_SIZES:
            raise ValueError(f"Thumbnail size {size!r} is not offered; choose one of {', '.join(map(str, THUMB_SIZES))}.")
        q = StoredImageQuery.parse(key)
        col = self.collection
        m = col.metaverse_row(q.metaverse_id)
        col.image_row(m, q.room - 1, q.image - 1)   # ValueError if the room or image does not exist
        ref = col.metaverses[m].rooms[q.room - 1].images[q.image - 1]
        if not ref:
            raise ValueError(f"{key} has no image to show (features only).")
        if "addition" in ref and self.grow is not None:     # an added metaverse's kept image (backend.grow.encode)
            return _file_png(str(self.grow.store.image_path(ref["addition"], ref["file"])), size)
        if "thumb" in ref:                                  # a picture stored in the bundle (backend.data.thumbs)
            return _bundle_png(str(self.bundle.artifact(THUMBS_BIN)), str(self.bundle.artifact(THUMB_OFFSETS)),
                               int(ref["thumb"]), size)
        return _render_png(json.dumps(ref, sort_keys=True), size)

    # ---- search -------------------------------------------------------------------------------------------------
    def make_query(self, text=None, image=None, image_key=None, metaverse_ids=None, collection=None) -> Query:
        """Exactly one of: text, an image (path, bytes, PIL image, array), a stored image key, metaverse ids."""
        col = collection or self.collection
        given = [name for name, v in (("text", text), ("image", image), ("image_key", image_key),
                                      ("metaverse_ids", metaverse_ids)) if v is not None]
        if len(given) != 1:
            raise ValueError("Give exactly one query: a text, an image, an image key to search like, or metaverse ids"
                             + (f" (got {', '.join(given)})." if given else "."))
        if text is not None:
            return TextQuery.parse(text)
        if image is not None:
            return ImageQuery(load_query_image(image))
        if image_key is not None:
            q = StoredImageQuery.parse(image_key)
            m = col.metaverse_row(q.metaverse_id)
            col.image_row(m, q.room - 1, q.image - 1)
            return q
        q = MetaverseQuery.parse(metaverse_ids)
        for mid in q.metaverse_ids:
            col.metaverse_row(mid)
        return q

    @gpu_task
    def search(self, text: Optional[str] = None, image=None, image_key: Optional[str] = None,
               metaverse_ids=None, kind: str = "all", k: int = 10, ranker: Optional[str] = None,
               full: bool = False, min_score: Optional[float] = None, kind_intent: bool = True) -> SearchResponse:
        """Rank metaverses for one query. `full` adds every room's paragraph and the intro. min_score: only hits
        scoring at least this (served score, cosine scale), k of them at most. A text query searched over kind "all"
        that names a kind ("a game with snowy mountains") runs as that kind when kind_intent is true;
        out["query"]["kind_intent"] is then {"kind", "applied", "evidence"} ("applied": false when kind_intent is
        false), and None when no kind is named or a kind was chosen."""
        view = self.view      # one view for the whole request, even if an addition lands meanwhile
        query = self.make_query(text=text, image=image, image_key=image_key, metaverse_ids=metaverse_ids,
                                collection=view.collection)
        t0 = time.perf_counter()
        named = self.kind_reader.read(query.text) if isinstance(query, TextQuery) and kind == "all" else None
        t_named = time.perf_counter()
        with self._slots:
            result = view.engine.search(query, kind=named.kind if named and kind_intent else kind, k=k,
                                        ranker=ranker, min_score=min_score)
        t1 = time.perf_counter()
        out = result_to_json(view.collection, result, full=bool(full))
        out["query"]["kind_intent"] = named.to_json(applied=bool(kind_intent)) if named else None
        out["timings_ms"]["kind_intent"] = round((t_named - t0) * 1000, 2)
        out["timings_ms"]["to_json"] = round((time.perf_counter() - t1) * 1000, 2)
        out["timings_ms"]["total"] = round((time.perf_counter() - t0) * 1000, 2)
        return out


@lru_cache(maxsize=8192)
def _render_png(ref_json: str, size: int) -> bytes:
    import io

    from backend.world.render import render_image
    buf = io.BytesIO()
    render_image(json.loads(ref_json), size=size).save(buf, format="PNG")  # optimize=True: 7x the time, 1 % smaller
    return buf.getvalue()


@lru_cache(maxsize=1024)
def _bundle_png(bin_path: str, offsets_path: str, row: int, size: int) -> bytes:
    """A bundle's stored picture at most size x size (the bundle is read-only while served)."""
    import io

    import numpy as np
    from PIL import Image
    png = read_thumb(Path(bin_path), np.load(offsets_path, mmap_mode="r"), row)
    with Image.open(io.BytesIO(png)) as im:
        return png if max(im.size) <= size else thumbnail_png(im, size)


@lru_cache(maxsize=1024)
def _file_png(path: str, size: int) -> bytes:
    """A kept image file at most size x size (files of the additions store never change under one path)."""
    from PIL import Image
    with Image.open(path) as im:
        return thumbnail_png(im, size)
