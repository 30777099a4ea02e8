"""Training of the demo image tower against frozen MiniLM caption embeddings, and its held-out zero-shot check."""
from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from backend.encoders.demo import DEFAULT_TOWER_CONFIG, ImageTower, MiniLMTextEncoder
from backend.world.render import render_image
from backend.world.generate import DemoMetaverse, heldout_query

log = logging.getLogger(__name__)

HELDOUT_SPLITS: tuple[str, ...] = ("val", "test")


def _content_key(ref: dict) -> tuple[str, str, str]:
    return ref["subject"], ref["palette"], ref["style"]


def _collect(world: list[DemoMetaverse], splits: tuple[str, ...]) -> tuple[list[dict], list[str], list[str]]:
    """(refs, captions, description sentences) of every image of the metaverses in `splits`, in world order."""
    refs, captions, sentences = [], [], []
    for m in world:
        if m.info.split in splits:
            for room, room_captions, paragraph in zip(m.info.rooms, m.image_captions, m.paragraph_sentences[1:]):
                refs.extend(room.images)
                captions.extend(room_captions)
                sentences.extend(paragraph[1:])  # paragraph[0] is "In the first room, there are N paintings."
    return refs, captions, sentences


def render_batch(refs: list[dict], size: int = 64) -> torch.Tensor:
    """(N, 3, size, size) uint8 rendering of ImageRefs."""
    out = np.empty((len(refs), size, size, 3), dtype=np.uint8)
    for i, ref in enumerate(refs):
        out[i] = np.asarray(render_image(ref, size))
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Light geometric augmentation (colours untouched: palette is part of the label): flip and shift up to 4 px."""
    flip = torch.rand(x.shape[0], generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    dy, dx = (int(v) for v in torch.randint(-4, 5, (2,), generator=gen))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def contrastive_loss(image_embs: torch.Tensor, caption_embs: torch.Tensor, positives: torch.Tensor,
                     logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE between (B, D) image and (B, D) caption embeddings; `positives` (B, B) marks pairs with the
    same content (subject, palette, style), so paraphrased duplicates in a batch are not pushed apart."""
    logits = logit_scale.exp() * F.normalize(image_embs, dim=-1) @ F.normalize(caption_embs, dim=-1).T  # (B, B)
    targets = positives / positives.sum(1, keepdim=True)
    loss_i2t = -(targets * F.log_softmax(logits, dim=1)).sum(1).mean()
    loss_t2i = -(targets.T * F.log_softmax(logits, dim=0).T).sum(1).mean()
    return (loss_i2t + loss_t2i) / 2


@torch.inference_mode()
def _encode_images(tower: ImageTower, images_u8: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    tower.eval()
    out = [tower(images_u8[s:s + batch_size].float().div_(255.0)) for s in range(0, len(images_u8), batch_size)]
    return F.normalize(torch.cat(out), dim=-1).numpy()


def evaluate_heldout(tower: ImageTower, world: list[DemoMetaverse], text_encoder: MiniLMTextEncoder, *, seed: int = 0,
                     max_images: int = 3000) -> dict:
    """Zero-shot text->image on images of val/test metaverses with queries made only of held-out paraphrases.
    One query per distinct (subject, palette, style) among those images. R@10: a top-10 image has that exact content.
    *_in_top10: mean share of the top 10 with the right subject (resp. palette, style, subject and palette)."""
    rng = np.random.default_rng(seed + 1)
    refs, _, _ = _collect(world, HELDOUT_SPLITS)
    if not refs:
        return {}
    if len(refs) > max_images:
        refs = [refs[i] for i in np.sort(rng.choice(len(refs), max_images, replace=False))]
    image_embs = _encode_images(tower, render_batch(refs))  # (N, D)
    keys = sorted({_content_key(r) for r in refs})
    queries = [heldout_query({"subject": s, "palette": p, "style": st}, rng) for s, p, st in keys]
    query_embs = text_encoder.encode_text(queries)  # (Q, D)
    top10 = np.argsort(-(query_embs @ image_embs.T), axis=1)[:, :10]  # (Q, 10)
    subj = np.array([r["subject"] for r in refs])[top10]
    pal = np.array([r["palette"] for r in refs])[top10]
    sty = np.array([r["style"] for r in refs])[top10]
    q_subj, q_pal, q_sty = (np.array(col)[:, None] for col in zip(*keys))
    exact = (subj == q_subj) & (pal == q_pal) & (sty == q_sty)
    return {
        "heldout_images": len(refs), "heldout_queries": len(queries),
        "heldout_text_to_image_R@10": float(exact.any(1).mean()),
        "heldout_subject_in_top10": float((subj == q_subj).mean()),
        "heldout_palette_in_top10": float((pal == q_pal).mean()),
        "heldout_style_in_top10": float((sty == q_sty).mean()),
        "heldout_subject_and_palette_in_top10": float(((subj == q_subj) & (pal == q_pal)).mean()),
        "heldout_example_queries": queries[:3],
    }


def train_image_tower(world: list[DemoMetaverse], text_encoder: MiniLMTextEncoder, *, epochs: int = 8, seed: int = 0,
                      max_images: int | None = None, progress: bool = True, batch_size: int = 256,
                      lr: float = 2e-3) -> tuple[ImageTower, dict]:
    """Train an ImageTower on train-split images with a symmetric contrastive loss against their texts (short caption or
    description sentence, embedded once by the frozen text encoder); return it (eval mode, CPU) and a report with
    timings and held-out zero-shot text->image retrieval (see evaluate_heldout)."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if max_images is not None and max_images < 2:
        raise ValueError(f"max_images must be None or >= 2, got {max_images}")
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)

    refs, captions, sentences = _collect(world, ("train",))
    if len(refs) < 2:
        raise ValueError(f"the world has {len(refs)} train-split images; training needs at least 2")
    if max_images is not None and len(refs) > max_images:
        keep = np.sort(rng.choice(len(refs), max_images, replace=False))
        refs, captions, sentences = [refs[i] for i in keep], [captions[i] for i in keep], [sentences[i] for i in keep]
    images_u8 = render_batch(refs, DEFAULT_TOWER_CONFIG["image_size"])  # (N, 3, 64, 64) uint8
    t_render = time.perf_counter() - t0

    # Each image has two texts: its short caption and its description sentence (more phrasings -> robust to paraphrase).
    unique_texts, text_idx = np.unique(np.array(captions + sentences), return_inverse=True)
    text_embs = torch.from_numpy(text_encoder.encode_text(list(unique_texts)))  # (U, D) frozen
    text_idx = torch.from_numpy(text_idx.astype(np.int64)).view(2, -1)  # (2, N): caption row, sentence row
    content_keys = {k: i for i, k in enumerate(sorted({_content_key(r) for r in refs}))}
    content_idx = torch.tensor([content_keys[_content_key(r)] for r in refs])  # (N,)
    t_text = time.perf_counter() - t0 - t_render

    tower = ImageTower(**DEFAULT_TOWER_CONFIG)
    logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    params = list(tower.parameters()) + [logit_scale]
    optimiser = torch.optim.Adam(params, lr=lr)
    n, steps_per_epoch = len(refs), max(1, math.ceil(len(refs) / batch_size))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=epochs * steps_per_epoch,
                                                    pct_start=0.15)
    losses = []
    for epoch in range(epochs):
        tower.train()
        order, epoch_loss = torch.randperm(n, generator=gen), 0.0
        for step in range(steps_per_epoch):
            idx = order[step * batch_size:(step + 1) * batch_size]
            if len(idx) < 2:
                continue
            x = _augment(images_u8[idx].float().div_(255.0), gen)  # (B, 3, 64, 64)
            positives = (content_idx[idx][:, None] == content_idx[idx][None, :]).float()  # (B, B)
            which = (torch.rand(len(idx), generator=gen) < 0.5).long()  # (B,) 0: caption, 1: description sentence
            loss = contrastive_loss(tower(x), text_embs[text_idx[which, idx]], positives, logit_scale)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            with torch.no_grad():
                logit_scale.clamp_(0, math.log(100))
            epoch_loss += loss.item()
        losses.append(epoch_loss / steps_per_epoch)
        if progress:
            log.info("tower epoch %d/%d loss %.4f (%.0f s)", epoch + 1, epochs, losses[-1], time.perf_counter() - t0)
    tower.eval()
    seconds = time.perf_counter() - t0
    report = {"epochs": epochs, "train_images": n, "unique_texts": len(unique_texts), "seconds": round(seconds, 1),
              "render_seconds": round(t_render, 1), "text_encode_seconds": round(t_text, 1),
              "final_loss": round(losses[-1], 4), "temperature": round(float(1 / logit_scale.detach().exp()), 4)}
    t_eval = time.perf_counter()
    report.update(evaluate_heldout(tower, world, text_encoder, seed=seed))
    report["eval_seconds"] = round(time.perf_counter() - t_eval, 1)
    log.info("tower report %s", report)
    return tower, report
