"""Which vector engine serves the engine's top-k lists: the one place that reads the environment for it.

  METAVERSE_VECTOR_ENGINE  faiss (default): in-process faiss (backend.search.index.KindIndex)
                           milvus: Milvus (backend.search.index_milvus), at METAVERSE_MILVUS_URI
  METAVERSE_MILVUS_URI     a local path ending in .db -> Milvus Lite, a server the app starts as its own
                           subprocess (default data/milvus.db); http://host:19530 -> a Milvus standalone server or
                           cluster
  METAVERSE_MILVUS_TOKEN   the cluster's token ("user:password" or an API key); empty for Milvus Lite
"""
from __future__ import annotations

import os
from typing import Callable, Mapping, Optional

from backend.paths import REPO

ENGINE_ENV = "METAVERSE_VECTOR_ENGINE"
URI_ENV = "METAVERSE_MILVUS_URI"
TOKEN_ENV = "METAVERSE_MILVUS_TOKEN"
ENGINES = ("faiss", "milvus")
DEFAULT_MILVUS_URI = str(REPO / "data" / "milvus.db")   # data/ holds mutable state and is not committed


def index_factory_from_env(env: Optional[Mapping[str, str]] = None) -> Optional[Callable]:
    """The index factory for Engine(index_factory=...): None for faiss (the engine's default), a connected
    MilvusIndexFactory for milvus. ValueError for an unknown engine name; MilvusUnavailable when the server cannot
    be reached."""
    env = os.environ if env is None else env
    engine = (env.get(ENGINE_ENV) or "faiss").strip().lower()
    if engine == "faiss":
        return None
    if engine == "milvus":
        from backend.search.index_milvus import MilvusIndexFactory
        return MilvusIndexFactory(env.get(URI_ENV) or DEFAULT_MILVUS_URI, token=env.get(TOKEN_ENV, ""))
    raise ValueError(f"{ENGINE_ENV}={env.get(ENGINE_ENV)!r} is not a vector engine; choose one of: {', '.join(ENGINES)}.")
