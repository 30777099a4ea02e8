"""A remote index (Milvus) gets a query's metaverse request and its room-parts request at the same time, and the
candidates are the same as when they go one after the other."""
from __future__ import annotations

import threading

import numpy as np

from backend.data.kinds import ALL
from backend.search.engine import find_candidates
from backend.search.rankers.base import QueryVecs

RNG = np.random.default_rng(0)
META = RNG.normal(size=(40, 8)).astype(np.float32)
ROOMS = RNG.normal(size=(120, 8)).astype(np.float32)
OWNER = np.repeat(np.arange(40), 3)


class _Flat:
    def __init__(self, vecs: np.ndarray, remote: bool, started: threading.Event, wait_for: threading.Event | None):
        self.vecs, self.remote, self.started, self.wait_for = vecs, remote, started, wait_for

    def __len__(self) -> int:
        return len(self.vecs)

    def _top(self, q: np.ndarray, k: int):
        s = self.vecs @ q
        order = np.argsort(-s)[:k]
        return s[order], order.astype(np.int64)

    def search(self, q, k, kind=ALL):
        self.started.set()
        if self.wait_for is not None:          # answers only once the other request is in flight too
            assert self.wait_for.wait(10), "the other request was not sent until this one returned"
        return self._top(q, k)

    def search_many(self, qs, k, kind=ALL):
        return [self.search(q, k, kind) for q in qs]


def _candidates(remote: bool):
    mv_started, room_started = threading.Event(), threading.Event()
    # the room request waits for the metaverse request: one after the other (rooms first) would wait in vain
    rooms = _Flat(ROOMS, remote, room_started, mv_started if remote else None)
    metaverses = _Flat(META, remote, mv_started, None)
    qv = QueryVecs(metaverse=META[3], room=ROOMS[7], room_parts=ROOMS[[7, 50]], room_weight=0.5)
    return find_candidates(metaverses, rooms, OWNER, qv, k=5, kind=ALL, n_list=10)


def test_a_remote_index_gets_both_requests_at_once_with_the_same_candidates():
    together, serial = _candidates(remote=True), _candidates(remote=False)
    assert np.array_equal(together.rows, serial.rows)
    assert together.unseen_bound == serial.unseen_bound
    for (s1, i1), (s2, i2) in zip(together.part_rooms, serial.part_rooms):
        assert np.array_equal(i1, i2) and np.allclose(s1, s2)
