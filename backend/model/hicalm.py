"""HiCALM, the hierarchical text/metaverse model: config, modules, batching, checkpoints and inference helpers."""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import NamedTuple, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from backend.data.collection import Collection
from backend.device import autocast
from backend.encoders.base import l2_normalise

log = logging.getLogger(__name__)

AGGREGATIONS: tuple[str, ...] = ("avg", "monornn", "rnn")
CHECKPOINT_FORMAT = "hicalm/1"


# ---- config, registry, factory ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class HiCALMConfig:
    image_dim: int                 # generalist image feature size (encoder dim)
    expert_dim: int = 0            # optional domain-expert vector per image, concatenated to the image feature
    text_dim: int = 0              # sentence embedding size; 0 = same as image_dim
    hidden: int = 256
    room_vis_agg: str = "rnn"      # rooms -> metaverse: "avg" (mean + Linear), "monornn" (GRU), "rnn" (bi-GRU)
    room_txt_agg: str = "rnn"      # paragraphs -> description: "avg" (mean), "monornn" (GRUs), "rnn" (bi-GRUs)

    def __post_init__(self) -> None:
        for name in ("room_vis_agg", "room_txt_agg"):
            if getattr(self, name) not in AGGREGATIONS:
                raise ValueError(f"{name}={getattr(self, name)!r} is not allowed; allowed: {', '.join(AGGREGATIONS)}")
        if self.image_dim <= 0 or self.hidden <= 0 or self.expert_dim < 0 or self.text_dim < 0:
            raise ValueError(f"bad sizes image_dim={self.image_dim} expert_dim={self.expert_dim} "
                             f"text_dim={self.text_dim} hidden={self.hidden}; need image_dim, hidden > 0 and the rest >= 0")

    @property
    def sentence_dim(self) -> int:
        return self.text_dim or self.image_dim


# Named variants: overrides applied on top of HiCALMConfig defaults (image_dim comes from the data).
VARIANTS: dict[str, dict] = {
    "hicalm-rnn": {"room_vis_agg": "rnn", "room_txt_agg": "rnn"},          # the paper's final method
    "hicalm-avg": {"room_vis_agg": "avg", "room_txt_agg": "avg"},
    "hicalm-monornn": {"room_vis_agg": "monornn", "room_txt_agg": "monornn"},
    "hicalm-visavg": {"room_vis_agg": "avg", "room_txt_agg": "rnn"},       # Table 1 ablations
    "hicalm-txtavg": {"room_vis_agg": "rnn", "room_txt_agg": "avg"},
}


def variant_config(name: str, **overrides) -> HiCALMConfig:
    if name not in VARIANTS:
        raise ValueError(f"unknown model variant {name!r}; allowed: {', '.join(VARIANTS)}")
    fields = {**VARIANTS[name], **overrides}
    if "image_dim" not in fields:
        raise ValueError(f"variant {name!r} needs image_dim (the feature size of the collection)")
    return HiCALMConfig(**fields)


def build_model(name_or_config: Union[str, HiCALMConfig, dict], **overrides) -> "HiCALM":
    """The one factory: a variant name (+ image_dim=...), a HiCALMConfig, or a config dict from a checkpoint."""
    if isinstance(name_or_config, str):
        cfg = variant_config(name_or_config, **overrides)
    elif isinstance(name_or_config, dict):
        cfg = HiCALMConfig(**{**name_or_config, **overrides})
    elif isinstance(name_or_config, HiCALMConfig):
        cfg = replace(name_or_config, **overrides) if overrides else name_or_config
    else:
        raise ValueError(f"build_model takes a variant name, HiCALMConfig or dict, got {type(name_or_config).__name__}")
    return HiCALM(cfg)


# ---- modules ---------------------------------------------------------------------------------------------------
def _gru_last_hidden(gru: nn.GRU, seqs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(N, T, D) padded sequences with (N,) lengths >= 1 -> (N, H) final hidden state averaged over directions."""
    packed = pack_padded_sequence(seqs, lengths.to("cpu", torch.int64), batch_first=True, enforce_sorted=False)
    _, h_n = gru(packed)  # (dirs, N, H), in the original (unsorted) order
    return h_n.mean(0)


class VisualHierarchy(nn.Module):
    """image -> room -> metaverse. Reference names: trf_photo=image_proj, trf_room=room_proj, trf_museum=metaverse_gru|metaverse_proj."""

    def __init__(self, cfg: HiCALMConfig):
        super().__init__()
        self.agg = cfg.room_vis_agg
        self.image_proj = nn.Linear(cfg.image_dim + cfg.expert_dim, cfg.hidden)
        self.room_proj = nn.Linear(cfg.hidden, cfg.hidden)
        if self.agg == "avg":
            self.metaverse_proj = nn.Linear(cfg.hidden, cfg.hidden)
        else:
            self.metaverse_gru = nn.GRU(cfg.hidden, cfg.hidden, batch_first=True, bidirectional=self.agg == "rnn")

    def rooms(self, image_feats: torch.Tensor, image_mask: torch.Tensor, room_mask: torch.Tensor) -> torch.Tensor:
        """(B, R, I, D) images -> (B, R, H) room vecs; padded images and rooms are exactly zero."""
        image_vecs = F.relu(self.image_proj(image_feats)) * image_mask.unsqueeze(-1)      # (B, R, I, H)
        n_images = image_mask.sum(-1, keepdim=True).clamp(min=1).to(image_vecs.dtype)     # (B, R, 1)
        room_means = image_vecs.sum(2) / n_images                                         # (B, R, H)
        return F.relu(self.room_proj(room_means)) * room_mask.unsqueeze(-1)               # (B, R, H)

    def metaverses(self, room_vecs: torch.Tensor, room_mask: torch.Tensor) -> torch.Tensor:
        """(B, R, H) room vecs (padded rooms zero) -> (B, H) metaverse vecs."""
        n_rooms = room_mask.sum(1)                                                        # (B,)
        if self.agg == "avg":
            mean = room_vecs.sum(1) / n_rooms.clamp(min=1).unsqueeze(-1).to(room_vecs.dtype)  # (B, H)
            return self.metaverse_proj(mean)
        return _gru_last_hidden(self.metaverse_gru, room_vecs, n_rooms)                   # (B, H)

    def forward(self, image_feats, image_mask, room_mask) -> tuple[torch.Tensor, torch.Tensor]:
        room_vecs = self.rooms(image_feats, image_mask, room_mask)                        # (B, R, H)
        return self.metaverses(room_vecs, room_mask), room_vecs


class TextHierarchy(nn.Module):
    """sentence -> paragraph -> description. Reference names: gru_room=paragraph_gru, gru_museum=description_gru."""

    def __init__(self, cfg: HiCALMConfig):
        super().__init__()
        self.agg = cfg.room_txt_agg
        self.hidden = cfg.hidden
        bidirectional = self.agg != "monornn"   # as in the reference: "avg" keeps a bi-GRU over sentences
        self.paragraph_gru = nn.GRU(cfg.sentence_dim, cfg.hidden, batch_first=True, bidirectional=bidirectional)
        if self.agg != "avg":
            self.description_gru = nn.GRU(cfg.hidden, cfg.hidden, batch_first=True, bidirectional=bidirectional)

    def paragraphs(self, sentence_embs, sentence_mask, paragraph_mask) -> torch.Tensor:
        """(B, P, S, D) sentences -> (B, P, H) paragraph vecs (padded paragraphs zero)."""
        B, P, S, D = sentence_embs.shape
        flat_valid = paragraph_mask.reshape(-1)                                           # (B*P,)
        seqs = sentence_embs.reshape(B * P, S, D)[flat_valid]                             # (N_par, S, D)
        lengths = sentence_mask.reshape(B * P, S)[flat_valid].sum(-1)                     # (N_par,)
        par_vecs = _gru_last_hidden(self.paragraph_gru, seqs, lengths)                    # (N_par, H)
        out = sentence_embs.new_zeros(B * P, self.hidden, dtype=par_vecs.dtype)
        out[flat_valid] = par_vecs
        return out.reshape(B, P, self.hidden)                                             # (B, P, H)

    def descriptions(self, paragraph_vecs, paragraph_mask) -> torch.Tensor:
        """(B, P, H) paragraph vecs incl. intro -> (B, H) description vecs."""
        n_pars = paragraph_mask.sum(1)                                                    # (B,)
        if self.agg == "avg":
            return paragraph_vecs.sum(1) / n_pars.clamp(min=1).unsqueeze(-1).to(paragraph_vecs.dtype)  # (B, H)
        return _gru_last_hidden(self.description_gru, paragraph_vecs, n_pars)             # (B, H)

    def forward(self, sentence_embs, sentence_mask, paragraph_mask) -> tuple[torch.Tensor, torch.Tensor]:
        paragraph_vecs = self.paragraphs(sentence_embs, sentence_mask, paragraph_mask)    # (B, P, H)
        return self.descriptions(paragraph_vecs, paragraph_mask), paragraph_vecs


class VisualBatch(NamedTuple):
    image_feats: torch.Tensor   # (B, R, I, D) float, zeros where padded
    image_mask: torch.Tensor    # (B, R, I) bool
    room_mask: torch.Tensor     # (B, R) bool, valid rooms form a prefix


class TextBatch(NamedTuple):
    sentence_embs: torch.Tensor   # (B, P, S, D)
    sentence_mask: torch.Tensor   # (B, P, S) bool
    paragraph_mask: torch.Tensor  # (B, P) bool; paragraph 0 is the intro, 1 + r describes room r


class HiCALMOutput(NamedTuple):
    metaverse_vecs: torch.Tensor    # (B, H)
    room_vecs: torch.Tensor         # (B, R, H)
    room_mask: torch.Tensor         # (B, R)
    description_vecs: torch.Tensor  # (B, H)
    room_text_vecs: torch.Tensor    # (B, R, H) paragraph vecs without the intro


class HiCALM(nn.Module):
    def __init__(self, cfg: HiCALMConfig):
        super().__init__()
        self.config = cfg
        self.visual = VisualHierarchy(cfg)
        self.text = TextHierarchy(cfg)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode_visual(self, batch: VisualBatch) -> tuple[torch.Tensor, torch.Tensor]:
        return self.visual(*batch)

    def encode_text(self, batch: TextBatch) -> tuple[torch.Tensor, torch.Tensor]:
        return self.text(*batch)

    def forward(self, visual: VisualBatch, text: TextBatch) -> HiCALMOutput:
        metaverse_vecs, room_vecs = self.visual(*visual)                                  # (B, H), (B, R, H)
        description_vecs, paragraph_vecs = self.text(*text)                               # (B, H), (B, P, H)
        R = room_vecs.shape[1]
        room_text_vecs = paragraph_vecs[:, 1:1 + R]                                       # (B, R, H)
        if room_text_vecs.shape[1] != R or not torch.equal(text.paragraph_mask[:, 1:1 + R], visual.room_mask):
            raise ValueError("text and visual batches disagree: every metaverse needs exactly n_rooms + 1 paragraphs")
        return HiCALMOutput(metaverse_vecs, room_vecs, visual.room_mask, description_vecs, room_text_vecs)


def check_compatible(cfg: HiCALMConfig, collection: Collection) -> None:
    """Raise ValueError naming both numbers when the config does not fit the collection's feature sizes."""
    image_dim = collection.image_feats.shape[1]
    if cfg.image_dim != image_dim:
        raise ValueError(f"model image_dim={cfg.image_dim} but the collection's image features have {image_dim} dims")
    expert_dim = 0 if collection.expert_feats is None else collection.expert_feats.shape[1]
    if cfg.expert_dim != expert_dim:
        raise ValueError(f"model expert_dim={cfg.expert_dim} but the collection's expert features have {expert_dim} dims")
    text_dim = collection.sentence_embs.shape[1]
    if cfg.sentence_dim != text_dim:
        raise ValueError(f"model text dim={cfg.sentence_dim} but the collection's sentence embeddings have {text_dim} dims")


# ---- batching: pre-padded index tables, per-batch gathers --------------------------------------------------------
def _ragged_table(offsets: np.ndarray) -> np.ndarray:
    """(n + 1,) CSR offsets -> (n, max_len) int64 item ids, -1 where padded (valid ids form a prefix)."""
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    width = max(int(lengths.max(initial=0)), 1)
    cols = np.arange(width)
    table = offsets[:-1, None] + cols[None, :]                                            # (n, L)
    table[cols[None, :] >= lengths[:, None]] = -1
    return table


def _gather_two_level(feats: torch.Tensor, outer_table: torch.Tensor, inner_table: torch.Tensor,
                      idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gather (B, O, N, D) features for metaverses idx through two -1-padded id tables, trimmed to the batch maxima."""
    outer = outer_table[idx]                                                              # (B, O_max)
    outer_mask = outer >= 0
    O = max(int(outer_mask.sum(1).max()), 1)
    outer, outer_mask = outer[:, :O], outer_mask[:, :O]                                   # (B, O)
    inner = inner_table[outer.clamp(min=0)]                                               # (B, O, N_max)
    inner_mask = (inner >= 0) & outer_mask.unsqueeze(-1)
    N = max(int(inner_mask.sum(-1).max()), 1)
    inner, inner_mask = inner[..., :N], inner_mask[..., :N]                               # (B, O, N)
    x = feats[inner.clamp(min=0)] * inner_mask.unsqueeze(-1).to(feats.dtype)              # (B, O, N, D)
    return x, inner_mask, outer_mask


class CollectionTensors:
    """A collection as torch tensors plus -1-padded id tables, built once; batches are pure index gathers."""

    def __init__(self, collection: Collection, device: Union[str, torch.device] = "cpu"):
        feats = np.asarray(collection.image_feats, dtype=np.float32)
        if collection.expert_feats is not None:
            feats = np.concatenate([feats, np.asarray(collection.expert_feats, dtype=np.float32)], axis=1)
        self.device = torch.device(device)
        self.image_feats = torch.from_numpy(feats).to(self.device)                        # (N_img, D + D_exp)
        self.sentence_embs = torch.from_numpy(np.asarray(collection.sentence_embs, np.float32)).to(self.device)
        as_t = lambda a: torch.from_numpy(a).to(self.device)                              # noqa: E731
        self.metaverse_room_ids = as_t(_ragged_table(collection.metaverse_room_offsets))       # (M, R_max)
        self.room_image_ids = as_t(_ragged_table(collection.room_image_offsets))               # (N_rooms, I_max)
        self.metaverse_paragraph_ids = as_t(_ragged_table(collection.metaverse_paragraph_offsets))  # (M, P_max)
        self.paragraph_sentence_ids = as_t(_ragged_table(collection.paragraph_sentence_offsets))    # (N_par, S_max)
        self.n_metaverses = collection.n_metaverses

    def _idx(self, idx) -> torch.Tensor:
        idx = torch.as_tensor(np.asarray(idx, dtype=np.int64), device=self.device).reshape(-1)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.n_metaverses):
            raise ValueError(f"metaverse indices must lie in [0, {self.n_metaverses}), got min {int(idx.min())} max {int(idx.max())}")
        return idx

    def visual_batch(self, idx) -> VisualBatch:
        x, image_mask, room_mask = _gather_two_level(self.image_feats, self.metaverse_room_ids,
                                                     self.room_image_ids, self._idx(idx))
        return VisualBatch(x, image_mask, room_mask)

    def text_batch(self, idx) -> TextBatch:
        x, sentence_mask, paragraph_mask = _gather_two_level(self.sentence_embs, self.metaverse_paragraph_ids,
                                                             self.paragraph_sentence_ids, self._idx(idx))
        return TextBatch(x, sentence_mask, paragraph_mask)

    def text_batch_from_ids(self, sentence_ids: torch.Tensor) -> TextBatch:
        """(B, P, S) global sentence ids, -1 padded (prefix-valid) -> TextBatch; used by query augmentation."""
        sentence_mask = sentence_ids >= 0
        paragraph_mask = sentence_mask.any(-1)
        x = self.sentence_embs[sentence_ids.clamp(min=0)] * sentence_mask.unsqueeze(-1).to(self.sentence_embs.dtype)
        return TextBatch(x, sentence_mask, paragraph_mask)


def visual_batch(collection: Collection, idx: Sequence[int]) -> VisualBatch:
    """Padded images (B, R_max, I_max, D) + masks for metaverses idx (one-off; build CollectionTensors to reuse)."""
    return CollectionTensors(collection).visual_batch(idx)


def text_batch(collection: Collection, idx: Sequence[int]) -> TextBatch:
    """Padded sentences (B, P_max, S_max, D) + masks for metaverses idx (one-off; build CollectionTensors to reuse)."""
    return CollectionTensors(collection).text_batch(idx)


def _pad_one(groups: Sequence[np.ndarray], outer: str, inner: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One item as a list of (N_g, D) arrays -> (1, G, N_max, D) values, (1, G, N_max) mask, (1, G) group mask."""
    if len(groups) == 0:
        raise ValueError(f"needs at least one {outer}, got 0")
    N = max(len(g) for g in groups)
    D = np.asarray(groups[0]).shape[1]
    x = torch.zeros(1, len(groups), N, D)
    mask = torch.zeros(1, len(groups), N, dtype=torch.bool)
    for i, rows in enumerate(groups):
        if len(rows) == 0:
            raise ValueError(f"{outer} {i} has no {inner}s; every {outer} needs at least one")
        x[0, i, :len(rows)] = torch.as_tensor(np.asarray(rows, dtype=np.float32))
        mask[0, i, :len(rows)] = True
    return x, mask, torch.ones(1, len(groups), dtype=torch.bool)


def pad_rooms(rooms: Sequence[np.ndarray]) -> VisualBatch:
    """One metaverse given as a list of (I_r, D) image arrays -> VisualBatch with B=1."""
    return VisualBatch(*_pad_one(rooms, "room", "image"))


def pad_paragraphs(paragraphs: Sequence[np.ndarray]) -> TextBatch:
    """One description given as a list of (S_p, D) sentence arrays -> TextBatch with B=1."""
    return TextBatch(*_pad_one(paragraphs, "paragraph", "sentence"))


def _to(batch, device):
    return type(batch)(*(t.to(device) for t in batch))


# ---- inference helpers (L2-normalised numpy out) ----------------------------------------------------------------
def _normalise(x: torch.Tensor) -> np.ndarray:
    return F.normalize(x.float(), dim=-1).cpu().numpy().astype(np.float32)


@torch.inference_mode()
def _encode_collection(model: HiCALM, collection: Union[Collection, CollectionTensors], idx: Optional[Sequence[int]],
                       batch_size: int, side: str) -> tuple[np.ndarray, np.ndarray]:
    """Batched forward of one side ("visual" | "text") over metaverses idx -> (top vecs (M, H), room vecs (N, H))."""
    if isinstance(collection, Collection):
        check_compatible(model.config, collection)
    tensors = collection if isinstance(collection, CollectionTensors) else CollectionTensors(collection, model.device)
    idx = np.arange(tensors.n_metaverses) if idx is None else np.asarray(idx, dtype=np.int64)
    model.eval()
    top_parts, room_parts = [], []
    for start in range(0, len(idx), batch_size):
        chunk = idx[start:start + batch_size]
        if side == "visual":
            batch = _to(tensors.visual_batch(chunk), model.device)
            with autocast(model.device):
                top_vecs, room_vecs = model.encode_visual(batch)                              # (B, H), (B, R, H)
            room_vecs = room_vecs[batch.room_mask]                                            # (N_rooms_b, H)
        else:
            batch = _to(tensors.text_batch(chunk), model.device)
            with autocast(model.device):
                top_vecs, paragraph_vecs = model.encode_text(batch)                           # (B, H), (B, P, H)
            room_vecs = paragraph_vecs[:, 1:][batch.paragraph_mask[:, 1:]]                    # (N_rooms_b, H): no intro
        top_parts.append(_normalise(top_vecs))
        room_parts.append(_normalise(room_vecs))
    H = model.config.hidden
    if not top_parts:
        return np.zeros((0, H), np.float32), np.zeros((0, H), np.float32)
    return np.concatenate(top_parts), np.concatenate(room_parts)


def encode_metaverses_visual(model: HiCALM, collection: Union[Collection, CollectionTensors],
                             idx: Optional[Sequence[int]] = None, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """-> metaverse_vecs (M, H), room_vecs (N_rooms of those metaverses, in order, H); L2-normalised."""
    return _encode_collection(model, collection, idx, batch_size, "visual")


def encode_descriptions(model: HiCALM, collection: Union[Collection, CollectionTensors],
                        idx: Optional[Sequence[int]] = None, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """-> description_vecs (M, H), room_text_vecs (N_rooms of those metaverses, H); L2-normalised."""
    return _encode_collection(model, collection, idx, batch_size, "text")


@torch.inference_mode()
def encode_text_paragraphs(model: HiCALM, paragraphs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A free-text query as paragraphs of sentence embeddings [(S_p, D)] -> description_vec (H,), paragraph_vecs (P, H)."""
    D = model.config.sentence_dim
    for p, sents in enumerate(paragraphs):
        if np.ndim(sents) != 2 or np.shape(sents)[1] != D:
            raise ValueError(f"paragraph {p} has shape {np.shape(sents)}; expected (n_sentences, {D})")
    model.eval()
    batch = _to(pad_paragraphs(paragraphs), model.device)
    with autocast(model.device):
        description_vecs, paragraph_vecs = model.encode_text(batch)                         # (1, H), (1, P, H)
    return _normalise(description_vecs)[0], _normalise(paragraph_vecs[0])


def _gru_last_hidden_np(gru: nn.GRU, seqs: np.ndarray) -> np.ndarray:
    """(N, T, D) unpadded float32 sequences -> (N, H) final hidden state averaged over directions, as
    _gru_last_hidden gives it (tested), in numpy: for a query's dozen one-step sequences torch's per-call cost was
    most of the time."""
    if gru.num_layers != 1 or not gru.bias:
        raise ValueError("the numpy GRU handles one layer with biases")
    H, (N, T, _) = gru.hidden_size, seqs.shape
    out = np.zeros((N, H), np.float32)
    directions = ("", "_reverse") if gru.bidirectional else ("",)
    for suffix in directions:
        w_ih, w_hh, b_ih, b_hh = (getattr(gru, f"{name}_l0{suffix}").detach().numpy()
                                  for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        gates_x = (seqs.reshape(N * T, -1) @ w_ih.T + b_ih).reshape(N, T, 3 * H)               # (N, T, 3H)
        h = np.zeros((N, H), np.float32)
        for i, t in enumerate(range(T) if not suffix else range(T - 1, -1, -1)):
            g = h @ w_hh.T + b_hh if i else np.broadcast_to(b_hh, (N, 3 * H))                # (N, 3H); h0 = 0
            x = gates_x[:, t]                                                                 # (N, 3H)
            r = 1.0 / (1.0 + np.exp(-(x[:, :H] + g[:, :H])))
            z = 1.0 / (1.0 + np.exp(-(x[:, H:2 * H] + g[:, H:2 * H])))
            n = np.tanh(x[:, 2 * H:] + r * g[:, 2 * H:])
            h = (1.0 - z) * n + z * h
        out += h
    return out / len(directions)


@torch.inference_mode()
def encode_sentences_as_paragraphs(model: HiCALM, sentence_embs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P, D) sentences of one query, each a paragraph of its own -> the raw (1, P, H) paragraph vectors (the input
    of describe_paragraphs) and the same (P, H) L2-normalised. Paragraph vectors do not depend on each other, so a
    typed query's spans go through the paragraph encoder once, and any of them can then be described together.
    On the CPU this runs in numpy (_gru_last_hidden_np), elsewhere through the model."""
    embs = np.asarray(sentence_embs, dtype=np.float32)
    D = model.config.sentence_dim
    if embs.ndim != 2 or embs.shape[1] != D or not len(embs):
        raise ValueError(f"sentences have shape {embs.shape}; expected (n >= 1, {D})")
    model.eval()
    if model.device.type == "cpu":
        raw = _gru_last_hidden_np(model.text.paragraph_gru, embs[:, None, :])[None]          # (1, P, H)
        return raw, l2_normalise(raw[0])
    x = torch.as_tensor(embs).to(model.device)[None, :, None, :]                              # (1, P, 1, D)
    mask = torch.ones(1, len(embs), 1, dtype=torch.bool, device=model.device)                 # (1, P, 1)
    with autocast(model.device):
        raw = model.text.paragraphs(x, mask, mask[..., 0])                                   # (1, P, H)
    return raw.float().cpu().numpy(), _normalise(raw[0])


@torch.inference_mode()
def describe_paragraphs(model: HiCALM, raw_paragraph_vecs: np.ndarray, rows: Sequence[int]) -> np.ndarray:
    """Raw (1, P, H) paragraph vectors (encode_sentences_as_paragraphs) and the rows that make the description, in
    order -> (H,) L2-normalised description vector, as encode_text_paragraphs gives for those paragraphs."""
    chosen = np.asarray(raw_paragraph_vecs, np.float32)[:, list(rows)]                        # (1, P', H)
    if model.text.agg == "avg":
        return l2_normalise(chosen.mean(1))[0]
    if model.device.type == "cpu":
        return l2_normalise(_gru_last_hidden_np(model.text.description_gru, chosen))[0]
    x = torch.as_tensor(chosen, device=model.device)
    mask = torch.ones(1, x.shape[1], dtype=torch.bool, device=model.device)
    with autocast(model.device):
        return _normalise(model.text.descriptions(x, mask))[0]


@torch.inference_mode()
def encode_rooms_visual(model: HiCALM, rooms: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Images of one (query) metaverse as rooms [(I_r, D)] -> metaverse_vec (H,), room_vecs (R, H).
    An image query is `encode_rooms_visual(model, [image_feats[None]])` (a one-room metaverse)."""
    D = model.config.image_dim + model.config.expert_dim
    for r, imgs in enumerate(rooms):
        if np.ndim(imgs) != 2 or np.shape(imgs)[1] != D:
            raise ValueError(f"room {r} has shape {np.shape(imgs)}; expected (n_images, {D})")
    model.eval()
    batch = _to(pad_rooms(rooms), model.device)
    with autocast(model.device):
        metaverse_vecs, room_vecs = model.encode_visual(batch)                              # (1, H), (1, R, H)
    return _normalise(metaverse_vecs)[0], _normalise(room_vecs[0])


@torch.inference_mode()
def encode_images_as_rooms(model: HiCALM, image_feats: np.ndarray) -> np.ndarray:
    """Each image as a one-image room, into the room-level space: (N, D) features -> (N, H) L2-normalised vectors.
    Scores of a query's room-level vector against these say which images inside a room matched."""
    D = model.config.image_dim + model.config.expert_dim
    feats = np.asarray(image_feats, dtype=np.float32)
    if feats.ndim != 2 or feats.shape[1] != D:
        raise ValueError(f"image features have shape {feats.shape}; expected (n_images, {D})")
    if not len(feats):
        return np.zeros((0, model.config.hidden), np.float32)
    model.eval()
    x = torch.from_numpy(feats).to(model.device)                                           # (N, D)
    with autocast(model.device):
        image_vecs = F.relu(model.visual.image_proj(x))                                    # (N, H)
        room_vecs = F.relu(model.visual.room_proj(image_vecs))                             # (N, H) one-image rooms
    return _normalise(room_vecs)


def _leave_one_out_variants(room_vecs: torch.Tensor, room_mask: torch.Tensor):
    """(B, R, H) room vecs -> every metaverse with one of its rooms removed: (V, R-1, H) vecs + (V, R-1) mask,
    plus (V,) owner b and removed r."""
    B, R = room_mask.shape
    n_rooms = room_mask.sum(1)                                                            # (B,)
    cols = torch.arange(R - 1, device=n_rooms.device)
    removed = torch.arange(R, device=n_rooms.device)
    keep = cols[None, :] + (cols[None, :] >= removed[:, None]).long()                     # (R, R-1): rooms kept when r is removed
    valid = removed[None, :] < n_rooms[:, None]                                           # (B, R): room r exists in b
    owner = torch.arange(B, device=n_rooms.device)[:, None].expand(B, R)[valid]           # (V,)
    which = removed[None, :].expand(B, R)[valid]                                          # (V,)
    return room_vecs[:, keep][valid], room_mask[:, keep][valid], owner, which             # (V, R-1, H), (V, R-1)


@torch.inference_mode()
def leave_one_room_out_batch(model: HiCALM, batch: VisualBatch) -> list[np.ndarray]:
    """For each metaverse of a padded batch, (n_rooms, H) L2-normalised metaverse vecs with room r left out.

    Room vectors are computed once; all variants of all metaverses then go through the metaverse aggregator in ONE
    forward pass. A one-room metaverse has nothing left when its room is removed: its row is all zeros (score 0)."""
    model.eval()
    batch = _to(batch, model.device)
    n_rooms = batch.room_mask.sum(1).tolist()
    H = model.config.hidden
    out = [np.zeros((n, H), np.float32) for n in n_rooms]
    if batch.room_mask.shape[1] < 2:
        return out
    with autocast(model.device):
        room_vecs = model.visual.rooms(batch.image_feats, batch.image_mask, batch.room_mask)   # (B, R, H)
        variant_vecs, variant_mask, owner, which = _leave_one_out_variants(room_vecs, batch.room_mask)
        nonempty = variant_mask.any(1)                                                        # (V,)
        owner, which = owner[nonempty].tolist(), which[nonempty].tolist()
        if not owner:
            return out
        metaverse_vecs = model.visual.metaverses(variant_vecs[nonempty], variant_mask[nonempty])  # (V, H)
    vecs = _normalise(metaverse_vecs)
    for v, (b, r) in enumerate(zip(owner, which)):
        out[b][r] = vecs[v]
    return out


def leave_one_room_out_visual(model: HiCALM, rooms_or_collection, metaverse_idx: Optional[Sequence[int]] = None):
    """Leave-one-room-out metaverse vecs.

    - `leave_one_room_out_visual(model, rooms)` with rooms = [(I_r, D)] of ONE metaverse -> (n_rooms, H)
    - `leave_one_room_out_visual(model, collection_or_tensors, metaverse_idx)` -> list of (n_rooms_m, H), all top-k
      metaverses' variants batched into one forward pass."""
    if metaverse_idx is None:
        return leave_one_room_out_batch(model, pad_rooms(rooms_or_collection))[0]
    tensors = rooms_or_collection
    if isinstance(tensors, Collection):
        check_compatible(model.config, tensors)
        tensors = CollectionTensors(tensors, model.device)
    return leave_one_room_out_batch(model, tensors.visual_batch(metaverse_idx))


# ---- checkpoints ------------------------------------------------------------------------------------------------
def save_checkpoint(model: HiCALM, path: Union[str, Path], meta: Optional[dict] = None) -> Path:
    """Save weights + the config that built them (+ JSON-able meta: training report, collection hash...)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"format": CHECKPOINT_FORMAT, "config": asdict(model.config), "state_dict": state,
                "meta": meta or {}}, path)
    return path


def load_checkpoint(path: Union[str, Path], map_location: Union[str, torch.device] = "cpu") -> tuple[HiCALM, dict]:
    """-> (model in eval mode, meta). Loads with weights_only=True."""
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, dict) or "config" not in ckpt:
        if isinstance(ckpt, dict) and "best_model_0" in ckpt:
            raise ValueError(f"{path} is a reference (authors') checkpoint; use load_reference_checkpoint(path, cfg)")
        raise ValueError(f"{path} is not a HiCALM checkpoint (expected keys 'config', 'state_dict')")
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} has checkpoint format {ckpt.get('format')!r}; this code reads {CHECKPOINT_FORMAT!r}")
    model = build_model(dict(ckpt["config"]))
    model.load_state_dict(ckpt["state_dict"])
    return model.to(map_location).eval(), dict(ckpt.get("meta") or {})


# Reference (aranciokov/HiCALM) module names -> ours. best_model_0 = visual (MyHierBaseline_v3),
# best_model_1 = text (HierGRUNet). The reference text "avg" also holds an unused `lin_museum` Linear; it is dropped.
REFERENCE_VISUAL_NAMES = {"trf_photo": "image_proj", "trf_room": "room_proj",
                          "trf_museum": {"avg": "metaverse_proj", "rnn": "metaverse_gru", "monornn": "metaverse_gru"}}
REFERENCE_TEXT_NAMES = {"gru_room": "paragraph_gru", "gru_museum": "description_gru"}
REFERENCE_TEXT_UNUSED = ("lin_museum",)


def _rename(state: dict, names: dict, agg: str, unused: tuple = ()) -> dict:
    out = {}
    for key, value in state.items():
        module, _, param = key.partition(".")
        if module in unused:
            continue
        if module not in names:
            raise ValueError(f"unexpected module {module!r} in reference checkpoint; known: {', '.join(names)}")
        ours = names[module]
        ours = ours[agg] if isinstance(ours, dict) else ours
        out[f"{ours}.{param}"] = value
    return out


def load_reference_checkpoint(path_or_dict: Union[str, Path, dict], cfg: HiCALMConfig) -> HiCALM:
    """Load the authors' `{best_model_0: visual, best_model_1: text}` checkpoint into a HiCALM built from cfg."""
    ckpt = path_or_dict if isinstance(path_or_dict, dict) else torch.load(path_or_dict, map_location="cpu", weights_only=True)
    missing = [k for k in ("best_model_0", "best_model_1") if k not in ckpt]
    if missing:
        raise ValueError(f"reference checkpoint lacks {missing}; expected keys best_model_0 (visual), best_model_1 (text)")
    visual_state, text_state = ckpt["best_model_0"], ckpt["best_model_1"]
    in_dim = visual_state["trf_photo.weight"].shape[1]
    if in_dim != cfg.image_dim + cfg.expert_dim:
        raise ValueError(f"reference trf_photo takes {in_dim}-d inputs but config image_dim + expert_dim = "
                         f"{cfg.image_dim} + {cfg.expert_dim} = {cfg.image_dim + cfg.expert_dim}")
    has_gru = any(k.startswith("trf_museum.weight_ih") for k in visual_state)
    if has_gru != (cfg.room_vis_agg != "avg"):
        raise ValueError(f"reference trf_museum is {'a GRU' if has_gru else 'a Linear'} but room_vis_agg={cfg.room_vis_agg!r}")
    model = HiCALM(cfg)
    model.visual.load_state_dict(_rename(visual_state, REFERENCE_VISUAL_NAMES, cfg.room_vis_agg))
    model.text.load_state_dict(_rename(text_state, REFERENCE_TEXT_NAMES, cfg.room_txt_agg, REFERENCE_TEXT_UNUSED))
    log.info("loaded reference checkpoint (%s visual / %s text tensors)", len(visual_state), len(text_state))
    return model.eval()


def to_reference_state_dicts(model: HiCALM) -> dict:
    """Inverse of load_reference_checkpoint: our weights in the authors' format (for exporting / round-trip tests)."""
    def invert(names: dict, agg: str) -> dict:
        return {(v[agg] if isinstance(v, dict) else v): k for k, v in names.items()}
    vis_names, txt_names = invert(REFERENCE_VISUAL_NAMES, model.config.room_vis_agg), invert(REFERENCE_TEXT_NAMES, "")
    remap = lambda state, names: {f"{names[k.partition('.')[0]]}.{k.partition('.')[2]}": v.detach().clone()  # noqa: E731
                                  for k, v in state.items()}
    return {"best_model_0": remap(model.visual.state_dict(), vis_names),
            "best_model_1": remap(model.text.state_dict(), txt_names)}
