"""Building bundles: the demo world end to end, retraining HiCALM into a bundle, importing published features."""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np

from backend.data.bundle import BundleWriter, load_bundle
from backend.data.collection import Collection, offsets_from_lengths

log = logging.getLogger(__name__)

RENDER_BATCH = 512


def _encode_unique_sentences(text_encoder, sentences: list[str]) -> np.ndarray:
    """(N, D) embeddings of sentences, each distinct sentence encoded once."""
    unique = sorted(set(sentences))
    row = {s: i for i, s in enumerate(unique)}
    embs = text_encoder.encode_text(unique)                                   # (U, D)
    return embs[[row[s] for s in sentences]]


def world_to_collection(world, encoder, image_size: int = 64) -> Collection:
    """Render every image of a demo world, encode images and sentences, lay them out as a Collection."""
    from backend.world.render import render_image
    refs = [ref for dm in world for room in dm.info.rooms for ref in room.images]
    t0 = time.perf_counter()
    feats = []
    for i in range(0, len(refs), RENDER_BATCH):
        batch = [render_image(ref, size=image_size) for ref in refs[i:i + RENDER_BATCH]]
        feats.append(encoder.encode_image(batch))
    image_feats = np.concatenate(feats)                                       # (N_img, D)
    log.info("rendered and encoded %d images in %.1fs", len(refs), time.perf_counter() - t0)
    t0 = time.perf_counter()
    sentences = [s for dm in world for par in dm.paragraph_sentences for s in par]
    sentence_embs = _encode_unique_sentences(encoder, sentences)              # (N_sent, D)
    log.info("encoded %d sentences in %.1fs", len(sentences), time.perf_counter() - t0)
    return Collection(
        metaverses=[dm.info for dm in world],
        image_feats=image_feats,
        room_image_offsets=offsets_from_lengths([len(room.images) for dm in world for room in dm.info.rooms]),
        metaverse_room_offsets=offsets_from_lengths([len(dm.info.rooms) for dm in world]),
        sentence_embs=sentence_embs,
        paragraph_sentence_offsets=offsets_from_lengths([len(p) for dm in world for p in dm.paragraph_sentences]),
        metaverse_paragraph_offsets=offsets_from_lengths([len(dm.paragraph_sentences) for dm in world]),
    )


def add_hicalm(writer: BundleWriter, col: Collection, train_cfg, encoder=None) -> dict:
    """Train HiCALM on col's train split, store checkpoint + precomputed serving vectors, register the ranker.
    encoder: the bundle's text encoder, needed to embed typed training queries when train_cfg.typed_augment > 0."""
    from backend.model.hicalm import encode_metaverses_visual, save_checkpoint
    from backend.training.train_hicalm import train_hicalm
    t0 = time.perf_counter()
    pool = None
    if train_cfg.typed_augment > 0:
        from backend.training.typed_queries import TypedQueryPool
        if encoder is not None:
            pool = TypedQueryPool.build(col, encoder, col.split_indices("train"), train_cfg.typed_per_metaverse,
                                        train_cfg.seed)
        if pool is None or not pool.clause_ids:   # imported features: no room recipes to phrase typed queries from
            log.info("training without typed queries (%s)", "no text encoder given" if pool is None
                     else "no room recipes in this collection")
            train_cfg, pool = replace(train_cfg, typed_augment=0.0), None
    model, report = train_hicalm(col, train_cfg, progress=True, typed_pool=pool)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    writer.add_file("hicalm.pt", lambda p: save_checkpoint(model, p, meta={"train_report": report}))
    metaverse_vecs, room_vecs = encode_metaverses_visual(model, col)          # (M, H), (N_rooms, H)
    writer.add_array("hicalm_metaverse_vecs.npy", metaverse_vecs, "float32")
    writer.add_array("hicalm_room_vecs.npy", room_vecs, "float32")
    writer.manifest.setdefault("rankers", {})["hicalm"] = {
        "checkpoint": "hicalm.pt", "metaverse_vecs": "hicalm_metaverse_vecs.npy", "room_vecs": "hicalm_room_vecs.npy"}
    writer.manifest["default_ranker"] = "hicalm"
    writer.manifest.setdefault("reports", {})["hicalm_training"] = _summary(report)
    return report


def _summary(report: dict) -> dict:
    """The training report without per-step lists, for the manifest."""
    return {k: v for k, v in report.items() if not isinstance(v, (list, dict)) or k in ("best", "config")}


# The scale-consistency fine-tune of the demo tower (backend/training/tower_scale.py), as chosen on the dev half of
# the typed query set's image queries: 5 epochs left renders at 256-1,024 px 5.8-6.7 P@10 points behind 64 px; 12
# epochs (held-out scale cosine 0.92 -> 0.94, anchor 0.987 -> 0.988) left them 1.7-2.5 behind (2026-11-30).
TOWER_SCALE = dict(n_refs=3000, epochs=12, anchor_weight=2.0, lr=3e-4)


def _world_refs(m) -> list[dict]:
    return [ref for room in m.rooms for ref in room.images if ref]


def build_demo(out: Path, seed: int = 0, n_museums: int = 500, n_games: int = 150, tower_epochs: int = 8,
               hicalm_epochs: Optional[int] = None, train_hicalm: bool = True, tower_scale: bool = True) -> dict:
    """Generate the demo world, train the image tower, encode everything, train HiCALM, write the bundle."""
    import torch
    from backend.encoders.demo import DemoEncoder, MiniLMTextEncoder, save_tower
    from backend.training.train_tower import train_image_tower
    from backend.world.generate import generate_world
    t_start = time.perf_counter()
    torch.manual_seed(seed)
    world = generate_world(seed=seed, n_museums=n_museums, n_games=n_games)
    text_encoder = MiniLMTextEncoder()
    tower, tower_report = train_image_tower(world, text_encoder, epochs=tower_epochs, seed=seed)
    if tower_scale:   # before the collection is encoded, so stored features and uploads share one tower
        from backend.training.tower_scale import fit_scale_consistency
        refs = [ref for m in world if m.info.split == "train" for ref in _world_refs(m.info)]
        tower, tower_report["scale_consistency"] = fit_scale_consistency(tower, refs, seed=seed, **TOWER_SCALE)
    encoder = DemoEncoder(text_encoder, tower)
    col = world_to_collection(world, encoder)
    writer = BundleWriter(out, manifest={
        "name": f"demo-world-seed{seed}",
        "source": {"type": "demo", "seed": seed, "n_museums": n_museums, "n_games": n_games},
        "encoder": {"type": "demo", "name": encoder.name, "dim": encoder.dim, "tower": "image_tower.pt"},
        "rankers": {"baseline": {}}, "default_ranker": "baseline",
        "reports": {"image_tower": tower_report},
    })
    try:
        writer.add_file("image_tower.pt", lambda p: save_tower(tower, p, {"seed": seed, "epochs": tower_epochs}))
        writer.add_collection(col)
        report = {"image_tower": tower_report}
        if train_hicalm:
            from backend.training.train_hicalm import TrainConfig
            cfg = TrainConfig(seed=seed) if hicalm_epochs is None else TrainConfig(seed=seed, epochs=hicalm_epochs)
            report["hicalm_training"] = _summary(add_hicalm(writer, col, cfg, encoder))
        writer.manifest["reports"]["build_seconds"] = round(time.perf_counter() - t_start, 1)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    report["bundle"] = str(out)
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    return report


def _copy_bundle_into(writer: BundleWriter, bundle, skip: set[str]) -> None:
    """Carry a bundle's artifacts (except skip) into a new writer unchanged."""
    import shutil
    for name, meta in bundle.manifest["artifacts"].items():
        if name in skip:
            continue
        shutil.copy2(bundle.path / name, writer.stage / name)
        writer.manifest["artifacts"][name] = dict(meta)


def retrain_bundle(bundle_dir: Path, variant: str = "hicalm-rnn", epochs: Optional[int] = None, seed: int = 0,
                   theme_weight: float = 0.0, lam: float = 1.0, query_augment: Optional[float] = None,
                   out: Optional[Path] = None, typed_augment: Optional[float] = None) -> dict:
    """`python -m backend train`: train HiCALM on a bundle's train split and write it (in place or to out)."""
    from backend.training.train_hicalm import TrainConfig
    bundle = load_bundle(bundle_dir)
    kwargs = {"variant": variant, "seed": seed, "theme_weight": theme_weight, "lam": lam}
    if epochs is not None:
        kwargs["epochs"] = epochs
    if query_augment is not None:
        kwargs["query_augment"] = query_augment
    if typed_augment is not None:
        kwargs["typed_augment"] = typed_augment
    cfg = TrainConfig(**kwargs)
    encoder = None
    if cfg.typed_augment > 0:
        from backend.encoders.factory import load_encoder
        encoder = load_encoder(bundle.encoder_spec, bundle.path)
    manifest = {k: v for k, v in bundle.manifest.items() if k not in ("artifacts", "created")}
    manifest["rankers"] = {k: v for k, v in manifest.get("rankers", {}).items() if k != "hicalm"}
    writer = BundleWriter(out or bundle_dir, manifest=manifest)
    try:
        _copy_bundle_into(writer, bundle, skip={"hicalm.pt", "hicalm_metaverse_vecs.npy", "hicalm_room_vecs.npy"})
        report = add_hicalm(writer, bundle.collection, cfg, encoder)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return _summary(report)


def build_tower_scale(bundle_dir: Path, seed: int = 0, base: Optional[Path] = None) -> dict:
    """`python -m backend build tower-scale`: fine-tune a demo bundle's image tower for scale consistency (uploads of
    64-1,024 px land alike) while its output on the 64 px renders the collection was encoded from stays put (the
    anchor cosine in the report), so stored features, HiCALM vectors and maps stay valid; the rest is carried.
    base: start from (and anchor to) this tower checkpoint instead of the bundle's own: the tower the collection was
    encoded with. Required when the bundle's tower has already been fine-tuned (fine-tuning a fine-tuned tower would
    anchor to the wrong outputs): without it that is a ValueError."""
    from backend.encoders.demo import load_tower, save_tower
    from backend.training.tower_scale import fit_scale_consistency
    bundle = load_bundle(bundle_dir)
    spec = bundle.encoder_spec
    if spec.get("type") != "demo" or not spec.get("tower"):
        raise ValueError(f"{bundle_dir} has no demo image tower to fine-tune (encoder {spec.get('name')!r})")
    tower, config = load_tower(base or bundle.artifact(spec["tower"]))
    if base is None and config.get("scale_consistency"):
        raise ValueError(f"{bundle_dir}'s tower is already fine-tuned for scale; fine-tuning it again would anchor to "
                         "its tuned outputs, not to the tower the collection was encoded with. Pass --base with that "
                         "tower (for the committed demo bundle: `git show 9f07fe5:precomputed/image_tower.pt > "
                         "base.pt`)")
    refs = [ref for m in bundle.collection.metaverses if m.split == "train" for ref in _world_refs(m)]
    student, report = fit_scale_consistency(tower, refs, seed=seed, **TOWER_SCALE)
    manifest = {k: v for k, v in bundle.manifest.items() if k not in ("artifacts", "created")}
    manifest.setdefault("reports", {}).setdefault("image_tower", {})["scale_consistency"] = report
    writer = BundleWriter(bundle_dir, manifest=manifest)
    try:
        _copy_bundle_into(writer, bundle, skip={spec["tower"]})
        kept = {k: v for k, v in config.items() if k != "tower"}
        writer.add_file(spec["tower"], lambda p: save_tower(student, p, {**kept, "scale_consistency": True}))
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return report


def build_text_graph() -> dict:
    """Export MiniLM's ONNX graph into the cache (backend/encoders/minilm_onnx.py) so the app's first start does not
    pay for it; reuses a cached one. -> which runtime will serve text, where the graph is, and the seconds taken."""
    from backend.encoders.demo import MiniLMTextEncoder
    t0 = time.perf_counter()
    encoder = MiniLMTextEncoder(device="cpu")
    out = {"runtime": encoder.runtime, "seconds": round(time.perf_counter() - t0, 2)}
    if encoder.graph_path is not None:
        out.update(path=str(encoder.graph_path), mb=round(encoder.graph_path.stat().st_size / 1e6, 1))
    return out


def build_maps(bundle_dir: Path, seed: int = 0) -> dict:
    """`python -m backend build maps`: UMAP + HDBSCAN maps of every ranker space (metaverses and rooms) into a
    bundle, with their parameters, seed and agreement with the generator's themes; the rest is carried unchanged."""
    from backend.explore.bundle_maps import add_maps, ranker_vectors
    bundle = load_bundle(bundle_dir)
    manifest = {k: v for k, v in bundle.manifest.items() if k not in ("artifacts", "maps")}
    writer = BundleWriter(bundle_dir, manifest=manifest)
    t0 = time.perf_counter()
    try:
        _copy_bundle_into(writer, bundle, skip={n for n in bundle.manifest["artifacts"] if n.startswith("map_")})
        maps = add_maps(writer, bundle.collection, ranker_vectors(bundle), seed=seed)
        writer.manifest.setdefault("reports", {})["maps_seconds"] = round(time.perf_counter() - t0, 1)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return {r: {lvl: {"clusters": len(e["cluster_terms"]), "agreement": e["agreement"], "seconds": e["seconds"]}
                for lvl, e in by.items()} for r, by in maps.items()}


# generalist feature family of the published datasets -> the open_clip encoder that produced them
GENERALIST_ENCODERS = {"mobile_clip": ("mobileclip-s1", 512), "clip": ("vit-b-32", 512)}


def import_dataset(dataset: str, root: Path, out: Path, generalist: str = "mobile_clip", expert: Optional[str] = None,
                   encoder_weights: Optional[str] = None, hicalm_epochs: Optional[int] = None, strict: bool = False,
                   frames_per_segment: Optional[int] = None) -> dict:
    """`python -m backend import museums3k|gamingmv`: published features -> a bundle served like the demo one."""
    if generalist not in GENERALIST_ENCODERS:
        raise ValueError(f"unknown generalist {generalist!r}; allowed: {', '.join(GENERALIST_ENCODERS)}")
    if dataset == "museums3k":
        from backend.data.importers.museums3k import import_museums3k
        col, report = import_museums3k(Path(root), generalist=generalist, art_expert=expert, strict=strict)
    elif dataset == "gamingmv":
        from backend.data.importers.gamingmv import import_gamingmv
        from backend.data.importers.gamingmv import FRAMES_PER_SEGMENT
        col, report = import_gamingmv(Path(root), generalist=generalist, domain_expert=bool(expert), strict=strict,
                                      frames_per_segment=frames_per_segment or FRAMES_PER_SEGMENT)
    else:
        raise ValueError(f"unknown dataset {dataset!r}; allowed: museums3k, gamingmv")
    model_name, dim = GENERALIST_ENCODERS[generalist]
    if col.image_feats.shape[1] != dim:
        log.warning("%s features are %d-d, %s produces %d-d", dataset, col.image_feats.shape[1], model_name, dim)
    writer = BundleWriter(out, manifest={
        "name": f"{dataset}-{generalist}", "source": {"type": dataset, "root": str(root), "generalist": generalist,
                                                      "expert": expert},
        "encoder": {"type": "open_clip", "name": model_name, "model": model_name, "weights": encoder_weights,
                    "dim": int(col.image_feats.shape[1])},
        "rankers": {"baseline": {}}, "default_ranker": "baseline", "reports": {"import": report}})
    try:
        writer.add_collection(col)
        if hicalm_epochs != 0:
            from backend.training.train_hicalm import TrainConfig
            cfg = TrainConfig() if hicalm_epochs is None else TrainConfig(epochs=hicalm_epochs)
            # imported features carry no room recipes to phrase typed queries from: add_hicalm trains without them
            report["hicalm_training"] = _summary(add_hicalm(writer, col, cfg))
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return report
