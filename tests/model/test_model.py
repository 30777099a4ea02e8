"""HiCALM modules, batching, padding invariance, checkpoints and the reference-format loader."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from backend.model.hicalm import (VARIANTS, CollectionTensors, HiCALMConfig, build_model, check_compatible,
                           describe_paragraphs, encode_descriptions, encode_sentences_as_paragraphs, encode_metaverses_visual, encode_rooms_visual, encode_text_paragraphs,
                           leave_one_room_out_visual, load_checkpoint, load_reference_checkpoint, save_checkpoint,
                           to_reference_state_dicts)
from backend.data.synthetic import make_synthetic_collection

DIM = 16


@pytest.fixture(scope="module")
def coll():
    # metaverse 0 has 1 room, metaverse 1 has 40 rooms
    return make_synthetic_collection(24, seed=1, dim=DIM, room_counts=[1, 40] + [3, 5] * 11)


def _model(name, **kw):
    torch.manual_seed(0)
    return build_model(name, image_dim=DIM, hidden=32, **kw).eval()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_forward(coll, name):
    tensors = CollectionTensors(coll)
    out = _model(name)(tensors.visual_batch([0, 1, 2]), tensors.text_batch([0, 1, 2]))
    assert out.metaverse_vecs.shape == (3, 32) and out.description_vecs.shape == (3, 32)
    assert out.room_vecs.shape == (3, 40, 32) and out.room_text_vecs.shape == (3, 40, 32)
    assert out.room_mask.sum(1).tolist() == [1, 40, 3]
    assert torch.isfinite(out.metaverse_vecs).all() and torch.isfinite(out.description_vecs).all()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_padding_never_leaks(coll, name):
    """A metaverse encodes the same alone and next to a 40-room one (masked means, packed GRUs)."""
    model, tensors = _model(name), CollectionTensors(coll)
    with torch.no_grad():
        for m in (0, 2):
            alone_v, alone_r = model.encode_visual(tensors.visual_batch([m]))
            batch_v, batch_r = model.encode_visual(tensors.visual_batch([m, 1]))
            torch.testing.assert_close(alone_v[0], batch_v[0], atol=1e-5, rtol=1e-5)
            n = alone_r.shape[1]
            torch.testing.assert_close(alone_r[0], batch_r[0, :n], atol=1e-5, rtol=1e-5)
            assert torch.all(batch_r[0, n:] == 0)
            alone_t, _ = model.encode_text(tensors.text_batch([m]))
            batch_t, _ = model.encode_text(tensors.text_batch([m, 1]))
            torch.testing.assert_close(alone_t[0], batch_t[0], atol=1e-5, rtol=1e-5)


def test_batch_layout_and_last_sentence_included(coll):
    tensors = CollectionTensors(coll)
    tb = tensors.text_batch([2])
    pars = [coll.paragraph_sentences(p) for p in coll.paragraph_range(2)]
    assert tb.paragraph_mask.sum().item() == len(pars)
    assert tb.sentence_mask[0].sum(-1).tolist()[:len(pars)] == [len(p) for p in pars]
    last = pars[-1][-1]
    np.testing.assert_allclose(tb.sentence_embs[0, len(pars) - 1, len(pars[-1]) - 1].numpy(), last)
    model = _model("hicalm-rnn")
    base, _ = encode_text_paragraphs(model, pars)
    changed = [p.copy() for p in pars]
    changed[-1][-1] = -changed[-1][-1]
    assert not np.allclose(base, encode_text_paragraphs(model, changed)[0])   # the last sentence counts


def test_inference_helpers_agree(coll):
    model = _model("hicalm-rnn")
    metaverse_vecs, room_vecs = encode_metaverses_visual(model, coll)
    assert metaverse_vecs.shape == (24, 32) and room_vecs.shape == (coll.n_rooms, 32)
    np.testing.assert_allclose(np.linalg.norm(metaverse_vecs, axis=1), 1, atol=1e-5)
    description_vecs, room_text_vecs = encode_descriptions(model, coll)
    assert description_vecs.shape == (24, 32) and room_text_vecs.shape == (coll.n_rooms, 32)
    d, pv = encode_text_paragraphs(model, [coll.paragraph_sentences(p) for p in coll.paragraph_range(3)])
    np.testing.assert_allclose(d, description_vecs[3], atol=1e-5)
    mv, rv = encode_rooms_visual(model, [coll.room_images(r) for r in coll.room_range(3)])
    np.testing.assert_allclose(mv, metaverse_vecs[3], atol=1e-5)
    np.testing.assert_allclose(rv, room_vecs[list(coll.room_range(3))], atol=1e-5)


@pytest.mark.parametrize("name", ["hicalm-rnn", "hicalm-avg", "hicalm-monornn", "hicalm-txtavg"])
def test_spans_encoded_once_then_described_as_a_subset(name):
    """A typed query's spans: their paragraph vectors once, then the description of some of them, as
    encode_text_paragraphs gives for just those one-sentence paragraphs (on the CPU the former is numpy's GRU, the
    latter torch's)."""
    model = build_model(name, image_dim=DIM, hidden=32).eval()
    sentences = np.random.default_rng(0).normal(size=(6, model.config.sentence_dim)).astype(np.float32)
    raw, paragraph_vecs = encode_sentences_as_paragraphs(model, sentences)
    _, expected = encode_text_paragraphs(model, [s[None, :] for s in sentences])
    np.testing.assert_allclose(paragraph_vecs, expected, atol=1e-5)
    for rows in ([0], [4, 1], [0, 2, 5]):
        expected_description, _ = encode_text_paragraphs(model, [sentences[i][None, :] for i in rows])
        np.testing.assert_allclose(describe_paragraphs(model, raw, rows), expected_description, atol=1e-5)
    with pytest.raises(ValueError, match="expected"):
        encode_sentences_as_paragraphs(model, sentences[:0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: off the CPU the query path stays in torch")
def test_the_query_path_on_cuda_matches_the_cpu_numpy_path():
    model = build_model("hicalm-rnn", image_dim=DIM, hidden=32).eval()
    sentences = np.random.default_rng(1).normal(size=(5, model.config.sentence_dim)).astype(np.float32)
    raw, vecs = encode_sentences_as_paragraphs(model, sentences)
    raw_gpu, vecs_gpu = encode_sentences_as_paragraphs(model.cuda(), sentences)
    np.testing.assert_allclose(vecs_gpu, vecs, atol=1e-2)                    # fp16 autocast on CUDA
    np.testing.assert_allclose(describe_paragraphs(model, raw_gpu, [3, 0]),
                               describe_paragraphs(model.cpu(), raw, [3, 0]), atol=1e-2)


@pytest.mark.parametrize("name", ["hicalm-rnn", "hicalm-avg"])
def test_leave_one_room_out_batched(coll, name):
    model = _model(name)
    idx = [0, 2, 3, 1]
    loo = leave_one_room_out_visual(model, coll, idx)
    assert [v.shape for v in loo] == [(1, 32), (3, 32), (5, 32), (40, 32)]
    assert np.all(loo[0] == 0)                         # a one-room metaverse has nothing left
    rooms = [coll.room_images(r) for r in coll.room_range(3)]
    for r in range(len(rooms)):
        expected, _ = encode_rooms_visual(model, rooms[:r] + rooms[r + 1:])
        np.testing.assert_allclose(loo[2][r], expected, atol=1e-5)
    np.testing.assert_allclose(leave_one_room_out_visual(model, rooms), loo[2], atol=1e-5)


def test_config_mismatch_names_both_numbers(coll):
    with pytest.raises(ValueError, match=r"512.*16|16.*512"):
        check_compatible(HiCALMConfig(image_dim=512), coll)
    with pytest.raises(ValueError, match="512"):
        encode_metaverses_visual(build_model("hicalm-rnn", image_dim=512), coll)
    with pytest.raises(ValueError, match="room_vis_agg"):
        HiCALMConfig(image_dim=8, room_vis_agg="lstm")
    with pytest.raises(ValueError, match="hicalm-rnn"):
        build_model("hicalm-xyz", image_dim=8)


def test_checkpoint_round_trip(coll, tmp_path):
    model = _model("hicalm-monornn")
    path = save_checkpoint(model, tmp_path / "m.pt", meta={"best_epoch": 3})
    loaded, meta = load_checkpoint(path)
    assert meta == {"best_epoch": 3} and loaded.config == model.config
    np.testing.assert_array_equal(encode_metaverses_visual(model, coll)[0], encode_metaverses_visual(loaded, coll)[0])
    np.testing.assert_array_equal(encode_descriptions(model, coll)[0], encode_descriptions(loaded, coll)[0])


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_reference_format_round_trip(coll, tmp_path, name):
    model = _model(name)
    torch.save(to_reference_state_dicts(model), tmp_path / "ref.pt")
    loaded = load_reference_checkpoint(tmp_path / "ref.pt", model.config)
    np.testing.assert_array_equal(encode_metaverses_visual(model, coll)[0], encode_metaverses_visual(loaded, coll)[0])
    np.testing.assert_array_equal(encode_descriptions(model, coll)[0], encode_descriptions(loaded, coll)[0])


class _RefVisual(nn.Module):   # the authors' MyHierBaseline_v3 parameter layout (rnn)
    def __init__(self, d, h):
        super().__init__()
        self.trf_photo, self.trf_room = nn.Linear(d, h), nn.Linear(h, h)
        self.trf_museum = nn.GRU(h, h, batch_first=True, bidirectional=True)


class _RefText(nn.Module):     # the authors' HierGRUNet parameter layout ("avg": unused lin_museum)
    def __init__(self, d, h):
        super().__init__()
        self.gru_room = nn.GRU(d, h, batch_first=True, bidirectional=True)
        self.lin_museum = nn.Linear(h, h)


def test_reference_checkpoint_written_by_hand(coll, tmp_path):
    torch.manual_seed(3)
    vis, txt = _RefVisual(DIM, 32), _RefText(DIM, 32)
    torch.save({"best_model_0": vis.state_dict(), "best_model_1": txt.state_dict()}, tmp_path / "ref.pt")
    cfg = HiCALMConfig(image_dim=DIM, hidden=32, room_vis_agg="rnn", room_txt_agg="avg")
    model = load_reference_checkpoint(tmp_path / "ref.pt", cfg)
    torch.testing.assert_close(model.visual.image_proj.weight, vis.trf_photo.weight)
    torch.testing.assert_close(model.visual.metaverse_gru.weight_hh_l0_reverse, vis.trf_museum.weight_hh_l0_reverse)
    torch.testing.assert_close(model.text.paragraph_gru.weight_ih_l0, txt.gru_room.weight_ih_l0)
    # the reference's room vector for one room: ReLU(trf_room(mean ReLU(trf_photo(images))))
    room = int(coll.metaverse_room_offsets[2]) + 1   # second room of metaverse 2
    images = torch.as_tensor(coll.room_images(room))
    expected = torch.relu(vis.trf_room(torch.relu(vis.trf_photo(images)).mean(0)))
    _, room_vecs = model.encode_visual(CollectionTensors(coll).visual_batch([2]))
    torch.testing.assert_close(room_vecs[0, 1], expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="99"):
        load_reference_checkpoint(tmp_path / "ref.pt", HiCALMConfig(image_dim=99, hidden=32, room_txt_agg="avg"))
