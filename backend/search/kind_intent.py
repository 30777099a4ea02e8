"""Does a typed query name the kind of metaverse it wants ("a game with snowy mountains", "a gallery of underwater
scenes")? Decided by the text encoder, not by a list of kind words: each kind has a prototype, the mean embedding of
the opening sentence of the collection's own descriptions of that kind ("This game is about speed.", "This virtual
gallery gathers works on life by the coast."), so subjects average out and what is left is how the collection says
"game" or "museum". Every word of the query (of 3 characters or more) is embedded on its own; a word names a kind when it is close to that
kind's prototype (cosine >= MIN_SIMILARITY) and clearly closer to it than to the other's (margin >= MIN_MARGIN). The
word with the largest margin wins, so "a game with a room of ..." names a game.

Measured on queries/kind-dev-v1.jsonl (69 hand-written queries: 50 name a kind, 19 lures among them, 19 name none;
2026-12-06), detection right for 69 of 69, and no query of the dev half of queries/typed-v1.jsonl gets the wrong
kind. The two thresholds were tuned there for all-MiniLM-L6-v2; another text encoder needs them measured again."""
from __future__ import annotations

import hashlib
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from backend.paths import cache_file

log = logging.getLogger(__name__)

KINDS = ("game", "museum")
MIN_SIMILARITY = 0.42   # cosine of a word to its kind's prototype ("game" 0.45, "gallery" 0.46; "racing" 0.41)
MIN_MARGIN = 0.25       # ... minus its cosine to the other kind's ("arcade" +0.25; "room" toward museum +0.21, too weak)
_WORD = re.compile(r"[\w'-]+")
_CACHE_WORDS = 50_000   # word embeddings kept (a word is encoded once per process, ~1.5 KB each)


@dataclass(frozen=True)
class KindIntent:
    kind: str
    word: str          # the word that named it, as the visitor typed it
    margin: float

    def to_json(self, applied: bool) -> dict:
        return {"kind": self.kind, "applied": bool(applied), "evidence": f"you wrote \u201c{self.word}\u201d"}


def kind_prototypes(collection, encoder) -> Optional[dict[str, np.ndarray]]:
    """kind -> (D,) unit vector: the mean embedding of the opening paragraphs of the collection's descriptions of
    that kind, each encoded as one text; None unless the collection holds both kinds. (On the dev set, distinct
    paragraphs only got 67 of 69, a sample of 48 a kind 67, and the stored embeddings of the first sentences (free)
    65: "racing", "battle" and "play" read as naming a game.)"""
    texts = {k: [m.paragraphs[0] for m in collection.metaverses if m.kind == k and m.paragraphs] for k in KINDS}
    if not all(texts.values()):
        return None
    out = {}
    for kind, t in texts.items():
        mean = np.asarray(encoder.encode_text(t), np.float32).mean(0)
        out[kind] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return out


def prototypes_key(collection, encoder) -> str:
    """What the prototypes depend on: the opening paragraphs by kind, and the encoder, identified by its name and
    its vector for a fixed probe text (so a changed model or runtime gets a new key, never stale prototypes)."""
    h = hashlib.sha256()
    for m in collection.metaverses:
        h.update(f"{m.kind}\x00{m.paragraphs[0] if m.paragraphs else ''}\x01".encode())
    probe = np.asarray(encoder.encode_text(["a museum or a game"]), np.float32)
    h.update(f"{getattr(encoder, 'name', type(encoder).__name__)}".encode() + np.round(probe, 4).tobytes())
    return h.hexdigest()[:16]


def cached_kind_prototypes(collection, encoder, cache_dir: Path) -> Optional[dict[str, np.ndarray]]:
    """kind_prototypes, kept in cache_dir between starts (encoding the 650 demo openings took ~1.1 s of every
    start-up); a cache that cannot be read or written is skipped, with a warning."""
    path = Path(cache_dir) / f"kind-prototypes-{prototypes_key(collection, encoder)}.npz"
    try:
        with np.load(path) as saved:
            return {k: saved[k] for k in KINDS} if all(k in saved for k in KINDS) else None
    except FileNotFoundError:
        pass
    except Exception as e:  # noqa: BLE001 - a damaged cache file is recomputed
        log.warning("kind prototypes cache %s unreadable (%s); computing them", path, e)
    out = kind_prototypes(collection, encoder)
    try:
        with cache_file(path) as tmp, open(tmp, "wb") as f:    # a file object: savez would add ".npz" to a name
            np.savez(f, **(out or {}))
    except OSError as e:
        log.warning("kind prototypes not cached in %s (%s)", path.parent, e)
    return out


class KindReader:
    """Reads the kind a query names. The prototypes are computed on first use (650 texts on the demo world, ~1 s on
    2 cores) or by warm(), and kept in cache_dir when one is given (the service: backend.paths.CACHE_DIR); word
    embeddings are cached (words repeat across queries)."""

    def __init__(self, collection, encoder, prototypes: Optional[dict[str, np.ndarray]] = None,
                 cache_dir: Optional[Path] = None):
        self.collection = collection
        self.encoder = encoder
        self.cache_dir = cache_dir          # where computed prototypes are kept between starts (None: not kept)
        self._prototypes = prototypes
        self._ready = prototypes is not None
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self._proto_lock = threading.Lock()

    @property
    def prototypes(self) -> Optional[dict[str, np.ndarray]]:
        if not self._ready:
            with self._proto_lock:
                if not self._ready:
                    self._prototypes = kind_prototypes(self.collection, self.encoder) if self.cache_dir is None \
                        else cached_kind_prototypes(self.collection, self.encoder, self.cache_dir)
                    self._ready = True
        return self._prototypes

    def warm(self) -> None:
        self.prototypes

    def _embed(self, words: list[str]) -> np.ndarray:
        with self._lock:
            known = {w: self._cache[w] for w in words if w in self._cache}
        new = list(dict.fromkeys(w for w in words if w not in known))
        if new:
            known.update(zip(new, np.asarray(self.encoder.encode_text(new), np.float32)))
            with self._lock:
                if len(self._cache) + len(new) > _CACHE_WORDS:
                    self._cache.clear()
                self._cache.update((w, known[w]) for w in new)
        return np.stack([known[w] for w in words])

    def cached(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The embeddings of those texts this reader has already encoded (single lower-cased words), for the ranker
        to reuse: a query's one-word spans are the words read here a moment before."""
        with self._lock:
            return {t: self._cache[t] for t in texts if t in self._cache}

    def read(self, text: str) -> Optional[KindIntent]:
        """The kind the text names, or None (also when the collection has one kind only)."""
        if not self.prototypes:
            return None
        typed = [w for w in _WORD.findall(text) if len(w) > 2 and not w.isdigit()]   # "a", "of", "17" name nothing
        if not typed:
            return None
        words = [w.lower() for w in typed]
        e = self._embed(words)                                                          # (W, D)
        sims = {k: e @ self.prototypes[k] for k in KINDS}                               # kind -> (W,)
        best: Optional[KindIntent] = None
        for kind, other in (KINDS, KINDS[::-1]):
            margin = sims[kind] - sims[other]
            for i in np.flatnonzero((sims[kind] >= MIN_SIMILARITY) & (margin >= MIN_MARGIN)):
                if best is None or margin[i] > best.margin:
                    best = KindIntent(kind, typed[i], float(margin[i]))
        return best
