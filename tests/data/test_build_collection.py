"""`build collection`: a generated folder tree (with bad items) -> a bundle that loads and serves a search; strict
mode, manifests, determinism for a seed, and `export-folders` of the demo renders read back."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from backend.data.importers.folders import natural_key, read_items, room_title
from tests.conftest import REPO

COLOURS = {"red": (220, 30, 30), "blue": (30, 40, 220), "green": (30, 200, 60), "yellow": (230, 220, 40)}
ROOMS = [("red", "blue"), ("green", "yellow"), ("blue", "green"), ("yellow", "red"), ("red", "green"),
         ("blue", "yellow"), ("green", "red"), ("yellow", "blue")]
BAD = {"no-rooms": "no images", "empty-room": "has no images", "broken-image": "unreadable image",
       "blank-description": "empty description", "wrong-paragraphs": "4 paragraphs for 2 rooms",
       "museum-b copy": "duplicate id 'museum-b'"}


def _image(path, colour, shade=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (24, 24), tuple(max(0, c - shade) for c in COLOURS[colour])).save(path)


def _metaverse(root, name, rooms, description=None, meta=None):
    folder = root / name
    for n, colour in enumerate(rooms, start=1):
        for i in (1, 2):
            _image(folder / f"{n:02d} {colour} paintings" / f"{i}.png", colour, shade=20 * i)
    if description is None:
        description = "\n\n".join([f"A museum called {name}."] +
                                  [f"In room {n} hang {c} paintings, all {c}." for n, c in enumerate(rooms, 1)])
    if description is not False:
        (folder / "description.md").write_text(description)
    if meta is not None:
        (folder / "metadata.json").write_text(json.dumps(meta))
    return folder


def write_tree(root):
    """8 good metaverses (one a game, one titled by a '# heading', one described in metadata.json) and 6 bad ones."""
    for n, rooms in enumerate(ROOMS):
        name = f"museum-{'abcdefgh'[n]}"
        if n == 0:
            _metaverse(root, name, rooms, description="# The Red Room\n\nIntro.\n\nAll red.\n\nAll blue.")
        elif n == 1:
            _metaverse(root, name, rooms, description=False,
                       meta={"kind": "game", "title": "A game", "paragraphs": ["Intro.", "Green.", "Yellow."]})
        else:
            _metaverse(root, name, rooms)
    (root / "no-rooms").mkdir()
    (root / "no-rooms" / "description.md").write_text("Intro only.")
    empty = _metaverse(root, "empty-room", ("red", "blue"))
    (empty / "03 nothing").mkdir()
    (empty / "description.md").write_text("Intro.\n\nRed.\n\nBlue.\n\nNothing.")
    broken = _metaverse(root, "broken-image", ("red", "blue"))
    (broken / "01 red paintings" / "3.png").write_bytes(b"not a png at all")
    _metaverse(root, "blank-description", ("red", "blue"), description="  \n\n ")
    _metaverse(root, "wrong-paragraphs", ("red", "blue"), description="Intro.\n\nRed.\n\nBlue.\n\nGreen.")
    _metaverse(root, "museum-b copy", ("red", "blue"), meta={"id": "museum-b"})


def _build(src, out, **kw):
    from backend.ops.build_collection import build_collection
    return build_collection(src, out, encoder="demo", hicalm_epochs=2, maps=False, **kw)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("collection")
    write_tree(root / "src")
    return root, _build(root / "src", root / "bundle", seed=3)


def test_bad_items_are_skipped_with_their_reason_in_the_report(built):
    root, report = built
    reasons = {s["name"].rsplit("/", 1)[-1]: s["reason"] for s in report["skipped"]}
    assert set(reasons) == set(BAD)
    for name, words in BAD.items():
        assert words in reasons[name], (name, reasons[name])
    assert json.loads((root / "bundle-report.json").read_text())["skipped"] == report["skipped"]
    assert report["n_metaverses"] == 8 and sum(report["splits"].values()) == 8 and report["splits"]["test"] == 2


def test_the_bundle_loads_and_serves_a_search(built):
    from backend.data.bundle import load_bundle
    from backend.service import SearchService
    root, report = built
    bundle = load_bundle(root / "bundle")
    col = bundle.collection
    assert [m.id for m in col.metaverses] == [f"museum-{c}" for c in "abcdefgh"]
    first, game = col.metaverses[0], col.metaverses[1]
    assert first.title == "The Red Room" and [r.title for r in first.rooms] == ["red paintings", "blue paintings"]
    assert game.kind == "game" and game.paragraphs == ("Intro.", "Green.", "Yellow.")
    assert bundle.manifest["default_ranker"] == "hicalm" and bundle.manifest["encoder"]["type"] == "demo"
    assert bundle.manifest["reports"]["collection"]["skipped"] == report["skipped"]
    service = SearchService.from_bundle(root / "bundle")
    for ranker in ("hicalm", "baseline"):
        out = service.search(text="a room of green paintings", k=3, ranker=ranker)
        assert len(out["results"]) == 3 and all(r["id"] in {m.id for m in col.metaverses} for r in out["results"])
        assert all(im["url"] for im in out["results"][0]["rooms"][0]["images"])   # its own pictures are shown
    assert service.search(image_key="museum-c/1/2", k=2)["results"]
    import io
    for key, colour, shade in (("museum-a/2/2", "blue", 40), ("museum-h/1/1", "yellow", 20)):
        with Image.open(io.BytesIO(service.thumbnail_png(key, size=64))) as im:   # the file's own pixels, lossless
            assert im.size == (24, 24) and im.convert("RGB").getpixel((5, 5)) == tuple(
                max(0, c - shade) for c in COLOURS[colour]), key
    assert "thumbs.bin" in bundle.manifest["artifacts"] and "thumb_offsets.npy" in bundle.manifest["artifacts"]
    assert set(report["eval"]) >= {"baseline", "hicalm"} and 0 <= report["eval"]["hicalm"]["R@1"] <= 100


def test_the_same_seed_gives_the_same_bundle(built, tmp_path):
    from backend.data.bundle import load_bundle
    root, _ = built
    _build(root / "src", tmp_path / "again", seed=3)
    a, b = (load_bundle(p).manifest["artifacts"] for p in (root / "bundle", tmp_path / "again"))
    for name in ("metaverses.json", "image_feats.npy", "sentence_embs.npy", "hicalm_metaverse_vecs.npy"):
        assert a[name]["sha256"] == b[name]["sha256"], name


def test_strict_stops_at_the_first_bad_item(tmp_path):
    write_tree(tmp_path / "src")
    with pytest.raises(ValueError, match="blank-description: empty description.*--strict"):
        _build(tmp_path / "src", tmp_path / "bundle", strict=True)
    assert not (tmp_path / "bundle").exists()


def test_out_that_is_not_a_bundle_is_refused(tmp_path):
    write_tree(tmp_path / "src")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a bundle"):
        _build(tmp_path / "src", tmp_path / "mine")
    with pytest.raises(ValueError, match="overlaps the source"):
        _build(tmp_path / "src", tmp_path / "src" / "bundle")


def test_jsonl_and_csv_manifests(tmp_path):
    for c in ("red", "blue"):
        _image(tmp_path / "img" / f"{c}.png", c)
    good = {"id": "m1", "kind": "museum", "title": "One", "description": "Intro.\n\nRed.\n\nBlue.",
            "rooms": [{"title": "Red", "images": ["img/red.png"]}, {"title": "Blue", "images": ["img/blue.png"]}]}
    lines = [json.dumps(good), "{not json", json.dumps({**good, "title": "Again"}),
             json.dumps({**good, "id": "m2", "paragraphs": ["Intro.", "Red."]})]
    (tmp_path / "items.jsonl").write_text("\n".join(lines) + "\n")
    skipped = []
    items = read_items(tmp_path / "items.jsonl", lambda n, r: skipped.append((n, r)))
    assert [(i.id, i.title) for i in items] == [("m1", "One")]
    assert [n for n, _ in skipped] == ["items.jsonl:2", "items.jsonl:3 (m1)", "items.jsonl:4 (m2)"]
    assert "duplicate id" in skipped[1][1] and "2 paragraphs for 2 rooms" in skipped[2][1]
    (tmp_path / "items.csv").write_text(
        'id,kind,title,room,image,description\n'
        'g1,game,Chase,Start,img/red.png,"Intro.\n\nFirst.\n\nSecond."\n'
        'g1,,,Start,img/blue.png,\n'
        'g1,,,End,img/blue.png,\n'
        'g2,,,Only,img/missing.png,"Intro.\n\nOnly."\n')
    skipped.clear()
    items = read_items(tmp_path / "items.csv", lambda n, r: skipped.append((n, r)))
    assert len(items) == 1 and items[0].kind == "game" and [len(r.images) for r in items[0].rooms] == [2, 1]
    assert items[0].paragraphs == (("Intro.",), ("First.",), ("Second.",))
    assert "no image file" in skipped[0][1]
    (tmp_path / "bad.csv").write_text("id,image\nx,img/red.png\n")
    with pytest.raises(ValueError, match="lacks the column.*room"):
        read_items(tmp_path / "bad.csv", lambda n, r: None)


def test_names_and_order():
    assert room_title("01 - Stormy seas", 1) == "Stormy seas" and room_title("3_night_city", 3) == "night city"
    assert room_title("07", 7) == "Room 7" and room_title("Harbours", 2) == "Harbours"
    assert sorted(["room 10", "room 2", "Room 1"], key=natural_key) == ["Room 1", "room 2", "room 10"]


def test_export_folders_writes_what_build_collection_reads(tmp_path):
    from backend.data.bundle import load_bundle
    r = subprocess.run([sys.executable, "-m", "backend", "export-folders", "--out", str(tmp_path / "demo"),
                        "--limit", "3", "--size", "64", "--json"], cwd=REPO, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metaverses"] == 3
    col = load_bundle(REPO / "precomputed", check_hashes=False).collection
    items = read_items(tmp_path / "demo", lambda n, why: pytest.fail(f"{n}: {why}"))
    for item in items:
        info = col.metaverses[col.metaverse_row(item.id)]
        assert item.title == info.title and item.kind == info.kind and item.split == info.split
        assert [" ".join(p) for p in item.paragraphs] == list(info.paragraphs)
        assert [r.title for r in item.rooms] == [r.title for r in info.rooms]
        assert [len(r.images) for r in item.rooms] == [len(r.images) for r in info.rooms]
    again = subprocess.run([sys.executable, "-m", "backend", "export-folders", "--out", str(tmp_path / "demo")],
                           cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "not an empty folder" in again.stderr


@pytest.mark.slow
def test_cli_end_to_end_with_maps(tmp_path):
    """export-folders -> build collection (maps, eval) -> a bundle whose maps are served."""
    from backend.service import SearchService
    run = [sys.executable, "-m", "backend"]
    assert subprocess.run([*run, "export-folders", "--out", str(tmp_path / "f"), "--limit", "12", "--size", "64"],
                          cwd=REPO, capture_output=True, timeout=300).returncode == 0
    r = subprocess.run([*run, "build", "collection", str(tmp_path / "f"), "--out", str(tmp_path / "b"), "--encoder",
                        "demo", "--hicalm-epochs", "1"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "| hicalm |" in r.stdout and "| baseline |" in r.stdout and "report:" in r.stdout
    service = SearchService.from_bundle(tmp_path / "b")
    assert len(service.explore.map_json("hicalm", "metaverse")["points"]["x"]) == 12


def test_open_clip_weights_on_this_machine_are_used(tmp_path):
    """A tiny open_clip model saved by the test stands in for MobileCLIP: the bundle records it and serves with it."""
    open_clip = pytest.importorskip("open_clip")
    import torch
    from backend.service import SearchService
    from tests.model.test_openclip_encoder import TINY, TINY_CFG
    (tmp_path / f"{TINY}.json").write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(tmp_path / f"{TINY}.json")
    torch.manual_seed(0)
    torch.save(open_clip.create_model_and_transforms(TINY, pretrained=None)[0].state_dict(), tmp_path / "tiny.pt")
    write_tree(tmp_path / "src")
    from backend.ops.build_collection import build_collection
    report = build_collection(tmp_path / "src", tmp_path / "b", encoder=TINY, encoder_weights=str(tmp_path / "tiny.pt"),
                              hicalm_epochs=1, maps=False)
    service = SearchService.from_bundle(tmp_path / "b")
    spec = service.bundle.manifest["encoder"]
    assert spec["type"] == "open_clip" and spec["dim"] == 32 and report["encoder_choice"] == f"open_clip {TINY}"
    assert "image_tower.pt" not in service.bundle.manifest["artifacts"]
    assert len(service.search(text="green paintings", k=2)["results"]) == 2


def test_auto_falls_back_to_the_demo_tower_and_says_why(tmp_path, monkeypatch):
    from backend.ops.build_collection import open_encoder
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    enc, spec, tower, why = open_encoder("auto")
    assert spec["type"] == "demo" and tower.name == "image_tower.pt" and "mobileclip-s1" in why and "offline" in why
    with pytest.raises(ValueError, match="does not exist"):
        open_encoder("auto", weights=str(tmp_path / "missing.pt"))   # weights named but absent: an error, no fallback
