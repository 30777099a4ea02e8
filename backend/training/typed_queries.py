"""Typed queries for training: short texts naming 1-4 rooms of a metaverse the way visitors type them, read exactly
as serving reads them (split_query -> query_lattice -> content words), so HiCALM's text hierarchy learns that
"sepia dunes plus grey ruins" is this metaverse (description level) and that "sepia dunes" is that room (room level).

Only the generator's caption words (`Words.names`) are used, never its held-out paraphrases (those are kept for
evaluation), and the phrasing comes from small lists here, not from the hand-written query set: that set (queries/)
is where the result is measured. Connectors are drawn from a list that includes none at all, so that the text
hierarchy does not come to depend on them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.data.collection import Collection
from backend.data.text import content_words, query_lattice, split_query
from backend.eval.queryset import room_recipes
from backend.world.generate import PALETTE_WORDS, STYLE_WORDS, SUBJECT_WORDS, _pick

CONNECTORS = (", ", " and ", " plus ", ", also ", " then ", " ", "; ", " with ", " & ", ", and ")
ORDER_OPENERS = ("", "", "", "starts with ", "first ")
MAX_ROOMS = 4


def phrase(recipe: dict, rng: np.random.Generator) -> str:
    """One room in a visitor's words: some of its subject, palette and style, in one of a few orders."""
    subject = SUBJECT_WORDS.get(recipe.get("subject"))
    if subject is None:
        return ""
    s = _pick(rng, subject.names)
    palette = PALETTE_WORDS.get(recipe.get("palette"))
    p = _pick(rng, palette.names) if palette else ""
    style = STYLE_WORDS.get(recipe.get("style")) if recipe.get("style") else None
    st = _pick(rng, style.names) if style and rng.random() < 0.4 else ""
    bare = p[3:] if p.startswith("in ") else p
    form = int(rng.integers(4)) if p else 3
    text = {0: f"{bare} {s}", 1: f"{s} {p}", 2: f"{s} {bare}", 3: s}[form]
    return f"{st} {text}".strip() if st else text


@dataclass(frozen=True)
class TypedQuery:
    text: str
    rooms: tuple[int, ...]      # local room indices named, in the order named
    phrases: tuple[str, ...]    # the words naming each of them


def synth_query(collection: Collection, m: int, rng: np.random.Generator) -> TypedQuery | None:
    """A typed query naming 1-MAX_ROOMS rooms of metaverse m (in room order), or None when it has no image rooms."""
    recipes = room_recipes(collection, m)
    rooms = [r for r, recipe in enumerate(recipes) if recipe]
    if not rooms:
        return None
    k = int(rng.integers(1, min(MAX_ROOMS, len(rooms)) + 1))
    chosen = sorted(rng.choice(rooms, size=k, replace=False).tolist())
    phrases = [phrase(recipes[r], rng) for r in chosen]
    text = phrases[0]
    for p in phrases[1:]:
        text += _pick(rng, CONNECTORS) + p
    if k > 1:
        text = _pick(rng, ORDER_OPENERS) + text
    return TypedQuery(text, tuple(chosen), tuple(phrases))


@dataclass(frozen=True)
class TypedQueryPool:
    """Typed queries per metaverse with every text they need embedded once (the encoder is not run in training)."""
    embs: np.ndarray                                   # (T, D) sentence embeddings of the unique texts
    clause_ids: dict[int, list[list[int]]]             # metaverse row -> per query: its clauses' text ids
    room_ids: dict[int, list[list[tuple[int, int]]]]   # metaverse row -> per query: (phrase text id, local room)

    @classmethod
    def build(cls, collection: Collection, encoder, idx, per_metaverse: int = 8, seed: int = 0) -> "TypedQueryPool":
        rng = np.random.default_rng(seed)
        texts: dict[str, int] = {}

        def tid(t: str) -> int:
            return texts.setdefault(t, len(texts))

        clause_ids: dict[int, list[list[int]]] = {}
        room_ids: dict[int, list[list[tuple[int, int]]]] = {}
        for m in (int(i) for i in idx):
            for _ in range(per_metaverse):
                q = synth_query(collection, m, rng)
                if q is None:
                    continue
                lattice = query_lattice(split_query(q.text))
                clauses = [s.text for s in lattice.spans[:len(lattice.clauses)]]
                clause_ids.setdefault(m, []).append([tid(c) for c in clauses])
                room_ids.setdefault(m, []).append([(tid(" ".join(content_words(p))), r)
                                                   for p, r in zip(q.phrases, q.rooms)])
        ordered = sorted(texts, key=texts.get)
        embs = encoder.encode_text(ordered) if ordered else np.zeros((0, collection.sentence_embs.shape[1]), np.float32)
        return cls(np.asarray(embs, np.float32), clause_ids, room_ids)

    def sample(self, batch_idx: np.ndarray, p: float, rng: np.random.Generator):
        """One typed query for about p of the batch: (batch positions, (A, P) clause text ids -1 padded,
        (N,) phrase text ids, (N,) batch position of each phrase's metaverse, (N,) its local room)."""
        picked = [i for i in np.flatnonzero(rng.random(len(batch_idx)) < p) if int(batch_idx[i]) in self.clause_ids]
        if not picked:
            return np.zeros(0, np.int64), None, None, None, None
        chosen = [(i, int(rng.integers(len(self.clause_ids[int(batch_idx[i])])))) for i in picked]
        P = max(len(self.clause_ids[int(batch_idx[i])][j]) for i, j in chosen)
        clauses = np.full((len(chosen), P), -1, np.int64)
        phrase_ids, owners, rooms = [], [], []
        for a, (i, j) in enumerate(chosen):
            ids = self.clause_ids[int(batch_idx[i])][j]
            clauses[a, :len(ids)] = ids
            for t, r in self.room_ids[int(batch_idx[i])][j]:
                phrase_ids.append(t)
                owners.append(i)
                rooms.append(r)
        return (np.asarray(picked, np.int64), clauses, np.asarray(phrase_ids, np.int64),
                np.asarray(owners, np.int64), np.asarray(rooms, np.int64))
