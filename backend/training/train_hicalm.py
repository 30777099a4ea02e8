"""Training HiCALM on a Collection: seeded, per-epoch scheduler, model selection on validation R@10."""
from __future__ import annotations

import copy
import logging
import time
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from backend.data.collection import Collection
from backend.device import autocast, pick_device
from backend.training.losses import cosine_matrix, hierarchical_loss, query_hinge_loss
from backend.eval.metrics import gt_ranks, rank_metrics
from backend.model.hicalm import CollectionTensors, HiCALM, build_model, check_compatible, encode_descriptions, \
    encode_metaverses_visual, TextBatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    variant: str = "hicalm-rnn"
    epochs: int = 50
    batch_size: int = 64
    lr: float = 1e-3
    lam: float = 1.0                 # weight of the room-level loss
    margin: float = 0.25
    theme_weight: float = 0.0        # > 0: theme-aware metaverse loss (HM3), categories from MetaverseInfo.theme
    theme_margin: float = 0.15
    scheduler_step: int = 27         # StepLR, stepped ONCE per epoch
    scheduler_gamma: float = 0.75
    seed: int = 0
    query_augment: float = 0.5       # probability per training item of an extra partial-description query (short user queries)
    augment_max_sentences: int = 3   # a "short query" keeps 1..this many sentences
    augment_weight: float = 0.2     # augmented queries are ambiguous (short text fits several metaverses): keep light
    typed_augment: float = 0.5       # probability per training item of a typed query (training/typed_queries.py)
    typed_weight: float = 0.2        # weight of its description- and room-level hinge terms
    typed_per_metaverse: int = 8     # typed queries drawn (and embedded) per train metaverse before training
    device: str = "cpu"              # "cpu" | "cuda" | "auto"
    hidden: int = 256

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError(f"epochs={self.epochs} must be >= 1 and batch_size={self.batch_size} >= 2")
        if not 0.0 <= self.typed_augment <= 1.0:
            raise ValueError(f"typed_augment={self.typed_augment} must be a probability in [0, 1]")
        if not 0.0 <= self.query_augment <= 1.0:
            raise ValueError(f"query_augment={self.query_augment} must be a probability in [0, 1]")
        if not 0.0 <= self.theme_weight <= 1.0:
            raise ValueError(f"theme_weight={self.theme_weight} must lie in [0, 1] (HM3 used 0.05-0.75)")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"device={self.device!r}; allowed: 'cpu', 'cuda', 'auto'")


def theme_categories(collection: Collection) -> np.ndarray:
    """(M,) int category per metaverse from MetaverseInfo.theme; a missing theme gets its own unique negative id."""
    ids: dict[str, int] = {}
    out = np.empty(collection.n_metaverses, dtype=np.int64)
    for m, info in enumerate(collection.metaverses):
        out[m] = ids.setdefault(info.theme, len(ids)) if info.theme else -1 - m
    return out


class QueryAugmenter:
    """Partial descriptions as extra training queries, so that one- or two-sentence user queries land near the
    right metaverse: either a single paragraph of 1..k sentences drawn (in order) from the room paragraphs, or a
    contiguous run of room paragraphs (intro kept half the time), each with a random non-empty subset of sentences."""

    def __init__(self, collection: Collection, max_sentences: int, rng: np.random.Generator):
        self.par_off = np.asarray(collection.metaverse_paragraph_offsets)
        self.sent_off = np.asarray(collection.paragraph_sentence_offsets)
        self.max_sentences = max(1, max_sentences)
        self.rng = rng

    def _paragraph_sentences(self, p: int) -> np.ndarray:
        return np.arange(self.sent_off[p], self.sent_off[p + 1])

    def _one(self, m: int) -> list[np.ndarray]:
        first, last = int(self.par_off[m]), int(self.par_off[m + 1])    # paragraph `first` is the intro
        rooms = list(range(first + 1, last))
        if self.rng.random() < 0.5 or not rooms:
            pool = np.concatenate([self._paragraph_sentences(p) for p in (rooms or [first])])
            k = int(self.rng.integers(1, min(self.max_sentences, len(pool)) + 1))
            return [np.sort(self.rng.choice(pool, size=k, replace=False))]
        start = int(self.rng.integers(0, len(rooms)))
        stop = int(self.rng.integers(start + 1, len(rooms) + 1))
        chosen = ([first] if self.rng.random() < 0.5 else []) + rooms[start:stop]
        out = []
        for p in chosen:
            sents = self._paragraph_sentences(p)
            keep = self.rng.random(len(sents)) < 0.6
            keep[self.rng.integers(0, len(sents))] = True
            out.append(sents[keep])
        return out

    def sample(self, batch_idx: np.ndarray, p: float) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """-> (positions in the batch that got a query, (A, P, S) global sentence ids, -1 padded) or (empty, None)."""
        picked = np.flatnonzero(self.rng.random(len(batch_idx)) < p)
        if len(picked) == 0:
            return picked, None
        queries = [self._one(int(batch_idx[i])) for i in picked]
        P = max(len(q) for q in queries)
        S = max(len(s) for q in queries for s in q)
        ids = np.full((len(queries), P, S), -1, dtype=np.int64)
        for a, q in enumerate(queries):
            for j, sents in enumerate(q):
                ids[a, j, :len(sents)] = sents
        return picked, ids


class _TypedTerm:
    """Hinge terms for typed queries (one direction, query -> item): the query's clauses through the text hierarchy
    against the batch's metaverses, and each room's phrase as a one-sentence paragraph against the batch's rooms."""

    def __init__(self, pool, device, cfg: TrainConfig):
        self.pool, self.cfg = pool, cfg
        self.embs = torch.as_tensor(pool.embs, device=device)                              # (T, D)
        self.device = device

    def __call__(self, model: HiCALM, out, batch_idx: np.ndarray, rng: np.random.Generator):
        picked, clauses, phrase_ids, owners, rooms = self.pool.sample(batch_idx, self.cfg.typed_augment, rng)
        if clauses is None:
            return None
        dev = self.device
        ids = torch.as_tensor(clauses, device=dev)                                          # (A, P)
        mask = ids >= 0
        x = (self.embs[ids.clamp(min=0)] * mask.unsqueeze(-1).to(self.embs.dtype)).unsqueeze(2)   # (A, P, 1, D)
        query_vecs, _ = model.encode_text(TextBatch(x, mask.unsqueeze(-1), mask))          # (A, H)
        term = query_hinge_loss(cosine_matrix(query_vecs, out.metaverse_vecs),
                                torch.as_tensor(picked, device=dev), self.cfg.margin)
        ph = self.embs[torch.as_tensor(phrase_ids, device=dev)][:, None, None, :]          # (N, 1, 1, D)
        ones = torch.ones(ph.shape[:3], dtype=torch.bool, device=dev)                      # (N, 1, 1)
        phrase_vecs = model.text.paragraphs(ph, ones, ones[:, :, 0])[:, 0]                  # (N, H)
        counts = out.room_mask.sum(1)                                                       # (B,)
        starts = torch.cumsum(counts, 0) - counts
        positives = starts[torch.as_tensor(owners, device=dev)] + torch.as_tensor(rooms, device=dev)
        room_term = query_hinge_loss(cosine_matrix(phrase_vecs, out.room_vecs[out.room_mask]), positives,
                                     self.cfg.margin)
        return term + room_term


def _validation_metrics(model: HiCALM, tensors: CollectionTensors, idx: np.ndarray) -> dict[str, float]:
    description_vecs, _ = encode_descriptions(model, tensors, idx)                         # (V, H)
    metaverse_vecs, _ = encode_metaverses_visual(model, tensors, idx)                      # (V, H)
    return rank_metrics(gt_ranks(description_vecs @ metaverse_vecs.T))


def train_hicalm(collection: Collection, cfg: TrainConfig = TrainConfig(), progress: bool = True,
                 model: Optional[HiCALM] = None, typed_pool=None) -> tuple[HiCALM, dict]:
    """Train (or fine-tune `model`) on the collection's train split; returns the best-on-val model and a report.
    typed_pool: a TypedQueryPool (training/typed_queries.py) over the train split, needed when cfg.typed_augment."""
    if cfg.typed_augment > 0 and typed_pool is None:
        raise ValueError("typed_augment > 0 needs a TypedQueryPool built with the collection's text encoder")
    device = pick_device(None if cfg.device == "auto" else cfg.device)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    if model is None:
        expert_dim = 0 if collection.expert_feats is None else collection.expert_feats.shape[1]
        model = build_model(cfg.variant, image_dim=collection.image_feats.shape[1], expert_dim=expert_dim,
                            text_dim=collection.sentence_embs.shape[1], hidden=cfg.hidden)
    check_compatible(model.config, collection)
    model = model.to(device)
    tensors = CollectionTensors(collection, device)
    train_idx, val_idx = collection.split_indices("train"), collection.split_indices("val")
    if len(train_idx) < 2:
        raise ValueError(f"the train split has {len(train_idx)} metaverses; need at least 2")
    if len(val_idx) == 0:
        log.warning("no validation split: model selection falls back to the last epoch")
    categories = torch.as_tensor(theme_categories(collection), device=device)
    augmenter = QueryAugmenter(collection, cfg.augment_max_sentences, rng) if cfg.query_augment > 0 else None
    typed = _TypedTerm(typed_pool, device, cfg) if cfg.typed_augment > 0 else None
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.scheduler_step, gamma=cfg.scheduler_gamma)

    report: dict = {"config": asdict(cfg), "model_config": asdict(model.config), "device": str(device),
                    "n_train": int(len(train_idx)), "n_val": int(len(val_idx)), "epochs": []}
    best_key, best_epoch, best_state = (-1.0,), 0, None
    t_start = time.perf_counter()
    bar = tqdm(range(1, cfg.epochs + 1), desc=f"train {cfg.variant}", disable=not progress, unit="epoch")
    for epoch in bar:
        t_epoch = time.perf_counter()
        model.train()
        perm = rng.permutation(train_idx)
        sums = {"loss": 0.0, "metaverse": 0.0, "room": 0.0, "augment": 0.0, "typed": 0.0}
        n_batches = 0
        for start in range(0, len(perm), cfg.batch_size):
            batch_idx = perm[start:start + cfg.batch_size]
            if len(batch_idx) < 2:
                continue
            visual, text = tensors.visual_batch(batch_idx), tensors.text_batch(batch_idx)
            with autocast(device):
                out = model(visual, text)
                losses = hierarchical_loss(out.description_vecs, out.metaverse_vecs,
                                           out.room_text_vecs[out.room_mask], out.room_vecs[out.room_mask],  # (N, H)
                                           lam=cfg.lam, margin=cfg.margin, categories=categories[batch_idx],
                                           theme_weight=cfg.theme_weight, theme_margin=cfg.theme_margin)
                loss = losses["loss"]
                if augmenter is not None:
                    picked, ids = augmenter.sample(batch_idx, cfg.query_augment)
                    if ids is not None:
                        query_vecs, _ = model.encode_text(tensors.text_batch_from_ids(torch.as_tensor(ids, device=device)))
                        aug = query_hinge_loss(cosine_matrix(query_vecs, out.metaverse_vecs),  # (A, B)
                                               torch.as_tensor(picked, device=device), cfg.margin)
                        loss = loss + cfg.augment_weight * aug
                        sums["augment"] += float(aug.detach())
                if typed is not None:
                    term = typed(model, out, batch_idx, rng)
                    if term is not None:
                        loss = loss + cfg.typed_weight * term
                        sums["typed"] += float(term.detach())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            sums["loss"] += float(loss.detach())
            sums["metaverse"] += float(losses["metaverse"])
            sums["room"] += float(losses["room"])
            n_batches += 1
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()   # once per epoch (the reference stepped twice: defect 3)
        row = {"epoch": epoch, "lr": lr, **{k: v / max(n_batches, 1) for k, v in sums.items()}}
        if len(val_idx):
            row["val"] = _validation_metrics(model, tensors, val_idx)
            # selection on val R@10 as the reference; ties (R@10 saturates on easy data) broken by R@1, then MeanR
            key = (row["val"]["R@10"], row["val"]["R@1"], -row["val"]["MeanR"])
        else:
            key = (float(epoch),)   # no validation: keep the latest
        if key > best_key:
            best_key, best_epoch = key, epoch
            best_state = copy.deepcopy(model.state_dict())
        row["seconds"] = time.perf_counter() - t_epoch
        report["epochs"].append(row)
        bar.set_postfix(loss=f"{row['loss']:.4f}", val_r10=f"{row.get('val', {}).get('R@10', float('nan')):.3f}")
        log.info("epoch %d loss %.4f (metaverse %.4f room %.4f augment %.4f) val %s %.1fs", epoch, row["loss"],
                 row["metaverse"], row["room"], row["augment"], row.get("val"), row["seconds"])
    model.load_state_dict(best_state)
    model.eval()
    seconds = time.perf_counter() - t_start
    best_r10 = best_key[0] if len(val_idx) else float("nan")
    report.update({"best_epoch": best_epoch, "best_val_r10": best_r10 if len(val_idx) else None,
                   "seconds": seconds, "seconds_per_epoch": seconds / cfg.epochs})
    log.info("trained %s: best epoch %d (val R@10 %.3f) in %.1fs", cfg.variant, best_epoch, best_r10, seconds)
    return model, report
