"""Pretraining from a saved tokenizer: a tokenizer.path (or --tokenizer) without one is a one-line error naming it."""

from __future__ import annotations

import pytest

from neurosig import NeurosigError
from neurosig.models._testing import ToyTokenizer
from neurosig.training.pretrain import PretrainConfig, SyntheticDataModule, TokenizerSpec, fit_pretrain, obtain_tokenizer


def test_missing_tokenizer_path_names_the_config_key(tmp_path):
    cfg = PretrainConfig()
    cfg.tokenizer.path = str(tmp_path / "nowhere")
    with pytest.raises(NeurosigError) as err:
        fit_pretrain(cfg, SyntheticDataModule(n_train=8, n_val=0, batch_size=4), tmp_path / "run", enable_progress_bar=False)
    msg = str(err.value)
    assert "tokenizer.path" in msg and "does not exist" in msg and "--model" not in msg and "\n" not in msg
    (tmp_path / "empty").mkdir()
    with pytest.raises(NeurosigError, match=r"tokenizer.path in the config: .*holds no config.json"):
        obtain_tokenizer(TokenizerSpec(path=str(tmp_path / "empty")), None, tmp_path)
    with pytest.raises(NeurosigError, match=r"^--tokenizer: .*holds no config.json") as err:
        obtain_tokenizer(TokenizerSpec(), None, tmp_path, tokenizer=str(tmp_path / "empty"))
    assert "--model" not in str(err.value)


def test_saved_tokenizer_still_loads(tmp_path):
    ToyTokenizer().save_pretrained(tmp_path / "tok")
    assert isinstance(obtain_tokenizer(TokenizerSpec(path=str(tmp_path / "tok")), None, tmp_path), ToyTokenizer)
