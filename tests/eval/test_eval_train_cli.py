"""The eval and train commands on a bundle, the structural qrels, and a checkpoint that does not fit its bundle."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from backend.data.bundle import BundleError, load_bundle
from tests.conftest import REPO


def test_structural_qrels_grades(tiny_bundle):
    from backend.eval.bundle_eval import structural_qrels
    col = load_bundle(tiny_bundle).collection
    idx = np.arange(col.n_metaverses)
    qrels = structural_qrels(col, idx)
    for q, judged in qrels.items():
        assert judged[q] == 3
    m0 = col.metaverses[0]
    for t, grade in qrels[m0.id].items():
        other = next(m for m in col.metaverses if m.id == t)
        if grade == 2:
            assert sorted(r.title for r in other.rooms) == sorted(r.title for r in m0.rooms) and other.id != m0.id


def test_eval_cli_json(tiny_bundle):
    r = subprocess.run([sys.executable, "-m", "backend", "eval", "--json", "--bundle", str(tiny_bundle), "--split", "train"],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    for name in ("baseline", "hicalm"):
        rk = report["rankers"][name]
        for direction in ("text_to_metaverse", "metaverse_to_text"):
            assert {"R@1", "R@5", "R@10", "MedR"} <= set(rk[direction])
        assert "nDCG@10" in rk["text_to_metaverse"] and 0 <= rk["qrels_nDCG@10"] <= 1
    assert "Museums3k test (450), HiCALM" in report["reference_published"]


def test_eval_rejects_tiny_split_and_bad_qrels(tiny_bundle, tmp_path):
    from backend.eval.bundle_eval import evaluate_bundle, read_trec_qrels
    bad = tmp_path / "q.txt"
    bad.write_text("q1 0 d1\n")
    with pytest.raises(ValueError, match="q.txt:1: expected 'query_id 0 doc_id grade'"):
        read_trec_qrels(bad)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        evaluate_bundle(tiny_bundle, split="dev")


def test_train_cli_writes_a_new_bundle(tiny_bundle, tmp_path):
    out = tmp_path / "retrained"
    r = subprocess.run([sys.executable, "-m", "backend", "train", "--bundle", str(tiny_bundle), "--out", str(out),
                        "--epochs", "1", "--variant", "hicalm-avg", "--json"], cwd=REPO, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    b = load_bundle(out)
    assert b.manifest["default_ranker"] == "hicalm" and "hicalm.pt" in b.manifest["artifacts"]
    from backend.service import SearchService
    assert SearchService.from_bundle(out).search(text="forest", k=2, ranker="hicalm")["results"]


def test_checkpoint_that_does_not_fit_the_bundle(bundle_copy, tmp_path):
    """A checkpoint trained on other features (different dimension) is refused with a message naming it."""
    from backend.data.bundle import sha256_file
    from backend.model.hicalm import build_model, save_checkpoint
    from backend.service import SearchService
    ckpt = bundle_copy / "hicalm.pt"
    save_checkpoint(build_model("hicalm-rnn", image_dim=512), ckpt)
    m = json.loads((bundle_copy / "manifest.json").read_text())
    m["artifacts"]["hicalm.pt"].update(sha256=sha256_file(ckpt), bytes=ckpt.stat().st_size)
    (bundle_copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match=r"hicalm\.pt does not fit this bundle .*512.*384|hicalm\.pt does not fit this bundle .*384.*512"):
        SearchService.from_bundle(bundle_copy)


def test_long_query_beyond_encoder_context(service):
    text = " ".join(["A stormy seascape in grey tones with crashing waves and a small boat on the horizon."] * 20)
    assert 1000 < len(text) <= 6000
    for ranker in service.rankers():
        assert service.search(text=text, k=3, ranker=ranker)["results"]


def test_one_sentence_longer_than_the_encoder_context(service):
    """~380 words without a full stop: more than MiniLM's 256 tokens in one sentence; it is truncated, not an error."""
    text = " ".join(["sea"] * 190 + ["sky"] * 190)  # 380 words, 1,519 characters
    assert len(text) <= 6000
    for ranker in service.rankers():
        assert service.search(text=text, k=3, ranker=ranker)["results"]


def test_text_splitting():
    from backend.data.text import split_paragraphs, split_sentences
    assert split_sentences("One. Two!  Three?") == ["One.", "Two!", "Three?"]
    assert split_sentences("no punctuation at all") == ["no punctuation at all"]
    pars = split_paragraphs("A museum of the sea. In the first room, there are 2 paintings. A wave. "
                            "In the second room, there are 1 paintings. A boat.")
    assert [len(p) for p in pars] == [1, 2, 2]


def test_short_queries_are_cut_into_the_rooms_they_name():
    from backend.data.text import is_description, split_query
    assert split_query("a harbour with boats in sepia, then ancient ruins") == [["a harbour with boats in sepia"],
                                                                                 ["ancient ruins"]]
    assert split_query("a room of stormy seas and a room of flowers") == [["a room of stormy seas"], ["a room of flowers"]]
    # every connector people use cuts a clause; each clause finds its own best room (late interaction), so over-cutting
    # one room ("snowy mountains and a forest") costs little, while a lone modifier word stays with its neighbour
    assert split_query("snowy mountains and a forest in deep blues") == [["snowy mountains"], ["a forest in deep blues"]]
    assert split_query("orange flowers plus a grey cubist forest, also pastel animals") == [
        ["orange flowers"], ["a grey cubist forest"], ["pastel animals"]]
    assert split_query("starts with sepia dunes and the last one is a night city") == [["sepia dunes"], ["a night city"]]
    assert split_query("teal and navy mountains") == [["teal navy mountains"]]
    assert split_query("Ruined temple columns, grey") == [["Ruined temple columns grey"]]
    assert split_query("grey") == [["grey"]]
    description = "A museum. In the first room, there are 2 paintings. A wave. A boat."
    assert is_description(split_query(description)) and split_query(description)[1][0].startswith("In the first room")


def test_hicalm_query_parts_and_weights(service):
    rk = service.engine.rankers["hicalm"]
    short = rk.encode_text("a room of stormy seas, then a room of flowers")
    assert short.parts.shape[0] == 2 and short.room_weight == rk.SHORT_QUERY_ROOM_WEIGHT
    info = service.collection.metaverses[0]
    full = rk.encode_text("\n\n".join(info.paragraphs))
    assert full.parts.shape[0] == len(info.rooms) and full.room_weight == rk.DESCRIPTION_ROOM_WEIGHT
    out = service.search(text="a room of stormy seas, then a room of flowers", k=5, ranker="hicalm")
    assert all(abs(sum(r["contribution"] for r in h["rooms"]) - 1) < 1e-3 for h in out["results"])
