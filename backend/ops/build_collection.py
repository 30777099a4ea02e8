"""`python -m backend build collection SRC --out BUNDLE`: a collection a person brings as folders (or a JSONL / CSV
manifest, backend/data/importers/folders.py) -> a bundle served like the demo one: encoded with open_clip when its
weights are on this machine (the demo image tower otherwise), HiCALM trained on a seeded held-out split, maps, and
`eval` of HiCALM beside the baseline on the test split. Bad items are skipped with their reason (or stop the build
with --strict) and listed in a report written beside the bundle."""
from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np

from backend.data.bundle import MANIFEST, BundleWriter
from backend.data.collection import MetaverseInfo, RoomInfo
from backend.data.importers.common import ImportLog, ItemFeatures, assemble
from backend.data.importers.folders import FolderItem, load_room_images, read_items
from backend.data.thumbs import THUMB_OFFSETS, THUMBS_BIN, pack, thumbnail_png
from backend.paths import REPO

log = logging.getLogger(__name__)

DEMO_TOWER = REPO / "precomputed" / "image_tower.pt"   # the committed demo bundle's tower (scale-consistent)
OPEN_CLIP_DEFAULT = "mobileclip-s1"                     # tried first by --encoder auto (the paper's generalist)
HELD_OUT = {"val": 0.15, "test": 0.15}                  # of the items whose files name no split
MIN_HELD_OUT = {"val": 1, "test": 2}                    # test needs 2 to rank anything; val selects the epoch
EVAL_KEYS = ("R@1", "R@5", "R@10", "MedR", "nDCG@10")


def report_path_for(out: Path) -> Path:
    return Path(out).with_name(Path(out).name + "-report.json")


def open_encoder(choice: str = "auto", weights: Optional[str] = None, tower: Optional[Path] = None):
    """(encoder, manifest encoder spec without the tower, tower file or None, why auto chose what it chose).
    auto: open_clip MobileCLIP-S1 when its weights are found offline (--encoder-weights or the HF cache), else the
    demo image tower; demo: the tower; any other name: that open_clip model, and missing weights are an error."""
    if choice != "demo":
        from backend.encoders.openclip import OpenClipEncoder
        name = OPEN_CLIP_DEFAULT if choice == "auto" else choice
        try:
            enc = OpenClipEncoder.load(name, weights)
            return enc, {"type": "open_clip", "name": enc.name, "model": name, "weights": weights,
                         "dim": enc.dim}, None, f"open_clip {name}"
        except ValueError as e:
            if choice != "auto" or weights is not None:
                raise
            why = f"demo image tower ({str(e).split(': looked')[0]})"
            log.warning("encoder: %s", why)
    else:
        why = "demo image tower (asked for)"
    from backend.encoders.demo import DemoEncoder
    tower = Path(tower or DEMO_TOWER)
    if not tower.is_file():
        raise ValueError(f"demo image tower {tower} not found; pass --tower PATH (a bundle's image_tower.pt) or "
                         "--encoder with open_clip weights")
    enc = DemoEncoder.load(tower)
    return enc, {"type": "demo", "name": enc.name, "dim": enc.dim, "tower": "image_tower.pt"}, tower, why


def assign_splits(items: list[FolderItem], seed: int) -> list[str]:
    """The files' split where they name one; the rest drawn by a seeded permutation of the sorted ids, HELD_OUT of
    them (at least MIN_HELD_OUT) to val and test, the others to train."""
    splits = [it.split for it in items]
    free = [i for i, s in enumerate(splits) if s is None]
    order = np.random.default_rng(seed).permutation(len(free))
    start = 0
    for split, share in HELD_OUT.items():
        n = max(MIN_HELD_OUT[split], int(round(share * len(free)))) if len(free) >= 5 else 0
        for j in order[start:start + n]:
            splits[free[j]] = split
        start += n
    return [s or "train" for s in splits]


def encode_items(items: list[FolderItem], encoder, ilog: ImportLog, strict: bool, seed: int) -> list:
    """(ItemFeatures per item whose images all decode (the others skipped, or ValueError with strict), with the
    splits drawn over these survivors (assign_splits); their thumbnails as PNG bytes in image-row order)."""
    from backend.ops.build import _encode_unique_sentences
    kept, out, sentences, pngs = [], [], [], []
    for item in items:
        try:
            rooms = load_room_images(item)
        except ValueError as e:
            if strict:
                raise ValueError(f"{item.source}: {e} (--strict stops at the first bad item)") from None
            ilog.skip(item.source, str(e))
            continue
        feats = [np.asarray(encoder.encode_image(images), np.float32) for images in rooms]   # R x (N_r, D)
        sentences += [s for p in item.paragraphs for s in p]
        refs = []
        for images in rooms:   # rows in the order assemble() concatenates the image features
            refs.append(tuple({"thumb": len(pngs) + i} for i in range(len(images))))
            pngs += [thumbnail_png(im) for im in images]
        info = MetaverseInfo(item.id, item.kind, item.title, "train", tuple(" ".join(p) for p in item.paragraphs),
                             tuple(RoomInfo(r, room.title, refs[r]) for r, room in enumerate(item.rooms)))
        kept.append(item)
        out.append(ItemFeatures(info, feats, None, tuple(len(p) for p in item.paragraphs)))
    embs = _encode_unique_sentences(encoder, sentences) if sentences else None   # one call: each text once
    start = 0
    for f, split in zip(out, assign_splits(kept, seed)):
        n = sum(f.sentence_counts)
        f.info, f.sentence_embs, start = replace(f.info, split=split), embs[start:start + n], start + n
    return out, pngs


def _check_out(source: Path, out: Path) -> None:
    """Refuse an --out whose replacement would destroy something that is not a bundle (the source included)."""
    src, dst = source.resolve(), out.resolve()
    if dst == src or src.is_relative_to(dst) or (source.is_dir() and dst.is_relative_to(src)):
        raise ValueError(f"--out {out} overlaps the source {source}; write the bundle somewhere else")
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST).is_file())):
        raise ValueError(f"--out {out} exists and is not a bundle; it would be replaced, so give a new folder")


def build_collection(source: Path, out: Path, encoder: str = "auto", encoder_weights: Optional[str] = None,
                     tower: Optional[Path] = None, kind: str = "museum", seed: int = 0,
                     hicalm_epochs: Optional[int] = None, train_hicalm: bool = True, maps: bool = True,
                     strict: bool = False, report_path: Optional[Path] = None) -> dict:
    """Read, encode, train, map and evaluate; write the bundle to out and the report beside it (report_path).
    The same files and seed give the same bundle. -> the report."""
    import torch
    source, out = Path(source), Path(out)
    report_path = Path(report_path) if report_path else report_path_for(out)
    _check_out(source, out)
    t_start = time.perf_counter()
    torch.manual_seed(seed)
    ilog, seconds = ImportLog(), {}

    def bad(name: str, reason: str) -> None:
        if strict:
            raise ValueError(f"{name}: {reason} (--strict stops at the first bad item)")
        ilog.skip(name, reason)

    items = read_items(source, bad, default_kind=kind)
    if not items:
        raise ValueError(f"no usable metaverse in {source}: " +
                         "; ".join(f"{s['name']}: {s['reason']}" for s in ilog.skipped[:5]))
    seconds["read"] = round(time.perf_counter() - t_start, 1)
    t0 = time.perf_counter()
    enc, spec, tower_file, why = open_encoder(encoder, encoder_weights, tower)
    features, pngs = encode_items(items, enc, ilog, strict, seed)
    col = assemble(features, extra={})
    seconds["encode"] = round(time.perf_counter() - t0, 1)
    splits = {s: int(len(col.split_indices(s))) for s in ("train", "val", "test")}
    if train_hicalm and splits["train"] < 2:
        raise ValueError(f"{splits['train']} metaverses to train on; HiCALM needs at least 2 (bring 5 or more)")
    report = {"source": str(source), "bundle": str(out), "report": str(report_path), "seed": seed,
              "encoder": spec["name"], "encoder_choice": why, "n_metaverses": col.n_metaverses,
              "n_rooms": col.n_rooms, "n_images": int(len(col.image_feats)), "splits": splits,
              "skipped": ilog.skipped, "warnings": ilog.warnings}
    writer = BundleWriter(out, manifest={
        "name": f"collection-{source.stem}", "source": {"type": "folders", "root": str(source), "seed": seed},
        "encoder": spec, "rankers": {"baseline": {}}, "default_ranker": "baseline",
        "reports": {"collection": {k: v for k, v in report.items() if k not in ("bundle", "report")}}})
    try:
        if tower_file is not None:
            writer.add_file("image_tower.pt", lambda p: shutil.copyfile(tower_file, p))
        writer.add_collection(col)
        thumbs, offsets = pack(pngs)   # the pictures the app shows for this collection (backend/data/thumbs.py)
        writer.add_file(THUMBS_BIN, lambda p: p.write_bytes(thumbs))
        writer.add_array(THUMB_OFFSETS, offsets)
        if train_hicalm:
            from backend.ops.build import _summary, add_hicalm
            from backend.training.train_hicalm import TrainConfig
            t0 = time.perf_counter()
            cfg = TrainConfig(seed=seed) if hicalm_epochs is None else TrainConfig(seed=seed, epochs=hicalm_epochs)
            report["hicalm_training"] = _summary(add_hicalm(writer, col, cfg, enc))
            seconds["train"] = round(time.perf_counter() - t0, 1)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    if maps:
        from backend.ops.build import build_maps
        t0 = time.perf_counter()
        report["maps"] = build_maps(out, seed=seed)
        seconds["maps"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    report["eval"] = evaluate(out)
    seconds["eval"] = round(time.perf_counter() - t0, 1)
    report["seconds"] = {**seconds, "total": round(time.perf_counter() - t_start, 1)}
    report_path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    return report


def evaluate(bundle: Path) -> dict:
    """`eval` on the test split, every ranker: text -> metaverse figures (percent; MedR in ranks), or why not."""
    from backend.eval.bundle_eval import evaluate_bundle, format_table
    try:
        full = evaluate_bundle(bundle, split="test")
    except ValueError as e:
        return {"skipped": str(e)}
    out: dict = {"split": "test", "n_queries": full["n_queries"], "table": format_table(full)}
    for name, r in full["rankers"].items():
        t = r["text_to_metaverse"]
        out[name] = {k: (round(float(t[k]), 1) if k == "MedR" else round(100 * float(t[k]), 1))
                     for k in EVAL_KEYS if k in t}
        out[name]["qrels_nDCG@10"] = round(100 * float(r["qrels_nDCG@10"]), 1)
    return out
