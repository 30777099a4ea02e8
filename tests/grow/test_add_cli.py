"""`python -m backend add`: a spec file with image paths, --list, --remove; bad specs exit 2 with the reason."""
from __future__ import annotations

import json
import subprocess
import sys

from PIL import Image

from backend.paths import REPO


def run(*args, env_store):
    import os
    env = {**os.environ, "METAVERSE_ADDITIONS": str(env_store)}
    return subprocess.run([sys.executable, "-m", "backend", "add", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env=env)


def test_add_list_search_remove_from_the_command_line(tiny_bundle, tmp_path):
    store = tmp_path / "store"
    (tmp_path / "pics").mkdir()
    for name, colour in (("red.png", (220, 20, 20)), ("green.jpg", (20, 200, 20))):
        Image.new("RGB", (300, 200), colour).save(tmp_path / "pics" / name)
    spec = {"id": "cli-museum", "kind": "museum", "title": "Two colours",
            "description": "Intro.\n\nA red room.\n\nA green room.",
            "rooms": [{"title": "Red", "images": ["pics/red.png"]}, {"title": "Green", "images": ["pics/green.jpg"]}]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    out = run(tmp_path / "spec.json", "--bundle", tiny_bundle, env_store=store)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["searchable"] is True
    listed = run("--list", "--bundle", tiny_bundle, env_store=store)
    assert json.loads(listed.stdout)["added"] == ["cli-museum"]
    found = subprocess.run([sys.executable, "-m", "backend", "search", "--bundle", str(tiny_bundle), "--json",
                            "--k", "50", "A green room."], cwd=REPO, capture_output=True, text=True, timeout=300,
                           env={**__import__("os").environ, "METAVERSE_ADDITIONS": str(store)})
    assert "cli-museum" in [h["id"] for h in json.loads(found.stdout)["results"]]
    assert run("--remove", "cli-museum", "--bundle", tiny_bundle, env_store=store).returncode == 0
    gone = run("--remove", "cli-museum", "--bundle", tiny_bundle, env_store=store)
    assert gone.returncode == 2 and "No added metaverse with id 'cli-museum'" in gone.stderr
    spec["rooms"][1]["images"] = ["pics/missing.png"]
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    bad = run(tmp_path / "spec.json", "--bundle", tiny_bundle, env_store=store)
    assert bad.returncode == 2 and "room 2, image 1: no image file at" in bad.stderr


def test_a_spec_reads_images_only_from_its_own_folder_unless_allowed(tiny_bundle, tmp_path):
    store, folder = tmp_path / "store", tmp_path / "specs"
    folder.mkdir()
    Image.new("RGB", (60, 40), (220, 20, 20)).save(tmp_path / "outside.png")
    spec = {"id": "outside-museum", "kind": "museum", "title": "Outside", "description": "Intro.\n\nA red room.",
            "rooms": [{"title": "Red", "images": ["../outside.png"]}]}
    (folder / "spec.json").write_text(json.dumps(spec))
    refused = run(folder / "spec.json", "--bundle", tiny_bundle, env_store=store)
    assert refused.returncode == 2 and "outside the spec's folder" in refused.stderr and "--allow-outside" in refused.stderr
    allowed = run(folder / "spec.json", "--allow-outside", "--bundle", tiny_bundle, env_store=store)
    assert allowed.returncode == 0, allowed.stderr
