"""The shipped fMRI recipes build a tokenizer at the bundled run's rate (TR 2.5 s → 0.4 Hz)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from neurosig import NeurosigError
from neurosig.tokenizers import build_tokenizer

ROOT = Path(__file__).resolve().parents[2]


def test_fmri_recipes_tokenize_0p4_hz_parcels():
    tok_cfg = yaml.safe_load((ROOT / "configs/tokenizer/rvq.fmri.yaml").read_text())
    pre_cfg = yaml.safe_load((ROOT / "configs/pretrain/masked.fmri.yaml").read_text())
    assert pre_cfg["tokenizer"]["config"]["sfreq"] == tok_cfg["tokenizer"]["sfreq"] == 0.4
    assert pre_cfg["tokenizer"]["config"]["patch_len"] == tok_cfg["tokenizer"]["patch_len"] == 4
    for kind, cfg in ((tok_cfg["kind"], tok_cfg["tokenizer"]), (pre_cfg["tokenizer"]["kind"], pre_cfg["tokenizer"]["config"])):
        tok = build_tokenizer(kind, cfg).eval()
        x = torch.randn(2, 5, 20)  # z-scored parcels, a 50 s window
        codes = tok.encode(x, sfreq=torch.full((2,), 0.4))
        assert codes.shape[:3] == (2, 5, 5)  # 5 patches of 10 s per parcel
        with pytest.raises(NeurosigError, match="differs from the tokenizer's sfreq 0.4 Hz"):
            tok.encode(x, sfreq=0.5)
