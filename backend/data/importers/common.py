"""Shared importer helpers: safe file loading, token-list sentence/paragraph splitting, ordinals, splits, CSR assembly."""
from __future__ import annotations

import logging
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from backend.data.collection import SPLITS, Collection, MetaverseInfo, RoomInfo, offsets_from_lengths
from backend.encoders.base import l2_normalise

log = logging.getLogger(__name__)

_UNITS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "eleventh",
          "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth", "eighteenth", "nineteenth"]
_TENS_CARD = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_TENS_ORD = {"twentieth": 20, "thirtieth": 30, "fortieth": 40, "fiftieth": 50, "sixtieth": 60, "seventieth": 70,
             "eightieth": 80, "ninetieth": 90}
ORDINAL_WORDS: dict[str, int] = {w: i + 1 for i, w in enumerate(_UNITS)} | _TENS_ORD
_ORD_TOKEN = r"[A-Za-z0-9-]+"


def parse_ordinal(word: str) -> Optional[int]:
    """'first' -> 1, 'twenty-first' -> 21, 'fortieth' -> 40, '3rd' -> 3; None when not an ordinal."""
    w = word.strip().lower()
    if w in ORDINAL_WORDS:
        return ORDINAL_WORDS[w]
    m = re.fullmatch(r"(\d+)(st|nd|rd|th)", w)
    if m:
        return int(m.group(1))
    tens, _, unit = w.partition("-")
    if tens in _TENS_CARD and unit in ORDINAL_WORDS and ORDINAL_WORDS[unit] < 10:
        return _TENS_CARD[tens] + ORDINAL_WORDS[unit]
    return None


# ---- files -------------------------------------------------------------------------------------------------------
def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise ValueError(f"missing {what}: {path} does not exist")
    return path


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise ValueError(f"missing {what}: directory {path} does not exist")
    return path


def load_tensor(path: Path, what: str):
    """torch.load(weights_only=True) with a ValueError naming the file on any failure."""
    require_file(path, what)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt / not a torch file
        raise ValueError(f"cannot read {what} {path}: {type(e).__name__}: {e}") from e


def load_pickle(path: Path, what: str):
    require_file(path, what)
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except Exception as e:
        raise ValueError(f"cannot read {what} {path}: {type(e).__name__}: {e}") from e


def as_matrix(x, path: Path, what: str, dim: Optional[int] = None) -> np.ndarray:
    """A 2-D float32 array from a tensor/array, ValueError naming the file if the shape is wrong."""
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    x = np.asarray(x, dtype=np.float32) if not isinstance(x, np.ndarray) else x.astype(np.float32, copy=False)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{what} {path} has shape {tuple(x.shape)}, expected a non-empty 2-D (rows, D) matrix")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{what} {path} has feature dim {x.shape[1]}, expected {dim} like the other files")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what} {path} contains NaN or inf values")
    return x


# ---- token lists -> sentences -> paragraphs ----------------------------------------------------------------------
def split_sentences(tokens: Sequence[str]) -> list[list[str]]:
    """Sentences end at a '.' token; a trailing run without '.' is a sentence too; empty runs are dropped."""
    out, cur = [], []
    for t in tokens:
        t = str(t)
        cur.append(t)
        if t == ".":
            if len(cur) > 1:
                out.append(cur)
            cur = []
    if any(t.strip() for t in cur):
        out.append(cur)
    return out


def split_sentences_like_the_authors(tokens: Sequence[str]) -> list[list[str]]:
    """The reference code's rule: join the tokens with spaces and split the text at every '.', keeping the pieces that
    hold a letter or digit. It differs from split_sentences where tokens such as '.,', '."', '...' or '.)' hold a
    period without being one."""
    pieces = " ".join(str(t) for t in tokens).split(".")
    return [piece.split() for piece in pieces if re.search(r"[A-Za-z0-9]", piece)]


def paragraph_starts(sentences: list[list[str]], unit: str) -> list[tuple[int, Optional[int]]]:
    """(sentence index, parsed ordinal) of each sentence opening a room paragraph: 'In the <ordinal> <unit> ...'.

    Sentence 0 is always the intro, as in the reference code (its regex needs the leading space after a '.').
    Museums use unit 'room' (reference: r"^ In the \\w+ room , there are"), GamingMV 'video' (r"^ In the \\w+ video").
    """
    starts = []
    for i, s in enumerate(sentences):
        if i == 0 or len(s) < 4:
            continue
        if s[0] == "In" and s[1] == "the" and re.fullmatch(_ORD_TOKEN, s[2]) and s[3] == unit:
            if unit == "room" and s[4:7] != [",", "there", "are"]:
                continue
            starts.append((i, parse_ordinal(s[2])))
    return starts


def detokenize(tokens: Sequence[str]) -> str:
    text = " ".join(str(t) for t in tokens)
    text = re.sub(r" ([,.;:!?%)\]])", r"\1", text)
    text = re.sub(r"([(\[]) ", r"\1", text)
    text = re.sub(r" (n't|'s|'re|'ve|'ll|'d|'m)\b", r"\1", text)
    return text.strip()


@dataclass(frozen=True)
class Paragraphs:
    texts: tuple[str, ...]          # intro + one per room
    sentence_counts: tuple[int, ...]
    ordinals: tuple[Optional[int], ...]  # parsed ordinal of each room paragraph
    repaired: Optional[str] = None       # why the authors' sentence rule was used instead of '.' tokens, if it was


def paragraphs_from_tokens(tokens: Sequence[str], unit: str, n_sentence_rows: int, path: Path) -> Paragraphs:
    """Split a token list into intro + room paragraphs and check the sentence count against the sentence tensor."""
    if isinstance(tokens, str) or not isinstance(tokens, (list, tuple)):
        raise ValueError(f"token file {path} holds {type(tokens).__name__}, expected a list of token strings")
    sentences, repaired = split_sentences(tokens), None
    if len(sentences) != n_sentence_rows:
        theirs = split_sentences_like_the_authors(tokens)
        if len(theirs) != n_sentence_rows:
            raise ValueError(f"token file {path} splits into {len(sentences)} sentences at '.' tokens and into "
                             f"{len(theirs)} by the authors' rule (split the text at '.'), but the sentence tensor "
                             f"has {n_sentence_rows} rows; one of them must match, one row per sentence")
        repaired = (f"{len(sentences)} sentences at '.' tokens, {n_sentence_rows} rows: used the authors' rule "
                    f"(split the text at '.'), which matches")
        sentences = theirs
    starts = paragraph_starts(sentences, unit)
    bounds = [0] + [i for i, _ in starts] + [len(sentences)]
    counts = tuple(b - a for a, b in zip(bounds[:-1], bounds[1:]))
    texts = tuple(detokenize([t for s in sentences[a:b] for t in s]) for a, b in zip(bounds[:-1], bounds[1:]))
    return Paragraphs(texts, counts, tuple(o for _, o in starts), repaired)


# ---- splits ------------------------------------------------------------------------------------------------------
def read_description(item: str, sent_dir: Path, tok_dir: Path, unit: str, n_rooms: int, img_path: Path,
                     dims: dict, ilog: "ImportLog") -> tuple[np.ndarray, Paragraphs]:
    """Sentence embeddings (S, D) and paragraphs of one item, checked against its n_rooms rooms in img_path.

    unit is the paragraph opener ("room" for Museums3k, "video" for GamingMV)."""
    sent_path = sent_dir / f"{item}.pt"
    sents = as_matrix(load_tensor(sent_path, "sentence embeddings"), sent_path, "sentence embeddings", dims["sent"])
    dims["sent"] = sents.shape[1]
    tok_path = tok_dir / f"{item}.pkl"
    pars = paragraphs_from_tokens(load_pickle(tok_path, "token file"), unit, len(sents), tok_path)
    opener = "room , there are" if unit == "room" else unit
    if len(pars.texts) != n_rooms + 1:
        raise ValueError(f"token file {tok_path} has {len(pars.texts) - 1} {unit} paragraphs ('In the <ordinal> "
                         f"{opener}'), but {img_path} holds {n_rooms} {unit}s; expected intro + one per {unit}")
    if pars.repaired:
        ilog.repair(item, pars.repaired)
    if list(pars.ordinals) != list(range(1, n_rooms + 1)):
        ilog.warn(f"{tok_path}: {unit} paragraph ordinals {list(pars.ordinals)} are not 1..{n_rooms}; kept file order")
    return sents, pars


def split_labels(split_indices: dict, n: int, path_or_source: str) -> list[Optional[str]]:
    """{train, val, test} index arrays into n sorted names -> per-name split label (None = in no split)."""
    labels: list[Optional[str]] = [None] * n
    if not isinstance(split_indices, dict) or not set(SPLITS) <= set(split_indices):
        keys = list(split_indices) if isinstance(split_indices, dict) else type(split_indices).__name__
        raise ValueError(f"split file {path_or_source} holds {keys}, expected a dict with keys {list(SPLITS)}")
    for split in SPLITS:
        idx = split_indices[split]
        idx = idx.tolist() if hasattr(idx, "tolist") else list(idx)
        for i in idx:
            i = int(i)
            if not 0 <= i < n:
                raise ValueError(f"split file {path_or_source}: {split} index {i} is out of range for {n} items")
            if labels[i] is not None:
                raise ValueError(f"split file {path_or_source}: item {i} is in both {labels[i]!r} and {split!r}")
            labels[i] = split
    return labels


# ---- assembly ----------------------------------------------------------------------------------------------------
@dataclass
class ItemFeatures:
    """One imported metaverse before CSR assembly."""

    info: MetaverseInfo
    room_feats: list[np.ndarray]                 # R x (N_r, D)
    sentence_embs: np.ndarray                    # (S, D)
    sentence_counts: tuple[int, ...]             # per paragraph, sums to S
    room_expert: Optional[list[np.ndarray]] = None  # R x (N_r, D_expert)


@dataclass
class ImportLog:
    skipped: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    repaired: list[dict] = field(default_factory=list)

    def repair(self, name: str, how: str) -> None:
        log.info("repaired %s: %s", name, how)
        self.repaired.append({"name": name, "how": how})

    def skip(self, name: str, reason: str) -> None:
        log.warning("skipping %s: %s", name, reason)
        self.skipped.append({"name": name, "reason": reason})

    def warn(self, msg: str) -> None:
        log.warning(msg)
        self.warnings.append(msg)


def make_info(mid: str, kind: str, title: str, split: str, paragraphs: Paragraphs, room_sizes: Sequence[int],
              room_word: str) -> MetaverseInfo:
    rooms = tuple(RoomInfo(r, f"{room_word} {r + 1}", (None,) * int(n)) for r, n in enumerate(room_sizes))
    return MetaverseInfo(mid, kind, title, split, paragraphs.texts, rooms)


def assemble(items: list[ItemFeatures], extra: dict) -> Collection:
    """Concatenate per-item features into the CSR Collection (rows L2-normalised) and validate it."""
    if not items:
        raise ValueError("no metaverses were imported; see the skipped list in the report")
    room_sizes = [len(f) for it in items for f in it.room_feats]
    image_feats = l2_normalise(np.concatenate([f for it in items for f in it.room_feats], axis=0))   # (N_img, D)
    sentence_embs = l2_normalise(np.concatenate([it.sentence_embs for it in items], axis=0))         # (N_sent, D)
    expert = None
    if items[0].room_expert is not None:
        expert = l2_normalise(np.concatenate([f for it in items for f in it.room_expert], axis=0))  # (N_img, D_e)
    coll = Collection(
        metaverses=[it.info for it in items],
        image_feats=image_feats,
        room_image_offsets=offsets_from_lengths(room_sizes),
        metaverse_room_offsets=offsets_from_lengths([len(it.room_feats) for it in items]),
        sentence_embs=sentence_embs,
        paragraph_sentence_offsets=offsets_from_lengths([c for it in items for c in it.sentence_counts]),
        metaverse_paragraph_offsets=offsets_from_lengths([len(it.sentence_counts) for it in items]),
        expert_feats=expert,
        extra=extra,
    )
    coll.validate()
    return coll


def report(dataset: str, root: Path, coll: Collection, split_source: str, ilog: ImportLog, **more) -> dict:
    return {
        "dataset": dataset, "root": str(root),
        "n_metaverses": coll.n_metaverses, "n_rooms": coll.n_rooms, "n_images": int(len(coll.image_feats)),
        "n_paragraphs": int(len(coll.paragraph_sentence_offsets) - 1), "n_sentences": int(len(coll.sentence_embs)),
        "feature_dim": int(coll.image_feats.shape[1]),
        "expert_dim": None if coll.expert_feats is None else int(coll.expert_feats.shape[1]),
        "splits": {s: int(len(coll.split_indices(s))) for s in SPLITS}, "split_source": split_source,
        "imported": coll.n_metaverses, "repaired": ilog.repaired, "skipped": ilog.skipped, "warnings": ilog.warnings,
        **more,
    }
