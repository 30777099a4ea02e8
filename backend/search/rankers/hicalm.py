"""The trained hierarchical ranker: queries through HiCALM's text / visual hierarchies, precomputed collection vectors."""
from __future__ import annotations

import logging
from typing import Optional

import numpy as np

from backend.data.bundle import REBUILD_HINT, Bundle, BundleError
from backend.encoders.base import l2_normalise
from backend.search.rankers.base import QueryVecs, Ranker
from backend.search.rankers.baseline import room_image_means
from backend.data.text import is_description, split_query
from backend.search.lattice import SpanTable
from backend.search import reading as query_reading

log = logging.getLogger(__name__)


class HicalmRanker(Ranker):
    name = "hicalm"
    # Weight of room evidence (per named room, its best-matching room; averaged) added to the metaverse-level score
    # when serving (service._rank), chosen on the demo world's validation split: for a text shaped like a stored
    # description, the largest weight that keeps full-description R@1 where it was (1.00); for a short query naming
    # rooms, the weight with the best P@10 on one- and two-room queries.
    DESCRIPTION_ROOM_WEIGHT = 1.0
    SHORT_QUERY_ROOM_WEIGHT = 8.0
    # Share of a room-level score that comes from the encoder's own space (the query's text embedding against the mean
    # of the room's image features) beside HiCALM's room space: the visual hierarchy drops style ("cubist",
    # "pixel art") that the image tower keeps. Tuned on queries/style-dev-v1.jsonl and typed-v1's dev half.
    ROOM_TOWER_WEIGHT = 0.5

    def __init__(self, model, collection, encoder, metaverse_vecs: np.ndarray, room_vecs: np.ndarray,
                 joint_room_vecs: Optional[np.ndarray] = None):
        """joint_room_vecs: the served room vectors when the caller already has them (extended), else made here."""
        from backend.model.hicalm import CollectionTensors
        super().__init__(collection, encoder)
        self.model = model.eval()
        self.metaverse_vecs = metaverse_vecs      # (M, H) visual metaverse vectors
        self.visual_room_vecs = room_vecs         # (N_rooms, H) visual room vectors (HiCALM's room space)
        # (N_rooms, H + D) the served room vectors: HiCALM's room space and the encoder's, weighted (joint)
        self.room_vecs = joint_room_vecs if joint_room_vecs is not None else \
            self.joint(room_vecs, room_image_means(collection, 0, collection.n_rooms))
        self._tensors = CollectionTensors(collection, model.device)   # padded once, for leave-one-room-out
        # Query-independent, so computed once per metaverse / image on first use (or by warm_caches) and kept:
        self._loo_vecs: dict[int, np.ndarray] = {}                    # metaverse row -> (R_m, H) leave-one-out vecs
        n_images, joint = len(collection.image_feats), self.room_vecs.shape[1]
        self._image_vecs = np.zeros((n_images, joint), np.float32)    # (N_img, H + D) each image as a one-image room
        self._image_done = np.zeros(n_images, bool)
        self._expert_dim = model.config.expert_dim
        self.word_lookup = None    # texts -> {text: embedding} already encoded elsewhere (service: the kind reader)

    @classmethod
    def from_bundle(cls, bundle: Bundle, encoder) -> "HicalmRanker":
        from backend.device import pick_device
        from backend.model.hicalm import check_compatible, load_checkpoint
        spec = bundle.manifest["rankers"]["hicalm"]
        ckpt = bundle.artifact(spec["checkpoint"])
        try:
            model, _ = load_checkpoint(ckpt, map_location=pick_device())
            check_compatible(model.config, bundle.collection)
        except (ValueError, RuntimeError, KeyError) as e:
            raise BundleError(f"{ckpt} does not fit this bundle ({e}); retrain with `python -m backend train "
                              f"--bundle {bundle.path}` or rebuild with `{REBUILD_HINT}`") from e
        metaverse_vecs = bundle.load_array(spec["metaverse_vecs"])
        room_vecs = bundle.load_array(spec["room_vecs"])
        col = bundle.collection
        if metaverse_vecs.shape != (col.n_metaverses, model.config.hidden) or room_vecs.shape != (col.n_rooms, model.config.hidden):
            raise BundleError(f"{bundle.path / spec['metaverse_vecs']} / {spec['room_vecs']} have shapes "
                              f"{metaverse_vecs.shape} / {room_vecs.shape}, expected ({col.n_metaverses}, "
                              f"{model.config.hidden}) / ({col.n_rooms}, {model.config.hidden}); rebuild with `{REBUILD_HINT}`")
        return cls(model, col, encoder, metaverse_vecs.astype(np.float32), room_vecs.astype(np.float32))

    def extended(self, collection) -> "HicalmRanker":
        """New rows through the visual hierarchy (expert part zero, as for a query image), as the bundle's own rows
        were at build time; the query-independent caches of the existing rows are carried over."""
        from backend.model.hicalm import encode_rooms_visual
        n_old, offsets = len(self.metaverse_vecs), collection.metaverse_room_offsets
        mv, rooms = [self.metaverse_vecs], [self.visual_room_vecs]
        for m in range(n_old, collection.n_metaverses):
            feats = [collection.room_images(r) for r in collection.room_range(m)]
            if self._expert_dim:
                feats = [np.concatenate([f, np.zeros((len(f), self._expert_dim), np.float32)], axis=1) for f in feats]
            mv_vec, room_vecs = encode_rooms_visual(self.model, feats)
            mv.append(mv_vec[None, :])
            rooms.append(room_vecs)
        assert int(offsets[n_old]) == len(self.room_vecs), "extended() appends rows; existing rows must not move"
        visual = np.concatenate(rooms).astype(np.float32)
        n_rooms_old = len(self.room_vecs)
        joint = np.concatenate([self.room_vecs, self.joint(visual[n_rooms_old:], room_image_means(
            collection, n_rooms_old, collection.n_rooms))])
        out = HicalmRanker(self.model, collection, self.encoder, np.concatenate(mv).astype(np.float32), visual, joint)
        out.word_lookup = self.word_lookup
        out._loo_vecs = {m: v for m, v in dict(self._loo_vecs).items() if m < n_old}   # dict(): one atomic copy
        n_img = len(self._image_done)
        out._image_vecs[:n_img], out._image_done[:n_img] = self._image_vecs, self._image_done
        return out

    def joint(self, hicalm_vecs: np.ndarray, encoder_vecs: np.ndarray) -> np.ndarray:
        """(N, H) unit vectors in HiCALM's room space and (N, D) in the encoder's -> (N, H + D) unit vectors
        [sqrt(1 - b) h, sqrt(b) e], b = ROOM_TOWER_WEIGHT, so a query's and a room's product is
        (1 - b) h.h' + b e.e': one inner product, as the faiss / Milvus room index and the threshold bound need."""
        b = float(self.ROOM_TOWER_WEIGHT)
        h, e = np.atleast_2d(np.asarray(hicalm_vecs, np.float32)), l2_normalise(np.atleast_2d(encoder_vecs))
        if len(h) != len(e):
            raise ValueError(f"{len(h)} HiCALM vectors and {len(e)} encoder vectors: one of each per row")
        return np.concatenate([np.sqrt(1.0 - b) * h, np.sqrt(b) * e], axis=1).astype(np.float32)

    def encode_text(self, text: str) -> QueryVecs:
        """The query through the text hierarchy (sentences -> paragraphs -> description vector). A description's
        room-level parts are its room paragraphs (intro excluded); a short query's are the spans of its reading
        (backend/search/reading.py: every run of 1-3 content words between punctuation, and each whole piece), each through the
        paragraph encoder as a one-sentence paragraph, so scoring finds the rooms it names without relying on its
        separators."""
        from backend.model.hicalm import describe_paragraphs, encode_sentences_as_paragraphs, encode_text_paragraphs
        paragraphs = split_query(text) or [[text]]
        if is_description(paragraphs):
            sentences = [s for p in paragraphs for s in p]
            sentence_embs = self.encoder.encode_text(sentences)                 # (S, D)
            bounds = np.cumsum([0] + [len(p) for p in paragraphs])
            parts = [sentence_embs[a:b] for a, b in zip(bounds[:-1], bounds[1:])]  # [(S_p, D)]
            description_vec, paragraph_vecs = encode_text_paragraphs(self.model, parts)   # (H,), (P, H)
            flat = np.stack([p.mean(0) for p in parts])                                # (P, D) paragraph means
            keep = slice(1, None) if len(paragraph_vecs) > 1 else slice(None)          # room paragraphs, not the intro
            room_parts = self.joint(paragraph_vecs[keep], flat[keep])                  # (P', H + D)
            labels = [" ".join(p) for p in paragraphs[keep]]
            return QueryVecs(metaverse=description_vec, room=l2_normalise(room_parts.mean(0)), room_parts=room_parts,
                             part_labels=tuple(labels), room_weight=self.DESCRIPTION_ROOM_WEIGHT)
        # A short query (backend/search/reading.py): every span of content words is one sentence and a paragraph of
        # its own (paragraph vectors do not depend on each other). The parts shown are the cut its spans answer
        # best against the whole collection; they make the description, and each metaverse is then scored on the
        # cut its own rooms answer best. Content words only, for the description too: on the dev half that was as
        # good or better than the clause text with its "starts with", "a room of" (R@1 60.5 -> 63.2 %).
        reading = query_reading.read_query(text)
        embs = self._encode_spans([s.text for s in reading.spans])                 # (spans, D)
        raw, span_vecs = encode_sentences_as_paragraphs(self.model, embs)           # (1, spans, H), (spans, H)
        span_vecs = self.joint(span_vecs, embs)                                    # (spans, H + D)
        # rooms x spans (BLAS multiplies the row-major room matrix by the few spans twice as fast as the transpose);
        # the reading's z-scores need every room, and the ranked parts' columns are the engine's room scores too
        room_span_scores = self.room_vecs @ span_vecs.T                            # (N_rooms, spans)
        shown = query_reading.best_reading(reading, query_reading.specificity(room_span_scores.T))
        # Ranked per metaverse: the shown parts, the pieces and their runs of 2+ words. A single word only where the
        # reading above made it a room ("portraits" in "ruins and portraits and flowers"): every word scored on its
        # own against each metaverse would find its own best room (a bag of words).
        kept = set(shown)
        order = shown + [i for i, s in enumerate(reading.spans) if i not in kept and reading.within_piece(s)
                         and (s.end - s.start > 1 or reading.is_piece(s))]
        description_vec = describe_paragraphs(self.model, raw, shown)
        return QueryVecs(metaverse=description_vec, room=l2_normalise(span_vecs[shown].mean(0)),
                         room_parts=span_vecs[order], part_labels=tuple(reading.label(reading.spans[i]) for i in shown),
                         room_weight=self.SHORT_QUERY_ROOM_WEIGHT, spans=SpanTable.of_reading(reading, order, len(shown)),
                         room_part_scores=np.ascontiguousarray(room_span_scores[:, order]))

    def _encode_spans(self, texts: list[str]) -> np.ndarray:
        """(spans, D) MiniLM embeddings; single words the kind reader has just encoded are reused (word_lookup, set by
        the service), the rest encoded in one call."""
        known = self.word_lookup(texts) if self.word_lookup is not None else {}
        todo = list(dict.fromkeys(t for t in texts if t not in known))
        if todo:
            known.update(zip(todo, np.asarray(self.encoder.encode_text(todo), np.float32)))
        return np.stack([known[t] for t in texts])

    def encode_image_feature(self, image_feat: np.ndarray, label: str) -> QueryVecs:
        """One image as a one-room, one-image metaverse through the visual hierarchy (expert part zero)."""
        from backend.model.hicalm import encode_rooms_visual
        feat = np.asarray(image_feat, dtype=np.float32)[None, :]                   # (1, D)
        if self._expert_dim:
            feat = np.concatenate([feat, np.zeros((1, self._expert_dim), np.float32)], axis=1)
        metaverse_vec, room_vecs = encode_rooms_visual(self.model, [feat])         # (H,), (1, H)
        room = self.joint(room_vecs, np.asarray(image_feat, np.float32)[None, :])[0]   # (H + D,)
        return QueryVecs(metaverse=metaverse_vec, room=room, room_weight=self.DESCRIPTION_ROOM_WEIGHT,
                         part_labels=(label,))

    def image_vecs(self, image_rows: np.ndarray) -> np.ndarray:
        """Each image through image_proj and room_proj as a one-image room (expert part zero when there is none),
        joined with its own feature as the served room vectors are (joint); cached, since it does not depend on the
        query."""
        from backend.model.hicalm import encode_images_as_rooms
        rows = np.asarray(image_rows, dtype=np.int64)
        todo = np.unique(rows[~self._image_done[rows]])
        if len(todo):
            image_feats = feats = self.collection.image_feats[todo]                         # (N, D)
            if self._expert_dim:
                expert = self.collection.expert_feats
                extra = expert[todo] if expert is not None else np.zeros((len(todo), self._expert_dim), np.float32)
                feats = np.concatenate([feats, extra], axis=1)
            self._image_vecs[todo] = self.joint(encode_images_as_rooms(self.model, feats), image_feats)
            self._image_done[todo] = True
        return self._image_vecs[rows]

    def _loo(self, metaverse_idx: list[int]) -> list[np.ndarray]:
        """(R_m, H) leave-one-room-out metaverse vectors per metaverse; the missing ones in one forward pass."""
        from backend.model.hicalm import leave_one_room_out_visual
        missing = sorted({int(m) for m in metaverse_idx} - self._loo_vecs.keys())
        if missing:
            for m, vecs in zip(missing, leave_one_room_out_visual(self.model, self._tensors, missing)):
                self._loo_vecs[m] = vecs
        return [self._loo_vecs[int(m)] for m in metaverse_idx]

    def leave_one_room_out(self, query: QueryVecs, metaverse_idx: list[int]) -> list[np.ndarray]:
        """Scores of every leave-one-out variant; nan where nothing is left."""
        out = []
        for vecs in self._loo(metaverse_idx):
            scores = vecs @ query.metaverse                                              # (R_m,)
            scores[np.linalg.norm(vecs, axis=1) == 0] = np.nan
            out.append(scores.astype(np.float32))
        return out

    def warm_caches(self, batch: int = 64) -> None:
        """Fill the leave-one-room-out and image caches for the whole collection (for a background thread)."""
        n = self.collection.n_metaverses
        for start in range(0, n, batch):
            self._loo(list(range(start, min(n, start + batch))))
        for start in range(0, len(self._image_done), 4096):
            self.image_vecs(np.arange(start, min(len(self._image_done), start + 4096)))
