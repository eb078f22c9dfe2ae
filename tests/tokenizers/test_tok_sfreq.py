"""The sampling rate is part of the encode contract: data at another rate than the tokenizer's
``config.sfreq`` raises a one-line NeurosigError on every path (it used to be tokenized silently
by ``encode``/``embed``, ``tokenizer encode``, ``pretrain fit``/``generate`` and ``finetune fit``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurosig import NeurosigError
from neurosig.tokenizers import build_tokenizer

SMALL_RVQ = {"kernel_sizes": [5, 25], "branch_channels": 8, "code_dim": 16, "n_levels": 2, "codebook_size": 32, "hidden": 64,
             "sensors": {"name_free": True, "hidden": 32}}
SMALL_TF = {"freq_dim": 16, "freq_layers": 1, "freq_heads": 2, "time_channels": 8, "code_dim": 16, "codebook_size": 32, "hidden": 64,
            "sensors": {"name_free": True, "hidden": 32}}
MSG = r"sfreq 100 Hz differs from the tokenizer's sfreq 200 Hz; re-run preprocessing with resample_sfreq: 200"


def _x(b=2, c=3, t=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 30 * torch.randn(b, c, t, generator=g)


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer("rvq", SMALL_RVQ).eval()


def test_encode_embed_decode_check_the_rate(tok):
    x = _x()
    with pytest.raises(NeurosigError, match=MSG):
        tok.encode(x, sfreq=100.0)
    with pytest.raises(NeurosigError, match=MSG):
        tok.embed(x, sfreq=torch.full((2,), 100.0))  # a (B,) tensor, as collate_windows gives
    codes = tok.encode(x, sfreq=torch.full((2,), 200.0))
    torch.testing.assert_close(codes, tok.encode(x))  # None: documented as "already at the rate", unchecked
    with pytest.raises(NeurosigError, match=r"decode sfreq 100 Hz differs"):
        tok.decode(codes, sfreq=100.0)
    assert tok.decode(codes, sfreq=200.0).shape == (2, 3, 400)


def test_every_window_of_a_batch_is_checked(tok):
    # the old check read only the first window's rate: a mixed batch went through
    with pytest.raises(NeurosigError, match=r"batch sfreq 100 Hz differs from the tokenizer's sfreq 200 Hz"):
        tok({"x": _x(), "sfreq": torch.tensor([200.0, 100.0])})
    with pytest.raises(NeurosigError, match=r"batch sfreq 100 Hz differs"):
        tok.encode(_x(), sfreq=torch.tensor([200.0, 100.0]))


def test_tf_spec_targets_check_the_rate():
    tf = build_tokenizer("tf", SMALL_TF).eval()
    with pytest.raises(NeurosigError, match=MSG):
        tf.spec_targets(_x(), sfreq=100.0)
    with pytest.raises(NeurosigError, match=MSG):
        tf.encode(_x(), sfreq=100.0)


def test_check_sfreq_helper(tok):
    from neurosig.tokenizers import check_sfreq

    check_sfreq(tok, np.array([200.0, 200.0]), source="store s")
    check_sfreq(None, 100.0)  # no configured rate: anything goes
    check_sfreq(tok, None)  # no rate known: not checked
    with pytest.raises(NeurosigError, match=r"^store s sfreq 100, 256 Hz differs .*resample_sfreq: 200 .*sfreq=100 Hz") as e:
        check_sfreq(tok, [200.0, 256.0, 100.0], source="store s")
    assert "\n" not in str(e.value)
    with pytest.raises(NeurosigError, match=r"sfreq nan Hz differs"):
        check_sfreq(200.0, float("nan"))


def test_tokenize_batch_and_foundation_embed_pass_the_batch_rate(tok):
    from neurosig.models import tokenize_batch
    from neurosig.training.pretrain import ModelSpec, build_model

    model = build_model(ModelSpec(preset="tiny"), tok)
    batch = {"x": _x(), "ch_mask": torch.ones(2, 3, dtype=torch.bool), "sfreq": torch.full((2,), 100.0)}
    with pytest.raises(NeurosigError, match=MSG):
        tokenize_batch(batch, tok)
    with pytest.raises(NeurosigError, match=MSG):
        model.embed(batch, tok)
    h, _ = model.embed({**batch, "sfreq": torch.full((2,), 200.0)}, tok)
    assert h.shape[:3] == (2, 3, 2)


# ------------------------------------------------------------------ stores, training and the CLI
@pytest.fixture(scope="module")
def store100(tmp_path_factory):
    """A labelled 100 Hz store (two subjects per class, 2 s windows)."""
    from neurosig.datasets import FileSpec, build_store
    from neurosig.io.synthetic import synthetic_eeg, write_edf

    d = tmp_path_factory.mktemp("sf")
    specs = []
    for i in range(4):
        f = write_edf(d / f"sub-{i}.edf", ["Fp1", "Cz", "O2"], 200.0, 8, synthetic_eeg(3, 1600, 200.0, seed=i))
        specs.append(FileSpec(f, subject=f"s{i}", label=i % 2))
    cfg = dict(l_freq=1.0, h_freq=40.0, notch=None, resample_sfreq=100.0, chunk_s=10.0, window={"length_s": 2.0})
    build_store(specs, d / "store", config=cfg, progress=False)
    return d / "store"


@pytest.fixture(scope="module")
def pretrained(tok, tmp_path_factory):
    """A pretrained directory (model + 200 Hz tokenizer) with both objectives."""
    from neurosig.training.pretrain import ModelSpec, build_model

    d = tmp_path_factory.mktemp("pre") / "model"
    build_model(ModelSpec(preset="tiny", objectives=["masked", "next"]), tok).save_pretrained(d, tokenizer=tok)
    return d


def test_encode_store_rejects_another_rate_before_writing(tok, store100, tmp_path):
    from neurosig.datasets import ShardStore
    from neurosig.training.tokenizer import encode_store

    with pytest.raises(NeurosigError, match=r"store .*store sfreq 100 Hz differs from the tokenizer's sfreq 200 Hz"):
        encode_store(tok, ShardStore(store100), tmp_path / "codes")
    assert not (tmp_path / "codes").exists()


def test_fit_pretrain_rejects_another_rate_before_training(tok, store100, tmp_path):
    from neurosig.training.pretrain import ModelSpec, OptimSpec, PretrainConfig, TrainerSpec, fit_pretrain

    cfg = PretrainConfig(model=ModelSpec(preset="tiny"), optim=OptimSpec(max_steps=2, warmup_steps=0),
                         trainer=TrainerSpec(val_every_n_steps=0, unigram_batches=0))
    with pytest.raises(NeurosigError, match=MSG):
        fit_pretrain(cfg, store100, tmp_path / "run", tokenizer=tok, enable_progress_bar=False)
    assert not (tmp_path / "run" / "checkpoints").exists() and not (tmp_path / "run" / "model").exists()


@pytest.mark.parametrize("cmd", ["encode", "generate", "finetune"])
def test_cli_paths_give_one_line(cmd, tok, pretrained, store100, tmp_path, capsys):
    from neurosig._utils.logging import get_logger
    from neurosig.cli.main import main
    from neurosig.config import CONFIG_DIR

    tok_dir = pretrained / "tokenizer"
    out = tmp_path / "out"
    args = {
        "encode": ["tokenizer", "encode", "--model", str(tok_dir), "--data", str(store100), "--out", str(out)],
        "generate": ["pretrain", "generate", "--model", str(pretrained), "--data", str(store100), "--out", str(out)],
        "finetune": ["finetune", "fit", "--model", str(pretrained), "--data", str(store100), "--out", str(out),
                     "--config", str(CONFIG_DIR / "finetune" / "debug.yaml")],
    }[cmd]
    pkg_log = get_logger()
    level = pkg_log.level
    try:
        rc = main(["-q", *args])
    finally:
        pkg_log.setLevel(level)  # -q lowers the package log level for the whole process: restore it
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("neurosig: error: ") and "sfreq 100 Hz differs from the tokenizer's sfreq 200 Hz" in err[0]
    assert "resample_sfreq: 200" in err[0]
    if cmd != "encode":
        assert str(store100) in err[0]  # names the --data folder
    assert not any(out.glob("*.pt")) and not (out / "codes.npy").exists() and not (out / "metrics.json").exists()


def test_slow_data_is_pointed_to_a_tokenizer_for_its_rate():
    from neurosig.tokenizers.base import check_sfreq

    # fMRI at TR 2.5 s: resampling BOLD to 200 Hz is meaningless advice; name the fMRI recipes
    with pytest.raises(NeurosigError, match=r"sfreq 0\.4 Hz differs .* not resampled: use a tokenizer built for sfreq=0\.4 Hz") as e:
        check_sfreq(200.0, torch.full((2,), 0.4))
    msg = str(e.value)
    assert "resample_sfreq" not in msg and "configs/tokenizer/rvq.fmri.yaml" in msg and "configs/pretrain/masked.fmri.yaml" in msg
    assert "\n" not in msg
    with pytest.raises(NeurosigError, match=MSG):  # M/EEG rates keep the resampling advice
        check_sfreq(200.0, 100.0)
