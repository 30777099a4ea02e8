"""Importers: small fixtures written in exactly the published Museums3k / GamingMV layouts, then imported."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from backend.data.importers import import_gamingmv, import_museums3k
from backend.data.importers.common import paragraphs_from_tokens, parse_ordinal, split_sentences
from backend.data.importers.gamingmv import reference_split, uniform_sample

D, D_ART = 8, 6
_UNITS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "eleventh",
          "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth", "eighteenth", "nineteenth"]
_TENS = {2: ("twentieth", "twenty"), 3: ("thirtieth", "thirty"), 4: ("fortieth", "forty")}


def ordinal(n: int) -> str:
    if n < 20:
        return _UNITS[n - 1]
    t, u = divmod(n, 10)
    return _TENS[t][0] if u == 0 else f"{_TENS[t][1]}-{_UNITS[u - 1]}"


def tokens_for(n_rooms: int, per_room: list[int], unit: str) -> list[str]:
    """Intro sentence + per room: 'In the <ord> room , there are N paintings .' + N item sentences."""
    toks = f"In the museum , there are {n_rooms} rooms , with many works .".split()
    for r in range(n_rooms):
        if unit == "room":
            toks += f"In the {ordinal(r + 1)} room , there are {per_room[r]} paintings .".split()
        else:
            toks += f"In the {ordinal(r + 1)} video , the player races on a track .".split()
        for i in range(per_room[r]):
            toks += f"The {ordinal(i + 1)} painting shows a stormy sea at dusk .".split()
    return toks


def n_sentences(per_room: list[int]) -> int:
    return 1 + sum(1 + k for k in per_room)


def _save(obj, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".pkl":
        path.write_bytes(pickle.dumps(obj))
    else:
        torch.save(obj, path)


# ---- Museums3k ---------------------------------------------------------------------------------------------------
MUSEUMS = {"Museum0-1.unity": 1, "Museum1-3.unity": 3, "Museum10-40.unity": 40, "Museum2-2.unity": 2}
# sorted names: Museum0-1, Museum1-3, Museum10-40, Museum2-2 (string order, as the reference's sorted(os.listdir))
MUSEUM_SPLIT = {"train": torch.tensor([0, 3]), "val": torch.tensor([1]), "test": torch.tensor([2])}


def write_museums(root: Path, museums=MUSEUMS, split=MUSEUM_SPLIT, art: bool = False) -> dict:
    g = torch.Generator().manual_seed(0)
    base = root / "tmp_museums" / "open_clip_features_museums3k"
    raw = {}
    for name, R in museums.items():
        per_room = [1 + (r % 3) for r in range(R)]
        views = torch.randn(12 * R, D, generator=g).to(torch.float16)
        sents = torch.randn(n_sentences(per_room), D, generator=g)
        _save(views, base / "images" / f"{name}.pt")
        _save(sents, base / "descriptions" / "sentences" / f"{name}.pt")
        _save(tokens_for(R, per_room, "room"), base / "descriptions" / "tokens_strings" / f"{name}.pkl")
        if art:
            _save(torch.rand(12 * R, D_ART, generator=g), root / "preextracted_vectors_wikiart_rn50" / f"{name}.pt")
        raw[name] = (views.float().numpy(), sents.numpy(), per_room)
    _save(split, root / "indices_museum_dataset.pkl")
    return raw


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_museums3k_import_counts_paragraphs_splits_and_normalisation(tmp_path):
    raw = write_museums(tmp_path)
    coll, rep = import_museums3k(tmp_path, generalist="clip")
    names = sorted(MUSEUMS)
    assert [m.id for m in coll.metaverses] == ["museum-0000", "museum-0001", "museum-0010", "museum-0002"]
    assert [m.split for m in coll.metaverses] == ["train", "val", "test", "train"]
    assert rep["splits"] == {"train": 2, "val": 1, "test": 1} and rep["skipped"] == [] and rep["warnings"] == []
    assert rep["n_metaverses"] == 4 and rep["n_rooms"] == 46 and rep["n_images"] == 46 * 12
    assert rep["feature_dim"] == D and rep["expert_dim"] is None
    assert rep["n_paragraphs"] == 46 + 4
    assert coll.image_feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(coll.image_feats, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(coll.sentence_embs, axis=1), 1, atol=1e-5)

    for m, name in enumerate(names):
        views, sents, per_room = raw[name]
        info = coll.metaverses[m]
        assert len(info.rooms) == MUSEUMS[name] and all(r.images == (None,) * 12 for r in info.rooms)
        assert len(info.paragraphs) == MUSEUMS[name] + 1
        assert info.paragraphs[0].startswith("In the museum, there are")
        assert info.paragraphs[1].startswith(f"In the first room, there are {per_room[0]} paintings.")
        for k, r in enumerate(coll.room_range(m)):  # room-major views, 12 per room
            np.testing.assert_allclose(coll.room_images(r), _unit(views[12 * k:12 * k + 12]), atol=1e-5)
        pars = list(coll.paragraph_range(m))
        assert [len(coll.paragraph_sentences(p)) for p in pars] == [1] + [1 + k for k in per_room]
        np.testing.assert_allclose(coll.paragraph_sentences(pars[1]), _unit(sents[1:2 + per_room[0]]), atol=1e-5)
    forty = coll.metaverses[names.index("Museum10-40.unity")]
    assert forty.paragraphs[40].startswith("In the fortieth room") and forty.paragraphs[21].startswith("In the twenty-first")


def test_museums3k_art_expert_aligned_with_views(tmp_path):
    write_museums(tmp_path, art=True)
    coll, rep = import_museums3k(tmp_path, generalist="clip", art_expert="rn50")
    assert coll.expert_feats.shape == (46 * 12, D_ART) and rep["expert_dim"] == D_ART
    with pytest.raises(ValueError, match="preextracted_vectors_wikiart_vitb32"):
        import_museums3k(tmp_path, art_expert="vitb32")


def test_museums3k_missing_sentence_file_names_it(tmp_path):
    write_museums(tmp_path)
    bad = tmp_path / "tmp_museums/open_clip_features_museums3k/descriptions/sentences/Museum1-3.unity.pt"
    bad.unlink()
    with pytest.raises(ValueError, match="Museum1-3.unity.pt"):
        import_museums3k(tmp_path)
    coll, rep = import_museums3k(tmp_path, strict=False)  # lenient mode: skipped with the reason
    assert coll.n_metaverses == 3 and rep["skipped"][0]["name"] == "Museum1-3.unity"
    assert "Museum1-3.unity.pt" in rep["skipped"][0]["reason"]


def test_museums3k_ragged_view_count_names_file(tmp_path):
    write_museums(tmp_path)
    _save(torch.randn(13, D), tmp_path / "tmp_museums/open_clip_features_museums3k/images/Museum2-2.unity.pt")
    with pytest.raises(ValueError, match=r"Museum2-2\.unity\.pt.*multiple of 12"):
        import_museums3k(tmp_path)


def test_museums3k_room_count_disagreeing_with_name(tmp_path):
    write_museums(tmp_path)
    _save(torch.randn(36, D), tmp_path / "tmp_museums/open_clip_features_museums3k/images/Museum2-2.unity.pt")
    with pytest.raises(ValueError, match=r"Museum2-2\.unity\.pt.*declares 2 rooms"):
        import_museums3k(tmp_path)


def test_museums3k_sentence_paragraph_mismatch_names_file_and_counts(tmp_path):
    raw = write_museums(tmp_path)
    sents = raw["Museum1-3.unity"][1]
    _save(torch.randn(len(sents) + 1, D),
          tmp_path / "tmp_museums/open_clip_features_museums3k/descriptions/sentences/Museum1-3.unity.pt")
    with pytest.raises(ValueError, match=rf"Museum1-3\.unity\.pkl.*{len(sents)} sentences.*{len(sents) + 1} rows"):
        import_museums3k(tmp_path)


def test_museums3k_mismatched_dim_and_bad_split(tmp_path):
    write_museums(tmp_path)
    _save(torch.randn(24, D + 1), tmp_path / "tmp_museums/open_clip_features_museums3k/images/Museum2-2.unity.pt")
    with pytest.raises(ValueError, match=r"Museum2-2\.unity\.pt.*feature dim"):
        import_museums3k(tmp_path)
    write_museums(tmp_path, split={"train": torch.tensor([0, 9]), "val": torch.tensor([1]), "test": torch.tensor([2])})
    with pytest.raises(ValueError, match="indices_museum_dataset.pkl.*out of range"):
        import_museums3k(tmp_path)
    with pytest.raises(ValueError, match="museums3k_new_features/mobile_clip"):
        import_museums3k(tmp_path, generalist="mobile_clip")


def test_museums3k_item_outside_splits_is_skipped(tmp_path):
    write_museums(tmp_path, split={"train": torch.tensor([0]), "val": torch.tensor([1]), "test": torch.tensor([2])})
    coll, rep = import_museums3k(tmp_path)
    assert coll.n_metaverses == 3 and rep["skipped"] == [{"name": "Museum2-2.unity",
                                                          "reason": "not in any split of indices_museum_dataset.pkl"}]


# ---- GamingMV ----------------------------------------------------------------------------------------------------
GAMES = {"-1BBMw4RcdQ": [20, 5, 8], "3t_PvlmUpyY": [9], "Zz_long": [12] * 25, "a0": [3, 40]}


def write_games(root: Path, games=GAMES, de: bool = False, generalist_dir="ViT-B-32_laion2b_s34b_b79k") -> dict:
    g = torch.Generator().manual_seed(1)
    base = root / "dataset_gaming_VR" / "filtered_video_game_features" / generalist_dir
    raw = {}
    for vid, frames in games.items():
        per_seg = [1 + (r % 2) for r in range(len(frames))]
        segs = [torch.randn(n, D, generator=g) for n in frames]
        sents = torch.randn(n_sentences(per_seg), D, generator=g)
        _save(segs, base / "unpacked_images" / f"{vid}.pt")
        _save(sents, base / "descriptions" / "sentences" / f"{vid}.pt")
        _save(tokens_for(len(frames), per_seg, "video"), base / "descriptions" / "tokens_strings" / f"{vid}.pkl")
        if de:
            _save([torch.rand(n, D_ART, generator=g) for n in frames], root / "gaming_DE_features" / f"{vid}.pt")
        raw[vid] = ([s.numpy() for s in segs], sents.numpy(), per_seg)
    return raw


def test_gamingmv_import_samples_frames_and_splits(tmp_path):
    raw = write_games(tmp_path, de=True)
    split = {"train": np.array([0, 1]), "val": np.array([2]), "test": np.array([3])}
    _save(split, tmp_path / "split.pkl")
    coll, rep = import_gamingmv(tmp_path, generalist="clip", domain_expert=True, frames_per_segment=8,
                                split_file=tmp_path / "split.pkl")
    ids = sorted(GAMES)
    assert [m.id for m in coll.metaverses] == [f"game-{v}" for v in ids]
    assert [m.kind for m in coll.metaverses] == ["game"] * 4
    assert [m.split for m in coll.metaverses] == ["train", "train", "val", "test"]
    assert rep["n_rooms"] == 3 + 1 + 25 + 2 and rep["frames_per_segment"] == 8 and rep["expert_dim"] == D_ART
    sizes = [len(r.images) for m in coll.metaverses for r in m.rooms]
    assert sizes == [min(8, n) for v in ids for n in GAMES[v]]
    assert coll.expert_feats.shape == (len(coll.image_feats), D_ART)
    m = ids.index("-1BBMw4RcdQ")
    first = coll.room_range(m)[0]
    idx = torch.linspace(0, 19, steps=8).long().numpy()  # the reference's uniform_sample
    np.testing.assert_allclose(coll.room_images(first), _unit(raw["-1BBMw4RcdQ"][0][0][idx]), atol=1e-5)
    info = coll.metaverses[ids.index("Zz_long")]
    assert len(info.paragraphs) == 26 and info.paragraphs[25].startswith("In the twenty-fifth video, the player")
    np.testing.assert_allclose(np.linalg.norm(coll.image_feats, axis=1), 1, atol=1e-5)


def test_gamingmv_default_split_is_reference_procedure(tmp_path):
    write_games(tmp_path)
    coll, rep = import_gamingmv(tmp_path)
    assert sum(rep["splits"].values()) == 4 and "seed-0" in rep["split_source"] and rep["warnings"]
    ref = reference_split(239)
    assert [len(ref[s]) for s in ("train", "val", "test")] == [145, 44, 50]
    assert len(set(ref["train"]) | set(ref["val"]) | set(ref["test"])) == 239
    # same stream as np.random.seed(0); np.random.choice(239, 145, replace=False) in the reference
    np.random.seed(0)
    np.testing.assert_array_equal(ref["train"], np.random.choice(239, 145, replace=False))


def test_gamingmv_errors_name_the_file(tmp_path):
    write_games(tmp_path, de=True)
    base = tmp_path / "dataset_gaming_VR/filtered_video_game_features/ViT-B-32_laion2b_s34b_b79k"
    _save([torch.randn(4, D)], tmp_path / "gaming_DE_features" / "a0.pt")
    with pytest.raises(ValueError, match=r"gaming_DE_features/a0\.pt"):
        import_gamingmv(tmp_path, domain_expert=True)
    (base / "descriptions/tokens_strings/3t_PvlmUpyY.pkl").unlink()
    with pytest.raises(ValueError, match=r"3t_PvlmUpyY\.pkl"):
        import_gamingmv(tmp_path)
    _save(tokens_for(2, [1, 1], "video"), base / "descriptions/tokens_strings/3t_PvlmUpyY.pkl")
    with pytest.raises(ValueError, match=r"3t_PvlmUpyY\.pkl.*sentences"):
        import_gamingmv(tmp_path)
    with pytest.raises(ValueError, match="frames_per_segment"):
        import_gamingmv(tmp_path, frames_per_segment=0)
    with pytest.raises(ValueError, match="mobile_clip"):
        import_gamingmv(tmp_path, generalist="mobile_clip")


# ---- shared helpers ----------------------------------------------------------------------------------------------
def test_ordinals_and_sentence_splitting(tmp_path):
    assert [parse_ordinal(w) for w in ["first", "twelfth", "twenty-first", "fortieth", "3rd", "room"]] == \
        [1, 12, 21, 40, 3, None]
    assert all(parse_ordinal(ordinal(n)) == n for n in range(1, 50))
    assert split_sentences(["A", ".", "B", "c"]) == [["A", "."], ["B", "c"]]
    toks = "Intro . In the second room , there are 1 paintings . X . In the first room , there are 1 paintings .".split()
    pars = paragraphs_from_tokens(toks, "room", 4, tmp_path / "t.pkl")
    assert pars.sentence_counts == (1, 2, 1) and pars.ordinals == (2, 1)
    with pytest.raises(ValueError, match="t.pkl"):
        paragraphs_from_tokens("not a list", "room", 1, tmp_path / "t.pkl")
    assert len(uniform_sample(np.zeros((3, 2)), 8)) == 3


def test_museums3k_tokens_holding_periods_fall_back_to_the_authors_rule_and_are_reported(tmp_path):
    """Real token files have '."', '.,', '...' and '.)': the '.'-token count then disagrees with the sentence rows.
    The authors split the joined text at '.', so that rule is used when it matches; otherwise the item is skipped
    with its reason (or the import aborts with --strict)."""
    raw = write_museums(tmp_path)
    tok_dir = tmp_path / "tmp_museums" / "open_clip_features_museums3k" / "descriptions" / "tokens_strings"
    # Museum1-3: the first item sentence of room 2 ends in '."' instead of '.': one '.' token fewer than rows.
    toks = pickle.loads((tok_dir / "Museum1-3.unity.pkl").read_bytes())
    periods = [i for i, t in enumerate(toks) if t == "."]
    toks[periods[4]] = '."'     # sentences: intro, room 1 opener + 1 item, room 2 opener + 2 items, ...
    (tok_dir / "Museum1-3.unity.pkl").write_bytes(pickle.dumps(toks))
    # Museum2-2: a sentence split in two by '...' and '.)' that no rule can line up with the rows.
    toks = pickle.loads((tok_dir / "Museum2-2.unity.pkl").read_bytes())
    (tok_dir / "Museum2-2.unity.pkl").write_bytes(pickle.dumps(toks + ["an", "extra", "bit", "..."]))
    with pytest.raises(ValueError, match="by the authors' rule"):
        import_museums3k(tmp_path)                                     # strict: the first bad item aborts
    coll, rep = import_museums3k(tmp_path, strict=False)
    assert rep["imported"] == 3 and [s["name"] for s in rep["skipped"]] == ["Museum2-2.unity"]
    assert [r["name"] for r in rep["repaired"]] == ["Museum1-3.unity"] and "authors' rule" in rep["repaired"][0]["how"]
    info = coll.metaverses[1]
    assert info.id == "museum-0001" and len(info.paragraphs) == 4
    per_room = raw["Museum1-3.unity"][2]
    first_par = coll.metaverse_paragraph_offsets[1]
    assert [len(coll.paragraph_sentences(first_par + 1 + r)) for r in range(3)] == [k + 1 for k in per_room]


def test_gamingmv_samples_the_authors_32_frames_by_default():
    from backend.data.importers.gamingmv import FRAMES_PER_SEGMENT, import_gamingmv
    import inspect
    assert FRAMES_PER_SEGMENT == 32
    assert inspect.signature(import_gamingmv).parameters["frames_per_segment"].default == 32
