"""Draw the photo-like image queries of queries/typed-v1.jsonl (throwaway, kept so they can be remade).

Eight small PNGs in queries/images/, each a soft, photo-ish scene (gradients, blur, grain, soft shapes) that
evokes one demo-world subject without using the demo renderer: a sunset sea, a foggy forest, a night city, a
racing track, desert dunes at sunset, a starry sky, a pastel harbour and an underwater scene.

Deterministic: every image draws from its own fixed numpy seed, and the output is palette-quantised PNG with a
fixed colour count, so rerunning gives byte-identical files (for a given Pillow/numpy). Each file stays under
30 KB. Needs only Pillow and numpy; imports nothing from backend/.

    python queries/make_photo_images.py            # writes queries/images/*.png
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parent / "images"
MAX_BYTES = 30_000


def vertical_gradient(w: int, h: int, stops: list[tuple[float, tuple[int, int, int]]]) -> np.ndarray:
    """(h, w, 3) float array blending the colour stops [(t in 0..1, rgb), ...] from top to bottom."""
    ts = np.linspace(0.0, 1.0, h)
    pos = [t for t, _ in stops]
    rows = np.stack([np.interp(ts, pos, [c[k] for _, c in stops]) for k in range(3)], axis=1)
    return np.repeat(rows[:, None, :], w, axis=1)


def grain(arr: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Add soft photographic grain (low-amplitude noise, slightly blurred)."""
    h, w, _ = arr.shape
    noise = Image.fromarray(np.uint8(np.clip(128 + rng.normal(0, amount, (h, w)), 0, 255)), "L")
    noise = np.asarray(noise.filter(ImageFilter.GaussianBlur(0.8)), dtype=float) - 128
    return arr + noise[..., None]


def to_image(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.uint8(np.clip(arr, 0, 255)), "RGB")


def soft_layer(base: Image.Image, draw_fn, blur: float) -> Image.Image:
    """Draw shapes on a transparent layer, blur it, and composite it over `base`."""
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw_fn(ImageDraw.Draw(layer))
    return Image.alpha_composite(base.convert("RGBA"), layer.filter(ImageFilter.GaussianBlur(blur))).convert("RGB")


# ---- scenes -----------------------------------------------------------------------------------------------------
def sunset_sea(rng: np.random.Generator, S: int = 384) -> Image.Image:
    sky = vertical_gradient(S, S, [(0.0, (250, 196, 120)), (0.45, (246, 140, 64)), (0.55, (200, 88, 46)),
                                   (1.0, (96, 36, 30))])
    img = to_image(grain(sky, rng, 5))

    def shapes(d: ImageDraw.ImageDraw) -> None:
        d.ellipse((S * 0.40, S * 0.30, S * 0.60, S * 0.50), fill=(255, 232, 170, 255))  # the sun on the horizon
        for _ in range(70):  # glittering reflections and wave crests on the water
            y = rng.uniform(S * 0.56, S)
            x = rng.uniform(S * 0.2, S * 0.8) if rng.random() < 0.6 else rng.uniform(0, S)
            L = rng.uniform(8, 40) * (0.5 + y / S)
            d.line((x - L, y, x + L, y), fill=(255, 210, 140, int(rng.uniform(80, 200))), width=2)
    img = soft_layer(img, shapes, 2.0)
    horizon = Image.new("RGBA", img.size, (0, 0, 0, 0))
    ImageDraw.Draw(horizon).rectangle((0, S * 0.52, S, S * 0.54), fill=(120, 50, 36, 120))
    return Image.alpha_composite(img.convert("RGBA"), horizon.filter(ImageFilter.GaussianBlur(3))).convert("RGB")


def foggy_forest(rng: np.random.Generator, S: int = 384) -> Image.Image:
    img = to_image(grain(vertical_gradient(S, S, [(0.0, (200, 204, 208)), (0.7, (150, 156, 160)), (1.0, (86, 90, 94))]),
                         rng, 4))
    for depth, (tone, blur) in enumerate(((150, 4.0), (110, 2.5), (60, 1.2))):  # far, middle, near rows of trees
        def trees(d: ImageDraw.ImageDraw, tone=tone, depth=depth) -> None:
            for _ in range(7 + 3 * (2 - depth)):
                x, w = rng.uniform(0, S), rng.uniform(6, 10) * (1 + depth)
                top = rng.uniform(S * 0.05, S * 0.3)
                d.rectangle((x - w / 2, top, x + w / 2, S), fill=(tone, tone + 4, tone + 2, 255))
                for _ in range(3):  # a few soft clumps of foliage around the trunk
                    cx, cy, r = x + rng.uniform(-30, 30), top + rng.uniform(0, 60), rng.uniform(18, 40)
                    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(tone + 10, tone + 18, tone + 10, 200))
        img = soft_layer(img, trees, blur)
    fog = Image.new("RGBA", img.size, (0, 0, 0, 0))
    ImageDraw.Draw(fog).rectangle((0, S * 0.55, S, S * 0.8), fill=(210, 212, 214, 90))
    return Image.alpha_composite(img.convert("RGBA"), fog.filter(ImageFilter.GaussianBlur(20))).convert("RGB")


def night_city(rng: np.random.Generator, S: int = 384) -> Image.Image:
    img = to_image(grain(vertical_gradient(S, S, [(0.0, (8, 14, 44)), (0.6, (26, 46, 110)), (1.0, (10, 18, 50))]),
                         rng, 4))

    def skyline(d: ImageDraw.ImageDraw) -> None:
        x = -10.0
        while x < S:
            w, top = rng.uniform(28, 60), rng.uniform(S * 0.2, S * 0.6)
            d.rectangle((x, top, x + w, S), fill=(6, 10, 30, 255))
            for wy in np.arange(top + 8, S - 8, 12):  # lit windows, some dark
                for wx in np.arange(x + 5, x + w - 6, 10):
                    if rng.random() < 0.45:
                        warm = rng.random() < 0.5
                        d.rectangle((wx, wy, wx + 4, wy + 5), fill=(250, 214, 120, 255) if warm else (150, 200, 250, 255))
            x += w + rng.uniform(2, 8)
    img = soft_layer(img, skyline, 0.9)
    glow = Image.new("RGBA", img.size, (0, 0, 0, 0))
    ImageDraw.Draw(glow).ellipse((-S * 0.2, S * 0.75, S * 1.2, S * 1.3), fill=(90, 120, 220, 70))  # city glow
    return Image.alpha_composite(img.convert("RGBA"), glow.filter(ImageFilter.GaussianBlur(30))).convert("RGB")


def racing_track(rng: np.random.Generator, S: int = 384) -> Image.Image:
    arr = vertical_gradient(S, S, [(0.0, (60, 120, 230)), (0.42, (150, 190, 240)), (0.45, (60, 150, 70)),
                                   (1.0, (30, 110, 40))])
    img = to_image(grain(arr, rng, 6))

    def road(d: ImageDraw.ImageDraw) -> None:
        vx, vy = S * 0.52, S * 0.44  # vanishing point
        d.polygon([(vx - 4, vy), (vx + 4, vy), (S * 0.98, S), (S * 0.02, S)], fill=(52, 52, 56, 255))
        for k in range(14):  # red/white kerbs, bigger towards the viewer
            t0, t1 = (k / 14) ** 1.6, ((k + 1) / 14) ** 1.6
            for side in (-1, 1):
                x0, x1 = vx + side * (4 + t0 * S * 0.48), vx + side * (4 + t1 * S * 0.48)
                y0, y1 = vy + t0 * (S - vy), vy + t1 * (S - vy)
                colour = (230, 40, 40, 255) if k % 2 else (245, 245, 245, 255)
                d.polygon([(x0, y0), (x1, y1), (x1 + side * 10 * t1, y1), (x0 + side * 10 * t0, y0)], fill=colour)
        d.rounded_rectangle((S * 0.42, S * 0.72, S * 0.62, S * 0.84), 8, fill=(220, 30, 30, 255))  # the car
        d.rectangle((S * 0.46, S * 0.68, S * 0.58, S * 0.74), fill=(250, 210, 30, 255))
        d.rectangle((S * 0.43, S * 0.83, S * 0.47, S * 0.87), fill=(20, 20, 20, 255))
        d.rectangle((S * 0.57, S * 0.83, S * 0.61, S * 0.87), fill=(20, 20, 20, 255))
    return soft_layer(img, road, 1.2)


def desert_dunes(rng: np.random.Generator, S: int = 384) -> Image.Image:
    img = to_image(grain(vertical_gradient(S, S, [(0.0, (252, 200, 120)), (0.5, (248, 160, 80)), (1.0, (200, 90, 50))]),
                         rng, 5))
    xs = np.arange(S + 1)
    for k, (base, amp, colour) in enumerate(((0.45, 0.06, (236, 150, 80)), (0.6, 0.08, (214, 112, 60)),
                                             (0.78, 0.07, (176, 78, 44)))):
        phase, period = rng.uniform(0, 6.3), rng.uniform(0.8, 1.4) * S

        def dune(d: ImageDraw.ImageDraw, base=base, amp=amp, colour=colour, phase=phase, period=period) -> None:
            ys = S * base + S * amp * np.sin(2 * np.pi * xs / period + phase)
            d.polygon([(0, S)] + list(zip(xs.tolist(), ys.tolist())) + [(S, S)], fill=colour + (255,))
            d.line(list(zip(xs.tolist(), ys.tolist())), fill=(255, 214, 150, 180), width=3)  # sunlit crest
        img = soft_layer(img, dune, 2.0 + k)
    sun = Image.new("RGBA", img.size, (0, 0, 0, 0))
    ImageDraw.Draw(sun).ellipse((S * 0.66, S * 0.08, S * 0.82, S * 0.24), fill=(255, 240, 200, 230))
    return Image.alpha_composite(img.convert("RGBA"), sun.filter(ImageFilter.GaussianBlur(4))).convert("RGB")


def starry_sky(rng: np.random.Generator, S: int = 320) -> Image.Image:
    img = to_image(grain(vertical_gradient(S, S, [(0.0, (4, 8, 30)), (0.8, (24, 44, 110)), (1.0, (30, 56, 120))]), rng, 3))

    def stars(d: ImageDraw.ImageDraw) -> None:
        for _ in range(220):
            x, y, r = rng.uniform(0, S), rng.uniform(0, S * 0.8), rng.choice([0.6, 0.9, 1.3, 2.0], p=[0.5, 0.3, 0.15, 0.05])
            d.ellipse((x - r, y - r, x + r, y + r), fill=(230, 236, 255, int(rng.uniform(150, 255))))
        d.ellipse((S * 0.70, S * 0.10, S * 0.84, S * 0.24), fill=(240, 240, 220, 255))  # the moon ...
        d.ellipse((S * 0.73, S * 0.08, S * 0.87, S * 0.22), fill=(4, 8, 30, 255))  # ... cut into a crescent
    img = soft_layer(img, stars, 0.6)

    def hills(d: ImageDraw.ImageDraw) -> None:
        xs = np.arange(S + 1)
        ys = S * 0.84 + S * 0.05 * np.sin(xs / S * 5 + 1.0)
        d.polygon([(0, S)] + list(zip(xs.tolist(), ys.tolist())) + [(S, S)], fill=(4, 6, 18, 255))
    return soft_layer(img, hills, 1.5)


def pastel_harbour(rng: np.random.Generator, S: int = 320) -> Image.Image:
    arr = vertical_gradient(S, S, [(0.0, (214, 228, 248)), (0.5, (246, 214, 226)), (0.55, (196, 222, 240)),
                                   (1.0, (170, 200, 226))])
    img = to_image(grain(arr, rng, 4))

    def boats(d: ImageDraw.ImageDraw) -> None:
        d.rectangle((0, S * 0.60, S * 0.35, S * 0.64), fill=(200, 180, 190, 255))  # the pier
        for k in range(4):
            cx, cy, w = S * (0.25 + 0.18 * k) + rng.uniform(-10, 10), S * (0.66 + 0.06 * (k % 2)), rng.uniform(50, 70)
            hull = [(cx - w / 2, cy), (cx + w / 2, cy), (cx + w / 3, cy + 14), (cx - w / 3, cy + 14)]
            d.polygon(hull, fill=[(236, 170, 190, 255), (170, 200, 236, 255), (200, 236, 210, 255), (220, 200, 246, 255)][k])
            d.line((cx, cy, cx, cy - 80), fill=(150, 140, 170, 255), width=2)  # mast
            d.polygon([(cx + 2, cy - 78), (cx + 2, cy - 8), (cx + w / 2.5, cy - 8)], fill=(252, 248, 236, 255))  # sail
        for _ in range(40):  # ripples
            y, x = rng.uniform(S * 0.75, S), rng.uniform(0, S)
            d.line((x - 12, y, x + 12, y), fill=(240, 240, 250, 140), width=1)
    return soft_layer(img, boats, 1.3)


def underwater(rng: np.random.Generator, S: int = 384) -> Image.Image:
    img = to_image(grain(vertical_gradient(S, S, [(0.0, (60, 170, 220)), (0.4, (30, 90, 170)), (1.0, (8, 20, 60))]), rng, 5))

    def rays(d: ImageDraw.ImageDraw) -> None:
        for _ in range(6):
            x = rng.uniform(0, S)
            d.polygon([(x, 0), (x + 20, 0), (x + 90, S), (x + 40, S)], fill=(180, 230, 255, 40))
    img = soft_layer(img, rays, 10)

    def life(d: ImageDraw.ImageDraw) -> None:
        for _ in range(5):  # fish
            x, y, L = rng.uniform(30, S - 60), rng.uniform(S * 0.2, S * 0.7), rng.uniform(24, 44)
            d.ellipse((x, y, x + L, y + L * 0.45), fill=(150, 200, 240, 255))
            d.polygon([(x + L, y + L * 0.22), (x + L * 1.35, y), (x + L * 1.35, y + L * 0.45)], fill=(150, 200, 240, 255))
        for _ in range(25):  # bubbles
            x, y, r = rng.uniform(0, S), rng.uniform(0, S * 0.9), rng.uniform(2, 6)
            d.ellipse((x - r, y - r, x + r, y + r), outline=(220, 240, 255, 200), width=1)
        for _ in range(9):  # seaweed
            x = rng.uniform(0, S)
            pts = [(x + 8 * np.sin(t / 14), S - t) for t in range(0, int(rng.uniform(60, 140)), 6)]
            d.line(pts, fill=(40, 120, 90, 255), width=5)
    return soft_layer(img, life, 1.0)


SCENES = {  # file name -> (painter, numpy seed)
    "sunset_sea.png": (sunset_sea, 101),
    "foggy_forest.png": (foggy_forest, 102),
    "night_city.png": (night_city, 103),
    "racing_track.png": (racing_track, 104),
    "desert_dunes.png": (desert_dunes, 105),
    "starry_sky.png": (starry_sky, 106),
    "pastel_harbour.png": (pastel_harbour, 107),
    "underwater.png": (underwater, 108),
}


def save_small(img: Image.Image, path: Path) -> int:
    """Save as a palette PNG, with fewer colours until it fits MAX_BYTES; returns the byte size (raises if it never fits)."""
    for colours in (128, 96, 64, 48, 32):
        img.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
        if path.stat().st_size <= MAX_BYTES:
            return path.stat().st_size
    raise RuntimeError(f"{path.name} is {path.stat().st_size} bytes even at 32 colours; limit {MAX_BYTES}")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (painter, seed) in SCENES.items():
        size = save_small(painter(np.random.default_rng(seed)), OUT / name)
        print(f"{name}: {size} bytes")


if __name__ == "__main__":
    main()
