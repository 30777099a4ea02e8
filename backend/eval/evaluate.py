"""Evaluation of rankers on a collection split: R@K/MedR both ways, concept-overlap nDCG, qrels nDCG."""
from __future__ import annotations

import logging
import time
from typing import Optional, Sequence

import numpy as np

from backend.data.collection import Collection
from backend.encoders.base import l2_normalise as _l2
from backend.eval.metrics import concept_ndcg, concept_relevance, description_concepts, ndcg_qrels, retrieval_metrics
from backend.model.hicalm import HiCALM, check_compatible, encode_descriptions, encode_metaverses_visual

log = logging.getLogger(__name__)


def evaluate_ranker_embeddings(text_vecs: np.ndarray, metaverse_vecs: np.ndarray,
                               concepts: Optional[Sequence[Sequence[str]]] = None,
                               ndcg_ks: Sequence[int] = (5, 10), qrels: Optional[dict[str, dict[str, int]]] = None,
                               ids: Optional[Sequence[str]] = None) -> dict:
    """text_vecs (Q, D) and metaverse_vecs (Q, D), row q of both = metaverse q -> metrics dict.

    R@1/5/10, MedR, MeanR in both directions (fractions, not percent); with concepts (one list of description
    concepts per metaverse), nDCG@k in both directions with the reference's concept-overlap relevance; with qrels
    (query id -> {metaverse id: grade}) and the Q metaverse ids, "qrels_nDCG@10" of the text -> metaverse run."""
    text_vecs, metaverse_vecs = _l2(text_vecs), _l2(metaverse_vecs)
    if text_vecs.shape != metaverse_vecs.shape:
        raise ValueError(f"text_vecs {text_vecs.shape} and metaverse_vecs {metaverse_vecs.shape} must match (Q, D)")
    sim = text_vecs @ metaverse_vecs.T                                                    # (Q, Q) text x metaverse
    out: dict = {"n_queries": int(len(sim)), **retrieval_metrics(sim)}
    if concepts is not None:
        if len(concepts) != len(sim):
            raise ValueError(f"got {len(concepts)} concept lists for {len(sim)} metaverses")
        relevance = concept_relevance(concepts)                                           # (Q, Q) symmetric
        for k in ndcg_ks:
            out["text_to_metaverse"][f"nDCG@{k}"] = concept_ndcg(sim, relevance, k)
            out["metaverse_to_text"][f"nDCG@{k}"] = concept_ndcg(sim.T, relevance, k)
    if qrels is not None:
        if ids is None or len(ids) != len(sim):
            raise ValueError(f"qrels need one id per metaverse ({len(sim)}), got {None if ids is None else len(ids)}")
        run = {q: {t: float(sim[i, j]) for j, t in enumerate(ids)} for i, q in enumerate(ids)}
        out["qrels_nDCG@10"] = ndcg_qrels(qrels, run, 10)["mean"]
    return out


def split_concepts(collection: Collection, idx: np.ndarray, n_concepts: int) -> list[list[str]]:
    return [description_concepts(" ".join(collection.metaverses[m].paragraphs), n_concepts) for m in idx]


def _split_ids(collection: Collection, idx: np.ndarray) -> list[str]:
    return [collection.metaverses[m].id for m in idx]


def evaluate_hicalm(model: HiCALM, collection: Collection, split: str = "test", n_concepts: int = 3,
                    qrels: Optional[dict[str, dict[str, int]]] = None) -> dict:
    """Descriptions of the split as queries against its metaverses (and back), through the trained model."""
    check_compatible(model.config, collection)
    idx = collection.split_indices(split)
    t0 = time.perf_counter()
    description_vecs, _ = encode_descriptions(model, collection, idx)                     # (Q, H)
    metaverse_vecs, _ = encode_metaverses_visual(model, collection, idx)                  # (Q, H)
    out = evaluate_ranker_embeddings(description_vecs, metaverse_vecs, split_concepts(collection, idx, n_concepts),
                                     qrels=qrels, ids=_split_ids(collection, idx))
    out.update({"ranker": "hicalm", "split": split, "n_concepts": n_concepts,
                "encode_seconds": time.perf_counter() - t0})
    return out


def baseline_metaverse_vecs(collection: Collection, idx: Optional[np.ndarray] = None) -> np.ndarray:
    """(M, D) mean of each metaverse's L2-normalised image features, renormalised (the paper's BASE row)."""
    image_offsets = np.asarray(collection.room_image_offsets)[np.asarray(collection.metaverse_room_offsets)]  # (M + 1,)
    sums = np.add.reduceat(_l2(collection.image_feats), image_offsets[:-1], axis=0)       # (M, D)
    vecs = _l2(sums / np.diff(image_offsets)[:, None])
    return vecs if idx is None else vecs[idx]


def baseline_description_vecs(collection: Collection, idx: Optional[np.ndarray] = None) -> np.ndarray:
    """(M, D) mean of each description's sentence embeddings, renormalised."""
    sent_offsets = np.asarray(collection.paragraph_sentence_offsets)[np.asarray(collection.metaverse_paragraph_offsets)]
    sums = np.add.reduceat(np.asarray(collection.sentence_embs, np.float32), sent_offsets[:-1], axis=0)  # (M, D)
    vecs = _l2(sums / np.diff(sent_offsets)[:, None])
    return vecs if idx is None else vecs[idx]


def evaluate_baseline(collection: Collection, split: str = "test", n_concepts: int = 3,
                      qrels: Optional[dict[str, dict[str, int]]] = None) -> dict:
    idx = collection.split_indices(split)
    out = evaluate_ranker_embeddings(baseline_description_vecs(collection, idx), baseline_metaverse_vecs(collection, idx),
                                     split_concepts(collection, idx, n_concepts), qrels=qrels,
                                     ids=_split_ids(collection, idx))
    out.update({"ranker": "baseline", "split": split, "n_concepts": n_concepts})
    return out


def qrels_ndcg(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], k: int = 10) -> dict:
    """nDCG@k of a run on graded judgements (user-study qrels), equal to trec_eval's ndcg_cut_k."""
    return ndcg_qrels(qrels, run, k)
