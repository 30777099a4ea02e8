"""What a search answers from at one moment: collection, engine, maps and recommender, swapped whole on a change so
a request in flight never sees half an addition."""
from __future__ import annotations

from dataclasses import dataclass, field

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


def grown_view(base: View, additions: list[Addition], skipped=(), version: int = 0) -> View:
    """base (the bundle's view) with `additions` appended: every ranker extends its vectors, the indexes are rebuilt
    by the engine's own index factory, the maps place the new points by their neighbours."""
    from backend.recommend.service import RecommendService
    from backend.search.engine import Engine
    if not additions:
        return View(base.collection, base.engine, base.explore, base.recommender, (), tuple(skipped), version)
    collection = extend_collection(base.collection, additions)
    rankers = {name: r.extended(collection) for name, r in base.engine.rankers.items()}
    engine = Engine(collection, rankers, base.engine.default_ranker, index_factory=base.engine.index_factory)
    explore = base.explore.extended(collection, rankers)
    return View(collection, engine, explore, RecommendService(collection, engine, explore),
                tuple(a.info.id for a in additions), tuple(skipped), version)
