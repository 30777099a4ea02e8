"""The procedural demo world: museums and game worlds with rooms, image recipes and descriptions, from one seed."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from backend.data.collection import MetaverseInfo, RoomInfo
from backend.world.render import GAME_SUBJECTS, MUSEUM_SUBJECTS, PALETTE_NAMES, STYLES_BY_KIND

log = logging.getLogger(__name__)

ORDINALS: tuple[str, ...] = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")
ROOMS_PER_KIND: dict[str, tuple[int, int]] = {"museum": (5, 8), "game": (4, 8)}  # inclusive
IMAGES_PER_ROOM: tuple[int, int] = (3, 5)  # inclusive
SPLIT_FRACTIONS: dict[str, float] = {"train": 0.7, "val": 0.1, "test": 0.2}
# Share of metaverses generated in each family type: same rooms in another order / one or two rooms swapped / alone.
FAMILY_MIX: dict[str, float] = {"permutation": 0.5, "swap": 0.3, "single": 0.2}


@dataclass(frozen=True)
class Words:
    """Vocabulary for one subject, palette or style: `names` appear in captions and descriptions, `heldout` only in
    evaluation queries (paraphrases the image tower never sees in training)."""

    names: tuple[str, ...]
    heldout: tuple[str, ...]
    details: tuple[str, ...] = ()


SUBJECT_WORDS: dict[str, Words] = {
    "seascape": Words(("seascape", "view of the sea", "marine scene"), ("waves rolling on the sea surface", "the sea seen from the shore"),
                      ("with crashing waves", "under a wide sky", "with rolling breakers")),
    "portrait": Words(("portrait", "portrait of a sitter", "head-and-shoulders portrait"),
                      ("a painted face of a person", "a person's face and shoulders"),
                      ("with a calm gaze", "against a plain background", "of a quiet figure")),
    "flower still life": Words(("still life of flowers", "vase of flowers", "floral still life"),
                               ("a bouquet in a pot on a table", "blossoms arranged in a jar"),
                               ("on a wooden table", "with blooms in a vase", "with bright petals")),
    "forest": Words(("forest", "woodland scene", "grove of trees"), ("a woodland full of trees", "tall trunks in a wood"),
                    ("with tall trunks", "under a leafy canopy", "with dense foliage")),
    "mountains": Words(("mountain landscape", "range of mountains", "view of peaks"),
                       ("tall rocky summits", "alpine peaks rising high"),
                       ("with snowy summits", "with jagged peaks", "rising above the plain")),
    "night city": Words(("night city", "city skyline at night", "nocturnal cityscape"),
                        ("urban towers after dark", "skyscrapers glowing in the dark"),
                        ("with lit windows", "under a pale moon", "with tall towers")),
    "abstract geometry": Words(("abstract composition", "geometric abstraction", "arrangement of shapes"),
                               ("circles squares and triangles", "non-figurative forms"),
                               ("of circles and squares", "with bold overlapping forms", "of pure shapes")),
    "desert dunes": Words(("desert with dunes", "dune landscape", "sandy desert"), ("sand dunes", "an arid sea of sand"),
                          ("under a blazing sun", "with rolling dunes", "with sweeping sand")),
    "harbour with boats": Words(("harbour with boats", "port with sailing boats", "quay with moored boats"),
                                ("sailboats docked at a pier", "a marina with small vessels"),
                                ("beside a wooden pier", "with white sails", "on calm water")),
    "animals": Words(("painting of animals", "herd of animals", "scene with grazing animals"),
                     ("beasts in a field", "creatures standing on grass"),
                     ("in a green field", "grazing together", "standing on the grass")),
    "ruins": Words(("ancient ruins", "ruined temple", "broken columns"), ("remains of an old colonnade", "crumbling antiquity"),
                   ("with broken columns", "with a fallen arch", "scattered with rubble")),
    "starry sky": Words(("starry sky", "night sky full of stars", "starlit night"),
                        ("countless twinkling stars at night", "constellations glittering overhead"),
                        ("with a crescent moon", "above dark hills", "with glittering stars")),
    "racing track": Words(("racing track", "race circuit", "car race on a track"), ("a speedway with a car", "motor racing road"),
                          ("with a car speeding ahead", "with striped kerbs", "stretching to the horizon")),
    "space battle": Words(("space battle", "dogfight among starships", "battle in outer space"),
                          ("spacecraft fighting among the stars", "a galactic war"),
                          ("with laser fire", "with exploding ships", "among distant stars")),
    "dungeon corridor": Words(("dungeon corridor", "stone passage in a dungeon", "dark dungeon hallway"),
                              ("a torch-lit crypt tunnel", "an underground castle passage"),
                              ("lit by torches", "with brick walls", "leading into darkness")),
    "platformer level": Words(("platformer level", "platform game stage", "level with floating platforms"),
                              ("a side-scrolling jumping game stage", "a hero jumping between ledges to grab coins"),
                              ("with coins to collect", "with floating blocks", "with a hero jumping")),
    "underwater": Words(("underwater scene", "undersea level", "dive beneath the waves"),
                        ("fish swimming deep below the surface", "diving among fish and seaweed"),
                        ("with swimming fish", "with rising bubbles", "with swaying seaweed")),
    "snowy mountains": Words(("snowy mountain slope", "ski slope in the mountains", "snowfield on a mountain"),
                             ("skiing down a snowy white hillside", "a winter slope covered in snow"),
                             ("with falling snow", "dotted with pine trees", "on a steep slope")),
    "city chase": Words(("city chase", "car chase through the streets", "street pursuit"),
                        ("police pursuing a getaway car through town", "an urban getaway drive"),
                        ("past tall buildings", "with cars in pursuit", "along a busy road")),
    "jungle": Words(("jungle", "dense rainforest", "tropical jungle"), ("lush tropical vegetation and vines", "a steamy tropical wilderness"),
                    ("with hanging vines", "with huge leaves", "deep in the undergrowth")),
}
PALETTE_WORDS: dict[str, Words] = {
    "stormy greys": Words(("in stormy greys", "in grey tones", "in slate and ash colours"), ("in overcast gray hues", "in dull gray colors")),
    "sunset oranges": Words(("in warm sunset oranges", "in orange tones", "in fiery sunset colours"), ("in amber and tangerine hues", "glowing like dusk")),
    "soft pastels": Words(("in soft pastels", "in pastel tones", "in pale pastel colours"), ("in pale pink and light lilac", "in delicate pale hues")),
    "deep blues": Words(("in deep blues", "in dark blue tones", "in shades of navy blue"), ("in blues", "in dark navy and cobalt blue")),
    "sepia": Words(("in sepia", "in brown sepia tones", "in monochrome sepia"), ("in old brownish photograph tones", "in faded browns")),
    "vivid primaries": Words(("in vivid primary colours", "in bright primaries", "in bold red, yellow and blue"), ("in saturated rainbow hues", "in loud vibrant red and yellow")),
}
STYLE_WORDS: dict[str, Words] = {
    "impressionist": Words(("impressionist", "loosely brushed impressionist"), ("painted with soft dabs",)),
    "cubist": Words(("cubist", "faceted cubist"), ("in a fractured angular style",)),
    "pointillist": Words(("pointillist", "dotted pointillist"), ("made of tiny specks",)),
    "minimalist": Words(("minimalist", "flat minimalist"), ("plain and simple",)),
    "pixel art": Words(("pixel-art", "blocky pixel-art"), ("retro eight-bit",)),
    "cel-shaded": Words(("cel-shaded", "flat cel-shaded"), ("cartoon-outlined",)),
    "retro crt": Words(("retro CRT", "scanlined retro"), ("old television screen",)),
}
# Curatorial themes: a family draws about half of its rooms from its theme's subjects, the rest from anywhere.
THEMES: dict[str, dict[str, tuple]] = {
    "museum": {
        "waters and harbours": (("seascape", "harbour with boats", "starry sky"), ("the sea", "water and harbours", "life by the coast")),
        "landscapes": (("forest", "mountains", "desert dunes"), ("landscapes", "the natural world", "open country")),
        "night and cities": (("night city", "starry sky", "ruins"), ("the night", "cities and their skies", "dusk and darkness")),
        "people and creatures": (("portrait", "animals", "flower still life"), ("living things", "people, beasts and blossoms", "the living world")),
        "abstraction": (("abstract geometry", "starry sky", "desert dunes"), ("form and colour", "abstraction", "pure shape")),
        "antiquity": (("ruins", "portrait", "mountains"), ("the ancient world", "antiquity", "the weight of history")),
    },
    "game": {
        "speed": (("racing track", "city chase", "snowy mountains"), ("speed", "racing and pursuit", "fast driving")),
        "exploration": (("jungle", "underwater", "snowy mountains"), ("exploration", "wild places", "discovery")),
        "combat": (("space battle", "dungeon corridor", "city chase"), ("combat", "battles", "danger and fights")),
        "platforming": (("platformer level", "jungle", "dungeon corridor"), ("platforming", "jumping and climbing", "levels and secrets")),
    },
}
TITLE_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "museum": (("House", "Hall", "Gallery", "Pavilion", "Collection", "Cabinet"),
               ("Many Seas", "Quiet Hours", "Distant Lights", "Old Colours", "Long Views", "Small Wonders", "Echoes", "Seasons")),
    "game": (("Quest", "Run", "Saga", "Trials", "Legends", "Odyssey"),
             ("the Lost Realm", "Neon Nights", "the Deep", "Iron Peaks", "Ember", "the Void", "Ten Worlds", "Hollow Stars")),
}

assert set(SUBJECT_WORDS) == set(MUSEUM_SUBJECTS + GAME_SUBJECTS)
assert set(PALETTE_WORDS) == set(PALETTE_NAMES)
assert set(STYLE_WORDS) == {s for styles in STYLES_BY_KIND.values() for s in styles}


@dataclass(frozen=True)
class DemoMetaverse:
    info: MetaverseInfo  # info.paragraphs[i] == " ".join(paragraph_sentences[i])
    paragraph_sentences: tuple[tuple[str, ...], ...]  # intro paragraph first, then one per room
    image_captions: tuple[tuple[str, ...], ...]  # per room, one short caption per image (trains the image tower)
    family: str = ""  # e.g. "museum-perm-012": metaverses of one family share rooms (in another order, or mostly)


@dataclass(frozen=True)
class RoomTheme:
    subject: str
    palette: str
    style: str | None  # None: each image gets its own style
    n_images: int


def _pick(rng: np.random.Generator, options) -> str:
    return options[int(rng.integers(0, len(options)))]


def _a(phrase: str) -> str:
    return ("an " if phrase[0].lower() in "aeiou" else "a ") + phrase


# ---- text -----------------------------------------------------------------------------------------------------------
def image_caption(ref: dict, rng: np.random.Generator) -> str:
    """A short training caption: style + subject + palette, with synonyms."""
    subject, palette, style = SUBJECT_WORDS[ref["subject"]], PALETTE_WORDS[ref["palette"]], STYLE_WORDS[ref["style"]]
    return f"{_a(_pick(rng, style.names))} {_pick(rng, subject.names)} {_pick(rng, palette.names)}"


def heldout_query(ref: dict, rng: np.random.Generator) -> str:
    """A paraphrased query for the same image content built only from held-out words (never in captions)."""
    subject, palette, style = SUBJECT_WORDS[ref["subject"]], PALETTE_WORDS[ref["palette"]], STYLE_WORDS[ref["style"]]
    return f"{_pick(rng, subject.heldout)} {_pick(rng, palette.heldout)}, {_pick(rng, style.heldout)}"


_ARTWORK_TEMPLATES: tuple[str, ...] = (
    "{A_style} {subject} {palette} {detail}.",
    "{A_subject} {detail}, painted {palette}.",
    "This {style} work shows {a_subject} {palette}.",
    "Here hangs {a_subject} {palette}, {detail}.",
    "{A_subject} {palette} in a {style} manner.",
    "One canvas depicts {a_subject} {detail}, rendered {palette}.",
)
_FRAME_TEMPLATES: tuple[str, ...] = (
    "{A_style} {subject} {palette} {detail}.",
    "The player moves through {a_subject} {detail}, drawn {palette}.",
    "A frame shows {a_subject} {palette} in {style} graphics.",
    "On screen there is {a_subject} {detail}, {palette}.",
    "The camera follows {a_subject} {palette}.",
)


def image_sentence(kind: str, ref: dict, rng: np.random.Generator) -> str:
    """One description sentence for one artwork or frame (templated, with synonyms)."""
    words = SUBJECT_WORDS[ref["subject"]]
    subject, style = _pick(rng, words.names), _pick(rng, STYLE_WORDS[ref["style"]].names)
    template = _pick(rng, _ARTWORK_TEMPLATES if kind == "museum" else _FRAME_TEMPLATES)
    text = template.format(A_style=_a(style).capitalize(), subject=subject, palette=_pick(rng, PALETTE_WORDS[ref["palette"]].names),
                           detail=_pick(rng, words.details), a_subject=_a(subject), A_subject=_a(subject).capitalize(),
                           style=style)
    return text[0].upper() + text[1:]


def _intro_sentences(kind: str, theme: str, n_rooms: int, rng: np.random.Generator) -> tuple[str, ...]:
    topic = _pick(rng, THEMES[kind][theme][1])
    if kind == "museum":
        first = _pick(rng, ("This museum is devoted to {t}.", "A museum about {t}.", "The collection celebrates {t}.",
                            "This virtual gallery gathers works on {t}.")).format(t=topic)
        second = _pick(rng, ("It has {n} rooms.", "Visitors walk through {n} rooms.", "The visit spans {n} rooms."))
    else:
        first = _pick(rng, ("This game is about {t}.", "A video game built around {t}.", "The gameplay centres on {t}.",
                            "This playthrough is all about {t}.")).format(t=topic)
        second = _pick(rng, ("The video has {n} segments.", "It is cut into {n} segments.", "The footage spans {n} segments."))
    return (first, second.format(n=n_rooms)) if rng.random() < 0.7 else (first,)


def _room_opening(kind: str, position: int, n_images: int) -> str:
    if kind == "museum":
        return f"In the {ORDINALS[position]} room, there are {n_images} paintings."
    return f"In the {ORDINALS[position]} video segment, there are {n_images} frames."


def _room_title(room: RoomTheme) -> str:
    palette = PALETTE_WORDS[room.palette].names[0].removeprefix("in ")
    return f"{SUBJECT_WORDS[room.subject].names[0].capitalize()} in {palette}"


# ---- structure ------------------------------------------------------------------------------------------------------
MAX_ROOMS_PER_SUBJECT = 2  # within one metaverse, so that telling rooms apart does not hinge on palette alone


def _random_room(kind: str, subjects, rng: np.random.Generator, taken: set) -> RoomTheme:
    """A room theme not yet in `taken` ((subject, palette) pairs), with at most MAX_ROOMS_PER_SUBJECT per subject."""
    all_subjects = MUSEUM_SUBJECTS if kind == "museum" else GAME_SUBJECTS
    while True:
        subject, palette = _pick(rng, subjects), _pick(rng, PALETTE_NAMES)
        if sum(s == subject for s, _ in taken) >= MAX_ROOMS_PER_SUBJECT:
            subjects = all_subjects
            continue
        if (subject, palette) not in taken:
            taken.add((subject, palette))
            style = _pick(rng, STYLES_BY_KIND[kind]) if rng.random() < 0.7 else None
            return RoomTheme(subject, palette, style, int(rng.integers(IMAGES_PER_ROOM[0], IMAGES_PER_ROOM[1] + 1)))


def _base_rooms(kind: str, theme: str, rng: np.random.Generator) -> list[RoomTheme]:
    lo, hi = ROOMS_PER_KIND[kind]
    n = int(rng.integers(lo, hi + 1))
    theme_subjects, all_subjects = THEMES[kind][theme][0], (MUSEUM_SUBJECTS if kind == "museum" else GAME_SUBJECTS)
    taken: set = set()
    return [_random_room(kind, theme_subjects if rng.random() < 0.5 else all_subjects, rng, taken) for _ in range(n)]


def _distinct_permutations(n: int, count: int, rng: np.random.Generator) -> list[list[int]]:
    """`count` orders of n rooms (identity first), each pair differing in at least half the positions and in the
    first or the last room, so an order-aware model has something to see."""
    orders = [list(range(n))]
    for _ in range(500):
        if len(orders) == count:
            break
        p = [int(i) for i in rng.permutation(n)]
        if all(sum(a != b for a, b in zip(p, q)) >= (n + 1) // 2 and (p[0] != q[0] or p[-1] != q[-1]) for q in orders):
            orders.append(p)
    while len(orders) < count:  # fallback (never hit for n >= 4): any order not taken yet
        p = [int(i) for i in rng.permutation(n)]
        if p not in orders:
            orders.append(p)
    return orders


def _family_room_lists(kind: str, family_type: str, size: int, theme: str, rng: np.random.Generator) -> list[list[RoomTheme]]:
    base = _base_rooms(kind, theme, rng)
    if family_type == "permutation":
        return [[base[i] for i in order] for order in _distinct_permutations(len(base), size, rng)]
    if family_type == "swap":
        subjects = MUSEUM_SUBJECTS if kind == "museum" else GAME_SUBJECTS
        variants = [base]
        for _ in range(size - 1):
            rooms, taken = list(base), {(r.subject, r.palette) for r in base}
            for pos in rng.choice(len(base), size=int(rng.integers(1, 3)), replace=False):
                rooms[int(pos)] = _random_room(kind, subjects, rng, taken)
            variants.append(rooms)
        return variants
    return [base]


def _family_plan(n: int, rng: np.random.Generator) -> list[tuple[str, int]]:
    """(family type, size) list whose sizes add up to n metaverses, mixed as FAMILY_MIX says."""
    plan, remaining = [], n
    budgets = {t: int(round(f * n)) for t, f in FAMILY_MIX.items()}
    for family_type in ("permutation", "swap"):
        left = min(budgets[family_type], remaining)
        while left >= 2:
            size = min(int(rng.integers(3, 5)), left)
            plan.append((family_type, size))
            left -= size
            remaining -= size
    plan += [("single", 1)] * remaining
    return plan


def _assign_splits(family_sizes: list[int], rng: np.random.Generator) -> list[str]:
    """One split per family (siblings stay together, so test holds whole families), closest to SPLIT_FRACTIONS."""
    total, counts, out = sum(family_sizes), dict.fromkeys(SPLIT_FRACTIONS, 0), [""] * len(family_sizes)
    for f in rng.permutation(len(family_sizes)):
        seen = sum(counts.values()) + family_sizes[f]
        split = max(SPLIT_FRACTIONS, key=lambda s: SPLIT_FRACTIONS[s] * seen - counts[s])
        counts[split] += family_sizes[f]
        out[int(f)] = split
    log.debug("split sizes %s of %d", counts, total)
    return out


def _build_metaverse(kind: str, index: int, rooms: list[RoomTheme], theme: str, split: str, family: str,
                     rng: np.random.Generator) -> DemoMetaverse:
    paragraphs = [_intro_sentences(kind, theme, len(rooms), rng)]
    room_infos, captions = [], []
    for position, room in enumerate(rooms):
        refs = [{"subject": room.subject, "palette": room.palette,
                 "style": room.style or _pick(rng, STYLES_BY_KIND[kind]),
                 "seed": int(rng.integers(0, 2**31 - 1)), "kind": kind} for _ in range(room.n_images)]
        paragraphs.append((_room_opening(kind, position, room.n_images),) + tuple(image_sentence(kind, r, rng) for r in refs))
        captions.append(tuple(image_caption(r, rng) for r in refs))
        room_infos.append(RoomInfo(position, _room_title(room), tuple(refs)))
    heads, tails = TITLE_WORDS[kind]
    label = "Gallery" if kind == "museum" else "World"
    title = f"{label} {index:04d} — {'A' if kind == 'museum' else 'The'} {_pick(rng, heads)} of {_pick(rng, tails)}"
    info = MetaverseInfo(id=f"{kind}-{index:04d}", kind=kind, title=title, split=split,
                         paragraphs=tuple(" ".join(p) for p in paragraphs), rooms=tuple(room_infos), theme=theme)
    return DemoMetaverse(info, tuple(paragraphs), tuple(captions), family)


def _generate_kind(kind: str, n: int, rng: np.random.Generator) -> list[DemoMetaverse]:
    plan = _family_plan(n, rng)
    themes = list(THEMES[kind])
    families = []  # (family name, theme, room lists)
    for f, (family_type, size) in enumerate(plan):
        theme = _pick(rng, themes)
        room_lists = _family_room_lists(kind, family_type, size, theme, rng)
        families.append((f"{kind}-{family_type[:4]}-{f:03d}", theme, room_lists))
    splits = _assign_splits([len(rl) for _, _, rl in families], rng)
    members = [(name, theme, rooms, split) for (name, theme, rl), split in zip(families, splits) for rooms in rl]
    order = rng.permutation(len(members))  # ids do not reveal families
    return [_build_metaverse(kind, i, members[j][2], members[j][1], members[j][3], members[j][0], rng)
            for i, j in enumerate(order)]


def generate_world(seed: int = 0, n_museums: int = 500, n_games: int = 150) -> list[DemoMetaverse]:
    """The demo collection: museums first ("museum-0000"…), then games ("game-0000"…), deterministic from `seed`."""
    for name, value in (("n_museums", n_museums), ("n_games", n_games)):
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    if n_museums + n_games == 0:
        raise ValueError("the world needs at least one metaverse; got n_museums=0 and n_games=0")
    museum_rng, game_rng = (np.random.default_rng([seed, k]) for k in (0, 1))
    world = _generate_kind("museum", n_museums, museum_rng) + _generate_kind("game", n_games, game_rng)
    log.info("demo world seed=%d: %d museums, %d games, %d rooms, %d images", seed, n_museums, n_games,
             sum(len(m.info.rooms) for m in world), sum(len(r.images) for m in world for r in m.info.rooms))
    return world
