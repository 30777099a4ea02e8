"""Deterministic PIL rendering of demo-world artworks and game frames from their ImageRef dicts."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

RGB = tuple[int, int, int]

# ---- visual vocabulary (identifiers only; the words describing them live in backend.world.generate) --------------------------
MUSEUM_SUBJECTS: tuple[str, ...] = (
    "seascape", "portrait", "flower still life", "forest", "mountains", "night city", "abstract geometry",
    "desert dunes", "harbour with boats", "animals", "ruins", "starry sky",
)
GAME_SUBJECTS: tuple[str, ...] = (
    "racing track", "space battle", "dungeon corridor", "platformer level", "underwater", "snowy mountains",
    "city chase", "jungle",
)
SUBJECTS_BY_KIND: dict[str, tuple[str, ...]] = {"museum": MUSEUM_SUBJECTS, "game": GAME_SUBJECTS}
STYLES_BY_KIND: dict[str, tuple[str, ...]] = {
    "museum": ("impressionist", "cubist", "pointillist", "minimalist"),
    "game": ("pixel art", "cel-shaded", "retro crt"),
}

# Each palette maps drawing roles to a concrete colour; images jitter them slightly.
PALETTES: dict[str, dict[str, RGB]] = {
    "stormy greys": {"sky": (112, 117, 126), "ground": (72, 76, 84), "a": (152, 156, 162), "b": (96, 102, 112),
                     "dark": (36, 39, 46), "light": (206, 209, 213)},
    "sunset oranges": {"sky": (250, 158, 78), "ground": (172, 70, 38), "a": (255, 204, 90), "b": (222, 92, 52),
                       "dark": (92, 34, 30), "light": (255, 232, 172)},
    "soft pastels": {"sky": (200, 226, 246), "ground": (242, 198, 214), "a": (196, 240, 208), "b": (226, 206, 250),
                     "dark": (148, 138, 172), "light": (252, 248, 234)},
    "deep blues": {"sky": (26, 52, 122), "ground": (12, 26, 72), "a": (62, 112, 204), "b": (40, 172, 222),
                   "dark": (6, 10, 36), "light": (152, 202, 246)},
    "sepia": {"sky": (202, 172, 126), "ground": (120, 84, 50), "a": (168, 126, 80), "b": (142, 100, 60),
              "dark": (60, 40, 20), "light": (236, 216, 180)},
    "vivid primaries": {"sky": (40, 112, 240), "ground": (30, 170, 60), "a": (236, 30, 36), "b": (250, 214, 20),
                        "dark": (20, 20, 22), "light": (250, 250, 250)},
}
PALETTE_NAMES: tuple[str, ...] = tuple(PALETTES)


def validate_ref(ref: dict) -> tuple[str, str, str, str, int]:
    """(kind, subject, palette, style, seed) from an ImageRef, or ValueError naming the bad field and what is allowed."""
    if not isinstance(ref, dict):
        raise ValueError(f"ImageRef must be a dict, got {type(ref).__name__}")
    subject = ref.get("subject")
    kind = next((k for k, subjects in SUBJECTS_BY_KIND.items() if subject in subjects), None)
    if kind is None:
        allowed = ", ".join(MUSEUM_SUBJECTS + GAME_SUBJECTS)
        raise ValueError(f"unknown subject {subject!r}; allowed: {allowed}")
    if ref.get("kind", kind) != kind:
        raise ValueError(f"kind {ref.get('kind')!r} does not match subject {subject!r}; allowed: {kind!r}")
    palette = ref.get("palette")
    if palette not in PALETTES:
        raise ValueError(f"unknown palette {palette!r}; allowed: {', '.join(PALETTE_NAMES)}")
    style = ref.get("style")
    if style not in STYLES_BY_KIND[kind]:
        raise ValueError(f"unknown {kind} style {style!r}; allowed: {', '.join(STYLES_BY_KIND[kind])}")
    seed = ref.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return kind, subject, palette, style, int(seed)


def render_image(ref: dict, size: int = 64) -> Image.Image:
    """RGB image of `size`x`size`, a pure function of the ImageRef (same ref and size -> identical pixels)."""
    _kind, subject, palette, style, seed = validate_ref(ref)
    if not isinstance(size, (int, np.integer)) or not 8 <= size <= 1024:
        raise ValueError(f"size must be an int in [8, 1024], got {size!r}")
    rng = np.random.default_rng(seed)
    colours = {role: _jitter(rgb, rng, 14) for role, rgb in PALETTES[palette].items()}
    img = Image.new("RGB", (size, size), colours["sky"])
    _SUBJECT_PAINTERS[subject](ImageDraw.Draw(img), float(size), colours, rng)
    return _STYLE_FILTERS[style](img, colours, rng)


# ---- colour helpers -------------------------------------------------------------------------------------------------
def _jitter(rgb: RGB, rng: np.random.Generator, amount: int) -> RGB:
    d = rng.integers(-amount, amount + 1, size=3)
    return tuple(int(min(255, max(0, v + dv))) for v, dv in zip(rgb, d))  # type: ignore[return-value]


def _mix(c1: RGB, c2: RGB, t: float) -> RGB:
    return tuple(int(round(a * (1 - t) + b * t)) for a, b in zip(c1, c2))  # type: ignore[return-value]


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _wave(x0: float, x1: float, y: float, amp: float, period: float, phase: float, n: int = 12) -> list[tuple]:
    return [(x0 + (x1 - x0) * i / n, y + amp * math.sin(phase + (x1 - x0) * i / n / period * 2 * math.pi))
            for i in range(n + 1)]


# ---- museum subjects ------------------------------------------------------------------------------------------------
def _seascape(d: ImageDraw.ImageDraw, S: float, c: dict, rng: np.random.Generator) -> None:
    h = S * _u(rng, 0.35, 0.55)
    for _ in range(int(rng.integers(2, 5))):  # clouds
        cx, cy, w = S * _u(rng, 0, 1), h * _u(rng, 0.15, 0.7), S * _u(rng, 0.15, 0.35)
        d.ellipse([cx - w, cy - w * 0.25, cx + w, cy + w * 0.25], fill=_mix(c["sky"], c["light"], 0.6))
    d.rectangle([0, h, S, S], fill=_mix(c["b"], c["dark"], 0.35))
    n_waves = int(rng.integers(6, 11))
    for i in range(n_waves):
        y = h + (S - h) * (i + 0.5) / n_waves
        amp = S * 0.012 * (1 + 2 * i / n_waves)
        d.line(_wave(0, S, y, amp, S * _u(rng, 0.12, 0.25), _u(rng, 0, 6.3)), fill=c["light"], width=1)


def _portrait(d: ImageDraw.ImageDraw, S: float, c: dict, rng: np.random.Generator) -> None:
    d.rectangle([0, 0, S, S], fill=_mix(c["sky"], c["b"], _u(rng, 0, 0.6)))
    cx, cy = S * _u(rng, 0.4, 0.6), S * _u(rng, 0.36, 0.46)
    hw, hh = S * _u(rng, 0.13, 0.17), S * _u(rng, 0.17, 0.21)
    d.ellipse([cx - S * 0.36, cy + hh * 1.4, cx + S * 0.36, cy + hh * 1.4 + S * 0.6], fill=c["dark"])  # shoulders
    d.rectangle([cx - hw * 0.35, cy + hh * 0.7, cx + hw * 0.35, cy + hh * 1.6], fill=_mix(c["light"], c["a"], 0.5))
    d.ellipse([cx - hw * 1.15, cy - hh * 1.2, cx + hw * 1.15, cy + hh * 0.4], fill=c["ground"])  # hair
    d.ellipse([cx - hw, cy - hh, cx + hw, cy + hh], fill=_mix(c["light"], c["a"], 0.35))  # face
    ey, ex = cy - hh * 0.15, hw * 0.42
    for sx in (-1, 1):
        d.ellipse([cx + sx * ex - S * 0.018, ey - S * 0.018, cx + sx * ex + S * 0.018, ey + S * 0.018], fill=c["dark"])
    d.line([cx - hw * 0.35, cy + hh * 0.5, cx + hw * 0.35, cy + hh * 0.5], fill=c["b"], width=max(1, int(S / 64)))


def _flower_still_life(d: ImageDraw.ImageDraw, S: float, c: dict, rng: np.random.Generator) -> None:
    table = S * _u(rng, 0.7, 0.8)
    d.rectangle([0, table, S, S], fill=c["ground"])
    cx, vw, vh = S * _u(rng, 0.38, 0.62), S * _u(rng, 0.1, 0.16), S * _u(rng, 0.18, 0.28)
    top = table - vh
    d.polygon([(cx - vw * 0.6, top), (cx + vw * 0.6, top), (cx + vw, table), (cx - vw, table)], fill=c["b"])
    for _ in range(int(rng.integers(3, 7))):
        fx, fy, r = cx + S * _u(rng, -0.25, 0.25), top - S * _u(rng, 0.08, 0.35), S * _u(rng, 0.045, 0.08)
        d.line([cx, top, fx, fy], fill=c["dark"], width=max(1, int(S / 64)))
        petal = c["a"] if rng.random() < 0.5 else c["light"]
        for k in range(5):
            ang = 2 * math.pi * k / 5
            px, py = fx + r * 0.7 * math.cos(ang), fy + r * 0.7 * math.sin(ang)
            d.ellipse([px - r * 0.55, py - r * 0.55, px + r * 0.55, py + r * 0.55], fill=petal)
        d.ellipse([fx - r * 0.35, fy - r * 0.35, fx + r * 0.35, fy + r * 0.35], fill=c["b"])


def _forest(d: ImageDraw.ImageDraw, S: float, c: dict, rng: np.random.Generator) -> None:
    ground = S * _u(rng, 0.78, 0.88)
    d.rectangle([0, ground, S, S], fill=c["ground"])
    for _ in range(int(rng.integers(5, 10))):
        x, w, top = S * _u(rng, 0, 1), S * _u(rng, 0.03, 0.06), S * _u(rng, 0.15, 0.45)
        r = S * _u(rng, 0.08, 0.15)
        d.ellipse([x - r, top - r * 1.2, x + r, top + r * 0.8], fill=c["a"] if rng.random() < 0.5 else c["b"])
        d.rectangle([x - w / 2, top, x + w / 2, ground + S * 0.03], fill=c["dark"])


def _mountains(d: ImageDraw.ImageDraw, S: float, c: dict, rng: np.random.Generator) -> None:
    base = S * _u(rng, 0.72, 0.85)
    for i in range(int(rng.integers(3, 6))):
        px, py, half = S * _u(rng, 0.05, 0.95), S * _u(rng, 0.12, 0.5), S * _u(rng, 0.2, 0.4)
        d.polygon([(px - half, base), (px, py), (px + half, base)], fill=(c["b"], c["ground"], c["dark"])[i % 3])
        k = 0.25
        d.polygon([(px - half * k, py + (base - py) * k), (px, py), (px + half * k, py + (base - py) * k)],
                  fill=c["light"])
    d.rectangle([0, base, S, S], fill=c["ground"])


def _night_city(d: ImageDraw.ImageDraw, S: float, c: dict, rng: np.random.Generator) -> None:
    d.rectangle([0, 0, S, S], fill=c["dark"])
    mx, my, mr = S * _u(rng, 0.1, 0.9), S * _u(rng, 0.08, 0.2), S * _u(rng, 0.05, 0.08)
    d.ellipse([mx - mr, my - mr, mx + mr, my + mr], fill=c["light"])
    x = -S * _u(rng, 0, 0.05)
    body = _mix(c["dark"], c["ground"], 0.55)
    px = max(1.0, S / 40)
    while x < S:
        w, h = S * _u(rng, 0.09, 0.18), S * _u(rng, 0.3, 0.8)
        d.rectangle([x, S - h, x + w - 1, S], fill=body)
        for wy in np.arange(S - h + px * 2, S - px, px * 3):
            for wx in np.arange(x + px, x + w - px * 2, px * 2.5):
                if rng.random() < 0.55:
                    d.rectangle([wx, wy, wx + px - 1, wy + px - 1], fill=c["a"] if rng.random() < 0.5 else c["light"])
        x += w


def _abstract_geometry(d: ImageDraw.ImageDraw, S: float, c: dict, rng: np.random.Generator) -> None:
    d.rectangle([0, 0, S, S], fill=c["light"] if rng.random() < 0.6 else c["sky"])
    fills = (c["a"], c["b"], c["dark"], c["ground"])
    for i in range(int(rng.integers(5, 9))):
        x, y, r = S * _u(rng, 0.1, 0.9), S * _u(rng, 0.1, 0.9), S * _u(rng, 0.1, 0.25)
        fill, shape = fills[int(rng.integers(0, 4))], i % 3
        if shape == 0:
            d.ellipse([x - r, y - r, x + r, y + r], fill=fill)
        elif shape == 1:
            d.rectangle([x - r, y - r * _u(rng, 0.4, 1), x + r * _u(rng, 0.4, 1), y + r], fill=fill)
        else:
            d.polygon([(x, y - r), (x + r, y + r), (x - r, y + r * _u(rng, 0.3, 1))], fill=fill)


def _desert_dunes(d: ImageDraw.ImageDraw, S: float, c: dict, rng: np.random.Generator) -> None:
    sx, sy, sr = S * _u(rng, 0.15, 0.85), S * _u(rng, 0.1, 0.3), S * _u(rng, 0.07, 0.11)
    d.ellipse([sx - sr, sy - sr, sx + sr, sy + sr], fill=c["light"])
    layers = (c["a"], _mix(c["a"], c["ground"], 0.5), c["ground"], c["b"])
    for i, fill in enumerate(layers):
        y = S * (0.42 + 0.14 * i) + S * _u(rng, -0.04, 0.04)
        pts = _wave(0, S, y, S * _u(rng, 0.03, 0.07), S * _u(rng, 0.5, 1.0), _u(rng, 0, 6.3), n=16)
        d.polygon(pts + [(S, S), (0, S)], fill=fill)


def _harbour_with_boats(d: ImageDraw.ImageDraw, S: float, c: dict, rng: np.random.Generator) -> None:
    water = S * _u(rng, 0.5, 0.6)
    d.rectangle([0, water, S, S], fill=c["b"])
    pier_left = rng.random() < 0.5
    px0, px1 = (0, S * 0.25) if pier_left else (S * 0.75, S)
    d.rectangle([px0, water - S * 0.06, px1, water], fill=c["ground"])
    for k in range(4):
        x = px0 + (px1 - px0) * (k + 0.5) / 4
        d.rectangle([x - 1, water, x + 1, water + S * 0.12], fill=c["dark"])
    for _ in range(int(rng.integers(2, 5))):
        bx, by, bw = S * _u(rng, 0.25, 0.75), water + S * _u(rng, 0.05, 0.35), S * _u(rng, 0.1, 0.17)
        d.polygon([(bx - bw, by), (bx + bw, by), (bx + bw * 0.7, by + bw * 0.45), (bx - bw * 0.7, by + bw * 0.45)],
                  fill=c["dark"])
        d.line([bx, by, bx, by - bw * 2.2], fill=c["dark"], width=1)
        d.polygon([(bx + 1, by - bw * 2.1), (bx + 1, by - bw * 0.2), (bx + bw * 0.9, by - bw * 0.2)], fill=c["light"])
        d.line([bx - bw, by + bw * 0.7, bx + bw, by + bw * 0.7], fill=c["light"], width=1)


def _animals(d: ImageDraw.ImageDraw, S: float, c: dict, rng: np.random.Generator) -> None:
    ground = S * _u(rng, 0.68, 0.78)
    d.rectangle([0, ground, S, S], fill=c["ground"])
    lw = max(1, int(S / 40))
    for _ in range(int(rng.integers(1, 4))):
        cx, bw = S * _u(rng, 0.2, 0.8), S * _u(rng, 0.1, 0.17)
        bh, leg = bw * 0.5, bw * 0.8
        by = ground - leg - bh * 0.5 + S * _u(rng, 0, 0.12)
        fill = c["dark"] if rng.random() < 0.5 else c["b"]
        for lx in (-0.7, -0.4, 0.4, 0.7):
            d.line([cx + lx * bw, by, cx + lx * bw, by + bh * 0.5 + leg], fill=fill, width=lw)
        d.ellipse([cx - bw, by - bh * 0.5, cx + bw, by + bh * 0.5], fill=fill)
        side = 1 if rng.random() < 0.5 else -1
        hx, hy, hr = cx + side * bw * 1.05, by - bh * 0.7, bh * 0.55
        d.line([cx + side * bw * 0.7, by - bh * 0.2, hx, hy], fill=fill, width=lw * 2)
        d.ellipse([hx - hr, hy - hr, hx + hr, hy + hr], fill=fill)
        d.line([cx - side * bw, by - bh * 0.2, cx - side * bw * 1.3, by + bh * 0.4], fill=fill, width=lw)


def _ruins(d: ImageDraw.ImageDraw, S: float, c: dict, rng: np.random.Generator) -> None:
    ground = S * _u(rng, 0.78, 0.88)
    d.rectangle([0, ground, S, S], fill=c["ground"])
    if rng.random() < 0.6:  # broken arch
        ax, aw = S * _u(rng, 0.3, 0.7), S * _u(rng, 0.18, 0.28)
        d.pieslice([ax - aw, ground - aw * 2.6, ax + aw, ground - aw * 0.6], 180, 300, fill=c["a"])
        d.pieslice([ax - aw * 0.6, ground - aw * 2.2, ax + aw * 0.6, ground - aw], 180, 360, fill=c["sky"])
    n = int(rng.integers(3, 7))
    for i in range(n):
        x, w = S * (i + _u(rng, 0.2, 0.8)) / n, S * _u(rng, 0.05, 0.08)
        top = ground - S * _u(rng, 0.2, 0.6)
        d.polygon([(x - w / 2, ground), (x - w / 2, top + S * _u(rng, 0, 0.06)), (x, top),
                   (x + w / 2, top + S * _u(rng, 0, 0.08)), (x + w / 2, ground)], fill=c["light"])
        d.line([x, top + 2, x, ground], fill=c["b"], width=1)
        if rng.random() < 0.4:
            d.rectangle([x - w * 0.8, top - S * 0.03, x + w * 0.8, top], fill=c["a"])
    for _ in range(int(rng.integers(2, 6))):  # rubble
        rx, rw = S * _u(rng, 0, 1), S * _u(rng, 0.02, 0.05)
        d.rectangle([rx, ground - rw, rx + rw * 1.5, ground + 1], fill=c["a"])


def _starry_sky(d: ImageDraw.ImageDraw, S: float, c: dict, rng: np.random.Generator) -> None:
    d.rectangle([0, 0, S, S], fill=_mix(c["dark"], c["sky"], _u(rng, 0, 0.25)))
    n = int(S * S / 64 * _u(rng, 0.8, 1.5))
    xs, ys = rng.uniform(0, S, n), rng.uniform(0, S * 0.85, n)
    for x, y, big in zip(xs, ys, rng.random(n) < 0.15):
        if big:
            d.line([x - 1.5, y, x + 1.5, y], fill=c["light"])
            d.line([x, y - 1.5, x, y + 1.5], fill=c["light"])
        else:
            d.point((x, y), fill=c["light"] if y % 2 < 1.4 else c["a"])
    mx, my, mr = S * _u(rng, 0.15, 0.85), S * _u(rng, 0.1, 0.35), S * _u(rng, 0.06, 0.1)
    d.ellipse([mx - mr, my - mr, mx + mr, my + mr], fill=c["light"])
    d.ellipse([mx - mr * 0.5, my - mr * 1.1, mx + mr * 1.4, my + mr * 0.8], fill=c["dark"])
    d.polygon(_wave(0, S, S * 0.9, S * 0.04, S * 0.8, _u(rng, 0, 6.3)) + [(S, S), (0, S)],
              fill=_mix(c["dark"], (0, 0, 0), 0.5))


# ---- game subjects --------------------------------------------------------------------------------------------------
def _racing_track(d: ImageDraw.ImageDraw, S: float, c: dict, rng: np.random.Generator) -> None:
    h, vx = S * _u(rng, 0.3, 0.45), S * _u(rng, 0.35, 0.65)
    d.rectangle([0, h, S, S], fill=c["ground"])
    d.polygon([(vx - S * 0.03, h), (vx + S * 0.03, h), (S * 1.05, S), (-S * 0.05, S)], fill=c["dark"])
    for k in range(8):  # kerbs
        t0, t1 = k / 8, (k + 0.5) / 8
        for side in (-1, 1):
            x0 = vx + side * S * 0.03 + (S / 2 + side * S * 0.55 - vx - side * S * 0.03) * t0
            x1 = vx + side * S * 0.03 + (S / 2 + side * S * 0.55 - vx - side * S * 0.03) * t1
            d.line([x0, h + (S - h) * t0, x1, h + (S - h) * t1], fill=c["a"] if k % 2 else c["light"], width=2)
    for t in (0.15, 0.35, 0.6, 0.9):  # centre dashes with perspective
        x, y, w = vx + (S / 2 - vx) * t, h + (S - h) * t, max(1.0, S * 0.02 * t)
        d.rectangle([x - w / 2, y, x + w / 2, y + (S - h) * 0.08 * t + 1], fill=c["light"])
    cx, cw = S * _u(rng, 0.35, 0.65), S * _u(rng, 0.1, 0.14)
    cy = S * _u(rng, 0.75, 0.85)
    d.rectangle([cx - cw, cy - cw * 0.5, cx + cw, cy + cw * 0.5], fill=c["a"])
    d.rectangle([cx - cw * 0.6, cy - cw, cx + cw * 0.6, cy - cw * 0.4], fill=c["b"])
    for sx in (-1, 1):
        d.rectangle([cx + sx * cw - 2, cy + cw * 0.3, cx + sx * cw + 2, cy + cw * 0.7], fill=(10, 10, 10))


def _space_battle(d: ImageDraw.ImageDraw, S: float, c: dict, rng: np.random.Generator) -> None:
    d.rectangle([0, 0, S, S], fill=c["dark"])
    n = int(S * S / 128)
    for x, y in zip(rng.uniform(0, S, n), rng.uniform(0, S, n)):
        d.point((x, y), fill=c["light"])
    for _ in range(int(rng.integers(2, 5))):
        x, y, r, ang = S * _u(rng, 0.1, 0.9), S * _u(rng, 0.1, 0.9), S * _u(rng, 0.05, 0.1), _u(rng, 0, 6.3)
        pts = [(x + r * math.cos(ang + a), y + r * math.sin(ang + a)) for a in (0, 2.5, 3.8)]
        d.polygon(pts, fill=c["light"] if rng.random() < 0.5 else c["a"])
        lx, ly = x + S * math.cos(ang) * 0.4, y + S * math.sin(ang) * 0.4
        d.line([pts[0], (lx, ly)], fill=c["b"], width=1)
    for _ in range(int(rng.integers(1, 3))):  # explosions
        x, y, r = S * _u(rng, 0.1, 0.9), S * _u(rng, 0.1, 0.9), S * _u(rng, 0.06, 0.12)
        d.ellipse([x - r, y - r, x + r, y + r], fill=c["a"])
        d.ellipse([x - r * 0.5, y - r * 0.5, x + r * 0.5, y + r * 0.5], fill=c["light"])


def _dungeon_corridor(d: ImageDraw.ImageDraw, S: float, c: dict, rng: np.random.Generator) -> None:
    vx, vy, fw = S * _u(rng, 0.4, 0.6), S * _u(rng, 0.4, 0.55), S * _u(rng, 0.12, 0.2)
    x0, x1, y0, y1 = vx - fw, vx + fw, vy - fw * 1.2, vy + fw
    d.rectangle([0, 0, S, S], fill=c["b"])
    d.polygon([(0, 0), (S, 0), (x1, y0), (x0, y0)], fill=_mix(c["dark"], c["b"], 0.3))  # ceiling
    d.polygon([(0, S), (S, S), (x1, y1), (x0, y1)], fill=c["ground"])  # floor
    d.rectangle([x0, y0, x1, y1], fill=c["dark"])  # far darkness
    for t in (0.25, 0.5, 0.75):  # receding brick courses on both walls
        for xa, xb in ((0, x0), (S, x1)):
            xm = xa + (xb - xa) * t
            d.line([xm, y0 * t, xm, S + (y1 - S) * t], fill=c["dark"], width=1)
    for _ in range(int(rng.integers(1, 4))):  # torches
        t = _u(rng, 0.15, 0.7)
        for xa, xb in ((0, x0), (S, x1)):
            if rng.random() < 0.6:
                xm, ym = xa + (xb - xa) * t, S * 0.45 + (vy - S * 0.45) * t
                r = S * 0.04 * (1 - t * 0.6)
                d.ellipse([xm - r, ym - r * 1.6, xm + r, ym + r], fill=c["a"])
                d.ellipse([xm - r * 0.4, ym - r * 0.8, xm + r * 0.4, ym + r * 0.4], fill=c["light"])


def _platformer_level(d: ImageDraw.ImageDraw, S: float, c: dict, rng: np.random.Generator) -> None:
    tile = S / 8
    ground = S - tile * int(rng.integers(1, 3))
    d.rectangle([0, ground, S, S], fill=c["ground"])
    for gx in np.arange(0, S, tile):
        d.line([gx, ground, gx, S], fill=c["dark"])
    d.line([0, ground, S, ground], fill=c["dark"])
    for _ in range(int(rng.integers(2, 5))):
        px, py, n = int(rng.integers(0, 7)) * tile, ground - tile * int(rng.integers(2, 6)), int(rng.integers(2, 5))
        d.rectangle([px, py, px + n * tile - 1, py + tile - 1], fill=c["b"], outline=c["dark"])
        for k in range(n):
            if rng.random() < 0.5:
                cx, cy = px + (k + 0.5) * tile, py - tile * 0.7
                d.ellipse([cx - tile * 0.25, cy - tile * 0.3, cx + tile * 0.25, cy + tile * 0.3], fill=c["a"])
    hx = int(rng.integers(0, 8)) * tile
    d.rectangle([hx + tile * 0.2, ground - tile * 1.4, hx + tile * 0.8, ground - 1], fill=c["a"], outline=c["dark"])


def _underwater(d: ImageDraw.ImageDraw, S: float, c: dict, rng: np.random.Generator) -> None:
    for i in range(6):  # depth gradient
        d.rectangle([0, S * i / 6, S, S * (i + 1) / 6], fill=_mix(c["b"], c["dark"], i / 6))
    d.polygon(_wave(0, S, S * 0.88, S * 0.02, S * 0.4, _u(rng, 0, 6.3)) + [(S, S), (0, S)], fill=c["ground"])
    for _ in range(int(rng.integers(3, 7))):  # seaweed
        x, top = S * _u(rng, 0, 1), S * _u(rng, 0.4, 0.7)
        pts = [(x + S * 0.025 * math.sin(k * 1.3 + x), S * 0.9 - (S * 0.9 - top) * k / 8) for k in range(9)]
        d.line(pts, fill=c["a"], width=max(1, int(S / 32)))
    for _ in range(int(rng.integers(2, 5))):  # fish
        x, y, w = S * _u(rng, 0.15, 0.85), S * _u(rng, 0.15, 0.7), S * _u(rng, 0.06, 0.1)
        side = 1 if rng.random() < 0.5 else -1
        fill = c["light"] if rng.random() < 0.5 else c["a"]
        d.polygon([(x - side * w, y), (x - side * w * 1.6, y - w * 0.5), (x - side * w * 1.6, y + w * 0.5)], fill=fill)
        d.ellipse([x - w, y - w * 0.5, x + w, y + w * 0.5], fill=fill)
    for _ in range(int(rng.integers(3, 8))):  # bubbles
        x, y, r = S * _u(rng, 0, 1), S * _u(rng, 0, 0.8), S * _u(rng, 0.01, 0.03)
        d.ellipse([x - r, y - r, x + r, y + r], outline=c["light"])


def _snowy_mountains(d: ImageDraw.ImageDraw, S: float, c: dict, rng: np.random.Generator) -> None:
    for _ in range(2):  # distant peaks
        px, half = S * _u(rng, 0.1, 0.9), S * _u(rng, 0.25, 0.4)
        d.polygon([(px - half, S * 0.5), (px, S * _u(rng, 0.1, 0.25)), (px + half, S * 0.5)], fill=c["b"])
    y_left, y_right = S * _u(rng, 0.3, 0.45), S * _u(rng, 0.75, 0.9)
    if rng.random() < 0.5:
        y_left, y_right = y_right, y_left
    d.polygon([(0, y_left), (S, y_right), (S, S), (0, S)], fill=c["light"])  # slope
    for _ in range(int(rng.integers(3, 7))):  # pines on the slope
        x = S * _u(rng, 0.05, 0.95)
        y = y_left + (y_right - y_left) * x / S + S * _u(rng, 0.02, 0.25)
        h = S * _u(rng, 0.07, 0.12)
        for k in range(2):
            d.polygon([(x - h * 0.45, y - k * h * 0.45), (x, y - h - k * h * 0.45), (x + h * 0.45, y - k * h * 0.45)],
                      fill=c["dark"])
    n = int(S * S / 80)
    for x, y in zip(rng.uniform(0, S, n), rng.uniform(0, S, n)):  # falling snow
        d.point((x, y), fill=_mix(c["light"], (255, 255, 255), 0.5))


def _city_chase(d: ImageDraw.ImageDraw, S: float, c: dict, rng: np.random.Generator) -> None:
    road = S * _u(rng, 0.62, 0.72)
    x = 0.0
    while x < S:  # building row
        w, h = S * _u(rng, 0.12, 0.22), S * _u(rng, 0.25, 0.55)
        d.rectangle([x, road - h, x + w - 1, road], fill=_mix(c["b"], c["ground"], _u(rng, 0, 0.6)))
        for wy in np.arange(road - h + 3, road - 4, 5):
            d.line([x + 2, wy, x + w - 3, wy], fill=c["light"])
        x += w
    d.rectangle([0, road, S, S], fill=c["dark"])
    for lx in np.arange(_u(rng, 0, S * 0.15), S, S * 0.2):
        d.rectangle([lx, (road + S) / 2 - 1, lx + S * 0.08, (road + S) / 2 + 1], fill=c["light"])
    for k in range(2):  # two cars, the chaser behind
        cx, cy, cw = S * (0.3 + 0.4 * k) + S * _u(rng, -0.08, 0.08), road + (S - road) * (0.3 + 0.35 * k), S * 0.11
        d.rectangle([cx - cw, cy - cw * 0.35, cx + cw, cy + cw * 0.2], fill=c["a"] if k else c["sky"])
        d.rectangle([cx - cw * 0.5, cy - cw * 0.7, cx + cw * 0.4, cy - cw * 0.35], fill=c["a"] if k else c["sky"])
        for sx in (-0.6, 0.6):
            d.ellipse([cx + sx * cw - 2, cy + cw * 0.1, cx + sx * cw + 2, cy + cw * 0.1 + 4], fill=(12, 12, 12))
        for m in range(3):  # motion lines
            d.line([cx - cw * (1.3 + 0.5 * m), cy - cw * 0.3 + m * 2, cx - cw * 1.1, cy - cw * 0.3 + m * 2],
                   fill=c["light"])


def _jungle(d: ImageDraw.ImageDraw, S: float, c: dict, rng: np.random.Generator) -> None:
    d.rectangle([0, 0, S, S], fill=_mix(c["ground"], c["dark"], 0.4))
    for _ in range(int(rng.integers(2, 4))):  # trunks
        x, w = S * _u(rng, 0, 1), S * _u(rng, 0.06, 0.1)
        d.rectangle([x - w / 2, 0, x + w / 2, S], fill=c["dark"])
    for _ in range(int(rng.integers(4, 8))):  # hanging vines
        x, bottom = S * _u(rng, 0, 1), S * _u(rng, 0.4, 0.9)
        pts = [(x + S * 0.02 * math.sin(k * 1.7 + x), bottom * k / 8) for k in range(9)]
        d.line(pts, fill=c["a"], width=max(1, int(S / 40)))
    for _ in range(int(rng.integers(6, 12))):  # broad leaves
        x, y, L, ang = S * _u(rng, 0, 1), S * _u(rng, 0, 1), S * _u(rng, 0.08, 0.16), _u(rng, 0, 6.3)
        ca, sa = math.cos(ang), math.sin(ang)
        pts = [(x + L * t * ca - L * 0.35 * math.sin(math.pi * t) * side * sa,
                y + L * t * sa + L * 0.35 * math.sin(math.pi * t) * side * ca)
               for side in (1, -1) for t in ((0, 0.25, 0.5, 0.75, 1) if side == 1 else (1, 0.75, 0.5, 0.25, 0))]
        d.polygon(pts, fill=(c["a"], c["b"], _mix(c["a"], c["light"], 0.4))[int(rng.integers(0, 3))])


_SUBJECT_PAINTERS: dict[str, Callable] = {
    "seascape": _seascape, "portrait": _portrait, "flower still life": _flower_still_life, "forest": _forest,
    "mountains": _mountains, "night city": _night_city, "abstract geometry": _abstract_geometry,
    "desert dunes": _desert_dunes, "harbour with boats": _harbour_with_boats, "animals": _animals, "ruins": _ruins,
    "starry sky": _starry_sky,
    "racing track": _racing_track, "space battle": _space_battle, "dungeon corridor": _dungeon_corridor,
    "platformer level": _platformer_level, "underwater": _underwater, "snowy mountains": _snowy_mountains,
    "city chase": _city_chase, "jungle": _jungle,
}
assert set(_SUBJECT_PAINTERS) == set(MUSEUM_SUBJECTS + GAME_SUBJECTS)


# ---- styles (texture filters on the painted scene) ------------------------------------------------------------------
def _palette_array(c: dict) -> np.ndarray:
    return np.array(list(c.values()), dtype=np.int16)  # (6, 3)


def _snap_to_palette(arr: np.ndarray, c: dict) -> np.ndarray:
    pal = _palette_array(c).astype(np.int32)
    dist = ((arr[:, :, None, :].astype(np.int32) - pal[None, None]) ** 2).sum(-1)  # (H, W, 6)
    return pal[dist.argmin(-1)].astype(np.uint8)


def _impressionist(img: Image.Image, c: dict, rng: np.random.Generator) -> Image.Image:
    arr = np.asarray(img)
    S = img.size[0]
    d = ImageDraw.Draw(img)
    n = min(int(S * S / 40), 1500)
    xs, ys = rng.integers(0, S, n), rng.integers(0, S, n)
    base_ang = _u(rng, 0, math.pi)
    angs = base_ang + rng.normal(0, 0.35, n)
    L = max(2.5, S / 14)
    jit = rng.integers(-22, 23, (n, 3))
    cols = np.clip(arr[ys, xs].astype(np.int16) + jit, 0, 255)
    for x, y, a, col in zip(xs, ys, angs, cols):
        dx, dy = L * math.cos(a), L * math.sin(a)
        d.line([x - dx, y - dy, x + dx, y + dy], fill=tuple(int(v) for v in col), width=max(1, S // 48))
    return img


def _cubist(img: Image.Image, c: dict, rng: np.random.Generator) -> Image.Image:
    arr = np.asarray(img).astype(np.int16)
    S = arr.shape[0]
    n = int(rng.integers(14, 22))
    seeds = rng.uniform(0, S, (n, 2))
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    # anisotropic distance gives elongated, angular facets
    dist = (yy[..., None] - seeds[:, 0]) ** 2 * 1.7 + (xx[..., None] - seeds[:, 1]) ** 2  # (H, W, n)
    label = dist.argmin(-1)  # (H, W) facet index
    shade = rng.integers(-45, 46, n)  # (n,) brightness offset per facet
    out = np.clip(arr + shade[label][..., None], 0, 255).astype(np.uint8)
    edge = np.zeros((S, S), dtype=bool)
    edge[1:] |= label[1:] != label[:-1]
    edge[:, 1:] |= label[:, 1:] != label[:, :-1]
    out[edge] = np.array(c["dark"], dtype=np.uint8)
    return Image.fromarray(out)


def _pointillist(img: Image.Image, c: dict, rng: np.random.Generator) -> Image.Image:
    arr = np.asarray(img).astype(np.int16)
    S = arr.shape[0]
    out = (arr * 4 + np.array(c["light"], dtype=np.int16) * 6) // 10  # pale ground showing between the dots
    step = max(2, S // 21)
    gy, gx = np.mgrid[0:S - 1:step, 0:S - 1:step]
    cols = np.clip(arr[gy, gx] + rng.integers(-28, 29, gy.shape + (3,)), 0, 255)  # (gh, gw, 3)
    for dy in (0, 1):
        for dx in (0, 1):
            out[gy + dy, gx + dx] = cols
    return Image.fromarray(out.astype(np.uint8))


def _minimalist(img: Image.Image, c: dict, rng: np.random.Generator) -> Image.Image:
    return Image.fromarray(_snap_to_palette(np.asarray(img), c))


def _pixel_art(img: Image.Image, c: dict, rng: np.random.Generator) -> Image.Image:
    S = img.size[0]
    block = int(rng.integers(3, 5))
    small = img.resize((max(4, S // block), max(4, S // block)), Image.Resampling.BOX)
    return small.resize((S, S), Image.Resampling.NEAREST)


def _cel_shaded(img: Image.Image, c: dict, rng: np.random.Generator) -> Image.Image:
    flat = _snap_to_palette(np.asarray(img), c)
    lum = flat.astype(np.int16).sum(-1)
    edge = np.zeros(lum.shape, dtype=bool)
    edge[1:] |= np.abs(lum[1:] - lum[:-1]) > 60
    edge[:, 1:] |= np.abs(lum[:, 1:] - lum[:, :-1]) > 60
    flat[edge] = (10, 10, 10)
    return Image.fromarray(flat)


def _retro_crt(img: Image.Image, c: dict, rng: np.random.Generator) -> Image.Image:
    arr = np.asarray(img).astype(np.int16)
    arr = arr + rng.integers(-18, 19, arr.shape[:2])[..., None]  # grain
    arr[::2] = arr[::2] * 6 // 10  # scanlines
    arr[:, :, 0] = np.roll(arr[:, :, 0], 1, axis=1)  # slight colour fringe
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


_STYLE_FILTERS: dict[str, Callable] = {
    "impressionist": _impressionist, "cubist": _cubist, "pointillist": _pointillist, "minimalist": _minimalist,
    "pixel art": _pixel_art, "cel-shaded": _cel_shaded, "retro crt": _retro_crt,
}
assert set(_STYLE_FILTERS) == {s for styles in STYLES_BY_KIND.values() for s in styles}
