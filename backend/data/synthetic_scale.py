"""Synthetic collections of N metaverses shaped like the demo world's HiCALM vectors, for scale benchmarks.

Each synthetic metaverse is sampled around one demo metaverse (its template, drawn uniformly, so kinds keep the demo's
proportion): 3-9 rooms (uniform), each a demo room of the template plus Gaussian noise, and a metaverse vector that is
the template's plus noise, all re-normalised. The noise of every source vector has the norm of that vector's distance
to its nearest demo neighbour (rooms: the nearest room of another metaverse) times `spread`, so dense regions of the
demo space stay dense and sparse ones sparse, and the copies fill the gaps between neighbours instead of piling up on
the 650 originals. Arrays only (float32 vectors, int64 offsets, int8 kind codes): 10^6 metaverses take seconds and
about 7 GB (256-d).
"""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from backend.data.kinds import KINDS
from backend.paths import DEFAULT_BUNDLE

CHUNK_ROWS = 1 << 17   # vectors generated per step: bounds the temporaries (128k x 256 x 4 B = 128 MB)


@dataclass(frozen=True)
class DemoVectors:
    """The demo bundle's HiCALM vectors and each one's noise scale."""
    metaverse_vecs: np.ndarray   # (M, D) float32
    room_vecs: np.ndarray        # (R, D) float32
    room_offsets: np.ndarray     # (M + 1,) int64
    kind_codes: np.ndarray       # (M,) int8 index into KINDS
    metaverse_sigma: np.ndarray  # (M,) distance of each metaverse to its nearest other metaverse
    room_sigma: np.ndarray       # (R,) distance of each room to its nearest room of another metaverse


@dataclass(frozen=True)
class ScaleCollection:
    """N synthetic metaverses in the CSR layout the engine uses."""
    metaverse_vecs: np.ndarray   # (N, D) float32, L2-normalised
    room_vecs: np.ndarray        # (N_rooms, D) float32, L2-normalised
    room_offsets: np.ndarray     # (N + 1,) int64
    kind_codes: np.ndarray       # (N,) int8 index into KINDS
    template: np.ndarray         # (N,) int32 demo metaverse each one was sampled around

    @property
    def n_metaverses(self) -> int:
        return len(self.metaverse_vecs)

    @property
    def n_rooms(self) -> int:
        return len(self.room_vecs)

    def room_owner(self) -> np.ndarray:
        """(N_rooms,) metaverse row of every room."""
        return np.repeat(np.arange(self.n_metaverses, dtype=np.int64), np.diff(self.room_offsets))

    def kinds(self) -> np.ndarray:
        """(N,) kind names (what KindIndex takes)."""
        return np.asarray(KINDS)[self.kind_codes]


@dataclass(frozen=True)
class ScaleQueries:
    """Text-query-like queries: a metaverse-level vector and 1-3 room-level parts each."""
    metaverse: np.ndarray      # (Q, D)
    parts: np.ndarray          # (sum of P_q, D)
    part_offsets: np.ndarray   # (Q + 1,) int64
    template: np.ndarray       # (Q,) demo metaverse each query was drawn around

    def __len__(self) -> int:
        return len(self.metaverse)

    def query_parts(self, q: int) -> np.ndarray:
        return self.parts[self.part_offsets[q]:self.part_offsets[q + 1]]


def _nn_distance(vecs: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Euclidean distance of each row to its nearest row of another group (unit vectors: sqrt(2 - 2 cos))."""
    out = np.empty(len(vecs), np.float32)
    for a in range(0, len(vecs), 1024):
        sims = vecs[a:a + 1024] @ vecs.T                                   # (b, n)
        sims[group[a:a + 1024, None] == group[None, :]] = -1.0
        out[a:a + 1024] = np.sqrt(np.maximum(2.0 - 2.0 * sims.max(1), 0.0))
    return out


def load_demo_vectors(bundle: Path | str = DEFAULT_BUNDLE) -> DemoVectors:
    """The committed bundle's HiCALM metaverse and room vectors, room offsets and kinds."""
    bundle = Path(bundle)
    mv = np.load(bundle / "hicalm_metaverse_vecs.npy").astype(np.float32)
    rooms = np.load(bundle / "hicalm_room_vecs.npy").astype(np.float32)
    offsets = np.load(bundle / "metaverse_room_offsets.npy").astype(np.int64)
    kinds = [m["kind"] for m in json.loads((bundle / "metaverses.json").read_text())]
    if len(kinds) != len(mv) or offsets[-1] != len(rooms) or len(offsets) != len(mv) + 1:
        raise ValueError(f"{bundle}: metaverses.json, hicalm vectors and room offsets do not agree")
    codes = np.array([KINDS.index(k) for k in kinds], np.int8)
    owner = np.repeat(np.arange(len(mv)), np.diff(offsets))
    return DemoVectors(mv, rooms, offsets, codes, _nn_distance(mv, np.arange(len(mv))), _nn_distance(rooms, owner))


def _perturb_into(out: np.ndarray, src_vecs: np.ndarray, src_sigma: np.ndarray, src: np.ndarray, seed: int,
                  stream: int, spread: float, threads: int = 2) -> None:
    """out[i] = normalise(src_vecs[src[i]] + noise), noise ~ N(0, I) * src_sigma[src[i]] * spread / sqrt(D).

    Written in place chunk by chunk on `threads` threads (numpy's generators release the GIL); chunk c draws from its
    own generator seeded (seed, stream, c), so the result does not depend on the number of threads."""
    d = src_vecs.shape[1]
    scale = (src_sigma * (spread / np.sqrt(d))).astype(np.float32)
    local = threading.local()

    def chunk(c: int) -> None:
        a = c * CHUNK_ROWS
        s = src[a:a + CHUNK_ROWS]
        block = out[a:a + len(s)]
        rng = np.random.Generator(np.random.SFC64(np.random.SeedSequence([seed, stream, c])))
        rng.standard_normal(out=block, dtype=np.float32)
        block *= scale[s][:, None]
        if getattr(local, "buf", None) is None:
            local.buf = np.empty((CHUNK_ROWS, d), np.float32)
        base = local.buf[:len(s)]
        np.take(src_vecs, s, axis=0, out=base, mode="clip")   # "raise" would buffer
        block += base
        block /= np.sqrt(np.einsum("ij,ij->i", block, block))[:, None]

    n_chunks = -(-len(src) // CHUNK_ROWS)
    with ThreadPoolExecutor(max(1, threads)) as pool:
        list(pool.map(chunk, range(n_chunks)))


def make_scale_collection(n: int, seed: int = 0, demo: Optional[DemoVectors] = None, spread: float = 1.0,
                          min_rooms: int = 3, max_rooms: int = 9, threads: int = 2) -> ScaleCollection:
    """n synthetic metaverses sampled around the demo's (module docstring); deterministic by seed."""
    demo = demo or load_demo_vectors()
    rng = np.random.default_rng(seed)
    template = rng.integers(0, len(demo.metaverse_vecs), n).astype(np.int32)               # (n,)
    n_rooms = rng.integers(min_rooms, max_rooms + 1, n)                                       # (n,)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(n_rooms, out=offsets[1:])
    demo_counts = np.diff(demo.room_offsets)
    owner_template = np.repeat(template, n_rooms)                                             # (N_rooms,)
    pick = (rng.random(len(owner_template)) * demo_counts[owner_template]).astype(np.int64)   # a room of the template
    room_src = demo.room_offsets[owner_template] + pick                                       # (N_rooms,)
    del owner_template, pick
    d = demo.room_vecs.shape[1]
    metaverse_vecs = np.empty((n, d), np.float32)
    room_vecs = np.empty((len(room_src), d), np.float32)
    _perturb_into(metaverse_vecs, demo.metaverse_vecs, demo.metaverse_sigma, template, seed, 1, spread, threads)
    _perturb_into(room_vecs, demo.room_vecs, demo.room_sigma, room_src, seed, 2, spread, threads)
    return ScaleCollection(metaverse_vecs, room_vecs, offsets, demo.kind_codes[template], template)


def make_scale_queries(n: int, seed: int = 0, demo: Optional[DemoVectors] = None, spread: float = 1.0,
                       max_parts: int = 3) -> ScaleQueries:
    """n held-out queries (their own random stream, never a collection vector): a demo metaverse's vector and 1-3 of
    its distinct rooms, each perturbed as in make_scale_collection."""
    demo = demo or load_demo_vectors()
    rng = np.random.default_rng([seed, 0x5CA1E])                     # not the collection's stream
    template = rng.integers(0, len(demo.metaverse_vecs), n)
    counts = np.diff(demo.room_offsets)[template]
    n_parts = np.minimum(rng.integers(1, max_parts + 1, n), counts)
    src = np.concatenate([demo.room_offsets[t] + rng.permutation(c)[:p]
                          for t, c, p in zip(template, counts, n_parts)]).astype(np.int64)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(n_parts, out=offsets[1:])
    d = demo.room_vecs.shape[1]
    metaverse = np.empty((n, d), np.float32)
    parts = np.empty((len(src), d), np.float32)
    _perturb_into(metaverse, demo.metaverse_vecs, demo.metaverse_sigma, template, seed, 3, spread)
    _perturb_into(parts, demo.room_vecs, demo.room_sigma, src, seed, 4, spread)
    return ScaleQueries(metaverse, parts, offsets, template.astype(np.int32))
