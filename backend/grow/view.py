"""What a search answers from at one moment: collection, engine, maps and recommender, swapped whole on a change so
a request in flight never sees half an addition.

Two ways to a new view. grown_view: the bundle's view with every addition appended, every index rebuilt by the
engine's own factory (at start, and after a removal). appended_view: the served view with new additions appended,
its faiss indexes copied and given only the new vectors (KindIndex.appended), the collection's feature arrays grown
in spare capacity (grow/rows.py), the rankers computing only the new rows' vectors and the maps placing only the new
points, so an add costs about the same at 1,000 additions as at 5. The old view's objects are never changed (its
arrays are prefixes of buffers written only past them): a search that started on it finishes on it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from backend.grow.collection import extend_collection
from backend.grow.encode import Addition


@dataclass(frozen=True)
class View:
    collection: object     # backend.data.collection.Collection
    engine: object         # backend.search.engine.Engine
    explore: object        # backend.explore.service.ExploreService
    recommender: object    # backend.recommend.service.RecommendService
    added: tuple[str, ...] = ()                       # ids of the added metaverses, in row order
    skipped: tuple[dict, ...] = field(default=())     # additions that failed their check: {"id", "reason"}
    version: int = 0                                  # the store's version this view was built from
    items: tuple[str, ...] = ()                       # store folders of every index item it was built from, in order
    work: dict = field(default_factory=dict)          # what building it cost: vectors indexed, rows added, rebuilt
    rows: dict = field(default_factory=dict)          # {collection array: Rows holding it}, so the next add grows it


def _counting(factory, counter: dict):
    """The engine's index factory, counting the vectors it is given (a rebuild indexes every row)."""
    def build(vecs, kinds, name):
        counter["vectors_indexed"] += len(vecs)
        return factory(vecs, kinds, name)
    return build


def grown_view(base: View, additions: list[Addition], skipped=(), version: int = 0, items=()) -> View:
    """base (the bundle's view) with `additions` appended: every ranker extends its vectors, the indexes are rebuilt
    by the engine's own index factory, the maps place the new points by their neighbours."""
    from backend.recommend.service import RecommendService
    from backend.search.engine import Engine
    work = {"vectors_indexed": 0, "rows_added": len(additions), "rebuilt": True}
    if not additions:
        return View(base.collection, base.engine, base.explore, base.recommender, (), tuple(skipped), version,
                    tuple(items), work)
    rows = {}
    collection = extend_collection(base.collection, additions, rows)
    rankers = {name: r.extended(collection) for name, r in base.engine.rankers.items()}
    engine = Engine(collection, rankers, base.engine.default_ranker,
                    index_factory=_counting(base.engine.index_factory, work))
    engine.index_factory = base.engine.index_factory
    explore = _placed(base.explore, base.explore.extended(collection, rankers), len(additions))
    return View(collection, engine, explore, RecommendService(collection, engine, explore),
                tuple(a.info.id for a in additions), tuple(skipped), version, tuple(items), work, rows)


def appended_view(prev: View, base: View, additions: list[Addition], skipped=(), version: int = 0,
                  items=()) -> Optional[View]:
    """prev (a view of base plus earlier additions) with `additions` appended at its end; falls back to
    grown_view's full rebuild when the engine's indexes are not faiss's (another vector engine rebuilds)."""
    from backend.recommend.service import RecommendService
    from backend.search.engine import Engine
    work = {"vectors_indexed": 0, "rows_added": len(additions), "rebuilt": False}
    skipped = tuple(prev.skipped) + tuple(skipped)
    if not additions:
        return View(prev.collection, prev.engine, prev.explore, prev.recommender, prev.added, skipped, version,
                    tuple(items), work, prev.rows)
    n_old = prev.collection.n_metaverses
    rows = dict(prev.rows)                                # prev's own dict is never changed
    collection = extend_collection(prev.collection, additions, rows)
    rankers = {name: r.extended(collection) for name, r in prev.engine.rankers.items()}
    indexes = _appended_indexes(prev.engine, rankers, collection, n_old, work)
    if indexes is None:
        return None
    engine = Engine(collection, rankers, prev.engine.default_ranker, index_factory=lambda v, k, name: indexes[name])
    engine.index_factory = base.engine.index_factory      # the next rebuild builds with the real factory
    explore = _placed(prev.explore, prev.explore.extended(collection, rankers), len(additions))
    return View(collection, engine, explore, RecommendService(collection, engine, explore),
                prev.added + tuple(a.info.id for a in additions), skipped, version, tuple(items), work, rows)


def _placed(before, after, n_new: int):
    """after's maps with params["placed"] counting every added point (placement counts only the points it placed
    in its call, which for an appended view is the new ones; the map labels the added points by this count)."""
    from dataclasses import replace
    for key, m in after.maps.items():
        if key in before.maps:
            prior = int(before.maps[key].params.get("placed", 0))
            new = len(m.coords) - len(before.maps[key].coords)
            after.maps[key] = replace(m, params={**m.params, "placed": prior + new})
    return after


def _appended_indexes(prev_engine, rankers: dict, collection, n_old: int, work: dict) -> Optional[dict]:
    """{index name: prev's index plus the new rows}, as Engine names them; None unless every one is a KindIndex."""
    from backend.search.index import KindIndex
    by_level = {"metaverse": getattr(prev_engine, "_metaverse_index", None),
                "room": getattr(prev_engine, "_room_index", None)}
    if any(not isinstance(d, dict) for d in by_level.values()):
        return None
    new_kinds = np.array([m.kind for m in collection.metaverses[n_old:]])                 # (M_new,)
    new_room_kinds = np.repeat(new_kinds, np.diff(collection.metaverse_room_offsets[n_old:]))  # (R_new,)
    out = {}
    for name, ranker in rankers.items():
        for level, vecs, k in (("metaverse", ranker.metaverse_vecs, new_kinds),
                               ("room", ranker.room_vecs, new_room_kinds)):
            old = by_level[level].get(name)
            if not isinstance(old, KindIndex):
                return None
            index = old.appended(vecs, k)
            if index is None:
                return None
            work["vectors_indexed"] += len(k)             # each new row goes to its kind's index, once
            out[f"{name}_{level}"] = index
    return out
