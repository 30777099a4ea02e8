"""Milvus behind the engine's LevelIndex interface (backend.search.index): one collection per ranker and level.

The same pymilvus client serves both ends of the range: a local path ending in ".db" starts Milvus Lite (the Milvus
C++ core as a subprocess of this one, data in that file; what CI and a laptop use), and "http://host:19530" (with a
token) talks to a Milvus standalone server or a distributed cluster. backend.search.index_choice picks this engine
from the environment (METAVERSE_VECTOR_ENGINE=milvus, METAVERSE_MILVUS_URI, METAVERSE_MILVUS_TOKEN).

Each collection: id INT64 primary key (the global row id the engine already uses), vec FLOAT_VECTOR(D), kind
VARCHAR; metric IP over the ranker's L2-normalised vectors, so scores are the cosines faiss gives. A kind filter is
a boolean expression on the scalar field. Collections are reused across restarts when their stored fingerprint
(vectors, kinds, schema and index choice) and row count match the ranker's vectors; otherwise dropped and rebuilt.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
import time
import types
from importlib import metadata, util
from pathlib import Path
from typing import Optional

import numpy as np

from backend.data.kinds import ALL, KINDS, check_kind_filter
from backend.search.index_choice import ENGINE_ENV, TOKEN_ENV, URI_ENV

log = logging.getLogger(__name__)

# FLAT (exact) up to this many rows, as backend.search.index does for faiss; past it a graph index on a server
# (HNSW: Milvus Lite accepts only FLAT, IVF_FLAT and AUTOINDEX, so Lite gets IVF_FLAT).
EXACT_LIMIT = 100_000
INSERT_BATCH = 4096        # rows per insert request: 4096 x 384 x 4 B = 6 MB, under Milvus's 64 MB per request
MAX_TOPK = 16_384          # Milvus's largest k per search
CONNECT_TIMEOUT_S = 10.0
SCHEMA_VERSION = 1         # bump when the schema below changes, so stored collections are rebuilt
REMOTE_SCHEMES = ("http://", "https://", "tcp://", "unix:")
FINGERPRINT_PREFIX = "metaverse-search fingerprint="


class MilvusUnavailable(RuntimeError):
    """The Milvus server named by the URI could not be reached (or Milvus Lite could not start there)."""


def is_remote(uri: str) -> bool:
    return uri.lower().startswith(REMOTE_SCHEMES)


def check_lite_path(uri: str) -> Path:
    """A Milvus Lite URI: a local file path ending in .db whose name Milvus Lite accepts. ValueError otherwise."""
    path = Path(uri).expanduser()
    if path.suffix != ".db":
        raise ValueError(f"{URI_ENV}={uri!r}: a local Milvus Lite path must end in .db (for example data/milvus.db); "
                         f"a Milvus server is given as http://host:19530")
    if not re.fullmatch(r"[A-Za-z0-9.\-_]{1,36}", path.name):
        raise ValueError(f"{URI_ENV}={uri!r}: Milvus Lite needs a file name of at most 36 letters, digits, '.', '-' "
                         f"or '_' (got {path.name!r})")
    return path.absolute()


def collection_name(prefix: str, name: str) -> str:
    """A valid Milvus collection name (letters, digits, underscores; not starting with a digit)."""
    out = re.sub(r"[^A-Za-z0-9_]", "_", f"{prefix}_{name}" if prefix else name)
    return out if re.match(r"[A-Za-z_]", out) else f"_{out}"


def import_milvus_lite() -> None:
    """Import milvus_lite (pymilvus imports it for .db URIs). milvus-lite 2.5.1 reads its own version with
    pkg_resources, which setuptools >= 82 no longer ships; give it a stand-in built on importlib.metadata for that one
    import, then take the stand-in away so no other library mistakes it for the real one."""
    if "milvus_lite" in sys.modules or util.find_spec("milvus_lite") is None or util.find_spec("pkg_resources"):
        return
    shim = types.ModuleType("pkg_resources")
    shim.DistributionNotFound = metadata.PackageNotFoundError
    shim.get_distribution = lambda name: types.SimpleNamespace(version=metadata.version(name))
    sys.modules["pkg_resources"] = shim
    try:
        import milvus_lite  # noqa: F401
    finally:
        if sys.modules.get("pkg_resources") is shim:
            del sys.modules["pkg_resources"]


def connect(uri: str, token: str = "", timeout: float = CONNECT_TIMEOUT_S):
    """A MilvusClient for uri (a Milvus Lite .db path, or a server URL). MilvusUnavailable naming the URI and the
    environment variables when it cannot be reached."""
    from pymilvus import MilvusClient
    if not is_remote(uri):
        path = check_lite_path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        uri = str(path)
    # Milvus Lite's server writes its glog files to /tmp unless told otherwise: keep them beside the .db file
    set_log_dir = not is_remote(uri) and "GLOG_log_dir" not in os.environ
    try:
        if not is_remote(uri):
            import_milvus_lite()
        if set_log_dir:
            os.environ["GLOG_log_dir"] = str(Path(uri).parent)   # read by the server subprocess when it starts
        client = MilvusClient(uri=uri, token=token or "", timeout=timeout)
        client.list_collections()
    except Exception as e:  # pymilvus raises MilvusException/ConnectionConfigException; Lite may raise others
        where = "start Milvus Lite at" if not is_remote(uri) else "reach the Milvus server at"
        raise MilvusUnavailable(
            f"Could not {where} {uri!r} ({type(e).__name__}: {e}). Set {URI_ENV} to a reachable server "
            f"(http://host:19530, with {TOKEN_ENV} if it needs one) or a local .db path for Milvus Lite, "
            f"or set {ENGINE_ENV}=faiss.") from e
    finally:
        if set_log_dir:
            os.environ.pop("GLOG_log_dir", None)
    return client


def fingerprint(vecs: np.ndarray, kinds: np.ndarray, spec: dict) -> str:
    """sha256 of the vectors, the kinds and the schema/index choice: a stored collection with the same one holds
    exactly these rows."""
    h = hashlib.sha256()
    h.update(repr((SCHEMA_VERSION, sorted(spec.items()), vecs.shape)).encode())
    h.update(np.ascontiguousarray(vecs, dtype=np.float32).tobytes())
    h.update("\n".join(map(str, kinds)).encode())
    return h.hexdigest()


def index_spec(n: int, remote: bool, exact_limit: int = EXACT_LIMIT) -> tuple[dict, dict]:
    """(index params, search params) for a collection of n rows: FLAT (exact) up to exact_limit; past it HNSW on a
    server, IVF_FLAT on Milvus Lite (which accepts only FLAT, IVF_FLAT and AUTOINDEX)."""
    if n <= exact_limit:
        return {"index_type": "FLAT", "params": {}}, {"metric_type": "IP", "params": {}}
    if remote:
        return ({"index_type": "HNSW", "params": {"M": 32, "efConstruction": 200}},
                {"metric_type": "IP", "params": {"ef": 128}})
    nlist = int(min(65_536, max(16, 4 * np.sqrt(n))))
    return ({"index_type": "IVF_FLAT", "params": {"nlist": nlist}},
            {"metric_type": "IP", "params": {"nprobe": min(nlist, max(32, nlist // 8))}})


class MilvusIndex:
    """LevelIndex over one Milvus collection: search(query (D,), k, kind) -> (scores, global row ids) best first;
    search_many(queries (Q, D), k, kind) answers Q queries in one search request."""
    remote = True     # each search is a round trip: the engine sends the metaverse and room requests together

    def __init__(self, client, collection: str, sizes: dict[str, int], search_params: dict):
        self.client = client
        self.collection = collection
        self.sizes = sizes                   # rows per kind filter, so k is capped as VectorIndex caps it
        self._search_params = search_params

    def __len__(self) -> int:
        return self.sizes[ALL]

    def search(self, query: np.ndarray, k: int, kind: str = ALL) -> tuple[np.ndarray, np.ndarray]:
        return self.search_many(np.asarray(query)[None, :], k, kind)[0]

    def search_many(self, queries: np.ndarray, k: int, kind: str = ALL) -> list[tuple[np.ndarray, np.ndarray]]:
        """queries (Q, D) -> per query (scores (k',), global row ids (k',)) best first, from one search request."""
        kind = check_kind_filter(kind)
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(int(k), self.sizes[kind], MAX_TOPK)
        if k <= 0 or not len(queries):
            return [(np.zeros(0, np.float32), np.zeros(0, np.int64)) for _ in range(len(queries))]
        params = dict(self._search_params)
        if "ef" in params.get("params", {}):                       # HNSW needs ef >= k
            params["params"] = {**params["params"], "ef": max(params["params"]["ef"], k)}
        expr = "" if kind == ALL else f'kind == "{kind}"'
        try:
            scores, ids, topks = _search_arrays(self.client, self.collection, queries, k, expr, params)
        except _NotPinnedPymilvus:
            res = self.client.search(self.collection, data=queries, limit=k, filter=expr, anns_field="vec",
                                     search_params=params, output_fields=[])
            return [(np.asarray(h.distances, np.float32), np.asarray(h.ids, np.int64)) for h in res]
        cuts = np.cumsum(topks)[:-1]
        return list(zip(np.split(scores, cuts), np.split(ids, cuts)))


class _NotPinnedPymilvus(Exception):
    """The pymilvus internals _search_arrays relies on are not there (a version other than the pinned 3.0.2)."""


def _search_arrays(client, collection: str, queries: np.ndarray, k: int, expr: str,
                   params: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One search request -> (scores, ids, hits per query), read from the gRPC response as flat arrays.
    MilvusClient.search builds the same request but wraps every hit in a Python object (~0.5 ms per 256 hits); its
    _async form avoids that but waits on gRPC's polling thread (+0.5 ms per request measured). So this sends the
    request pymilvus 3.0.2 (pinned) builds, as its GrpcHandler.search does, on the calling thread."""
    try:
        from pymilvus.client import ts_utils
        from pymilvus.client.call_context import _api_level_md
        from pymilvus.client.prepare import Prepare
        from pymilvus.client.utils import check_status
        conn = client._get_connection()
        context = client._generate_call_context()
        stub = conn._stub
    except (ImportError, AttributeError) as e:
        raise _NotPinnedPymilvus(str(e)) from e
    kwargs = client._with_cluster_id({}) if hasattr(client, "_with_cluster_id") else {}
    use_default = ts_utils.construct_guarantee_ts(collection, kwargs, conn.server_address, context.get_db_name())
    request = Prepare.search_requests_with_expr(
        collection_name=collection, anns_field="vec", param=params, limit=k, data=queries, expr=expr,
        partition_names=None, output_fields=[], round_decimal=-1, use_default_consistency=use_default, **kwargs)
    response = stub.Search(request, timeout=None, metadata=_api_level_md(context))   # as client.search sends it
    check_status(response.status)
    res = response.results
    return (np.asarray(res.scores, np.float32), np.asarray(res.ids.int_id.data, np.int64),
            np.asarray(res.topks, np.int64))


class MilvusIndexFactory:
    """index_factory(vecs, kinds, name) -> MilvusIndex for backend.search.engine.Engine: one collection per
    (ranker, level) name, "<prefix>_<name>". Connects once, at construction (MilvusUnavailable if it cannot).

    partition_key: make kind a partition key, so a cluster searches only the partitions of the filtered kind. Off by
    default: at two kinds a filter expression costs little, and Milvus Lite rejects filters on a partition-key
    field ("Invalid expr"), so CI cannot exercise it."""

    def __init__(self, uri: str, token: str = "", prefix: str = "metaverse_search", *, partition_key: bool = False,
                 exact_limit: int = EXACT_LIMIT, timeout: float = CONNECT_TIMEOUT_S):
        self.uri = uri
        self.remote = is_remote(uri)
        self.prefix = prefix
        self.partition_key = partition_key
        self.exact_limit = exact_limit
        self.client = connect(uri, token, timeout)
        self.build_seconds: dict[str, float] = {}     # per collection built (inserted) by this factory
        self.reused: list[str] = []                   # collections found up to date and reused

    def __repr__(self) -> str:
        return f"MilvusIndexFactory({self.uri!r}, prefix={self.prefix!r})"

    def index_spec(self, n: int) -> tuple[dict, dict]:
        return index_spec(n, self.remote, self.exact_limit)

    def __call__(self, vecs: np.ndarray, kinds: np.ndarray, name: str) -> MilvusIndex:
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        kinds = np.asarray(kinds).astype(str)
        if vecs.ndim != 2 or len(vecs) != len(kinds):
            raise ValueError(f"{name}: vecs {vecs.shape} and kinds ({len(kinds)},) do not match")
        bad = sorted(set(kinds) - set(KINDS))
        if bad:
            raise ValueError(f"{name}: unknown kinds {bad}; expected {list(KINDS)}")
        coll = collection_name(self.prefix, name)
        index_params, search_params = self.index_spec(len(vecs))
        spec = {"index": repr(index_params), "partition_key": self.partition_key}
        description = FINGERPRINT_PREFIX + fingerprint(vecs, kinds, spec)
        sizes = {ALL: len(vecs), **{k: int((kinds == k).sum()) for k in KINDS}}
        if self._up_to_date(coll, description, len(vecs)):
            self.reused.append(coll)
            log.info("milvus: reusing %s (%d rows) at %s", coll, len(vecs), self.uri)
        else:
            t0 = time.perf_counter()
            self._build(coll, description, vecs, kinds, index_params)
            self.build_seconds[coll] = round(time.perf_counter() - t0, 3)
            log.info("milvus: built %s (%d rows, %s) in %.2fs at %s", coll, len(vecs), index_params["index_type"],
                     self.build_seconds[coll], self.uri)
        return MilvusIndex(self.client, coll, sizes, search_params)

    def _up_to_date(self, coll: str, description: str, n: int) -> bool:
        c = self.client
        if not c.has_collection(coll):
            return False
        if c.describe_collection(coll).get("description") != description:
            return False
        c.load_collection(coll)
        return self.count(coll) == n

    def count(self, coll: str) -> int:
        rows = self.client.query(coll, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def _build(self, coll: str, description: str, vecs: np.ndarray, kinds: np.ndarray, index_params: dict) -> None:
        from pymilvus import DataType
        c = self.client
        if c.has_collection(coll):
            c.drop_collection(coll)
        schema = c.create_schema(auto_id=False, enable_dynamic_field=False, description=description)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=int(vecs.shape[1]))
        schema.add_field("kind", DataType.VARCHAR, max_length=32, is_partition_key=self.partition_key)
        index = c.prepare_index_params()
        index.add_index(field_name="vec", index_type=index_params["index_type"], metric_type="IP",
                        params=index_params["params"])
        c.create_collection(coll, schema=schema, index_params=index, consistency_level="Strong")
        for lo in range(0, len(vecs), INSERT_BATCH):
            hi = min(lo + INSERT_BATCH, len(vecs))
            c.insert(coll, [{"id": i, "vec": vecs[i].tolist(), "kind": str(kinds[i])} for i in range(lo, hi)])
        c.flush(coll)
        c.load_collection(coll)
        n = self.count(coll)
        if n != len(vecs):
            raise RuntimeError(f"milvus: {coll} at {self.uri} holds {n} rows after inserting {len(vecs)}")

    def drop(self, name: str) -> None:
        """Drop the collection of one (ranker, level) name, if it exists."""
        coll = collection_name(self.prefix, name)
        if self.client.has_collection(coll):
            self.client.drop_collection(coll)

    def close(self) -> None:
        """Close the client and, for Milvus Lite, stop the local server process this process started for the file
        (it also stops on its own when this process exits)."""
        try:
            self.client.close()
        finally:
            if not self.remote:
                try:
                    from milvus_lite.server_manager import server_manager_instance
                except ImportError:
                    return
                server_manager_instance.release_server(str(check_lite_path(self.uri)))
