"""Tiny random language models (no download) with a fast tokenizer trained in memory."""

from __future__ import annotations

import os
import sys

import pytest


def _import_real_hf_tokenizers() -> None:
    """Import Hugging Face ``tokenizers``/``transformers`` before ``tests/`` can shadow them.

    pytest puts ``tests/`` on ``sys.path`` (for ``tests/conftest.py``); a ``tests/tokenizers``
    package would then hide the Hugging Face ``tokenizers`` package that ``transformers`` needs.
    """
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    mod = sys.modules.get("tokenizers")
    if mod is not None and os.path.abspath(getattr(mod, "__file__", "") or "").startswith(tests_dir):
        del sys.modules["tokenizers"]
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != tests_dir]
    try:
        import tokenizers  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        pass
    finally:
        sys.path[:] = saved


_import_real_hf_tokenizers()

WORDS = (
    "the dog chased cats a girl sang songs my father reads books old men drink tea "
    "her brother plays chess wonderful extraordinary neighbourhoods"
).split()


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE(unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    # a small vocabulary so that long words split into several tokens
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["[UNK]", "[PAD]", "[EOS]"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tk.train_from_iterator([" ".join(WORDS)] * 3, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]")


def _bert_tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tk.normalizer = normalizers.BertNormalizer()
    tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=120, special_tokens=["[UNK]", "[PAD]", "[CLS]", "[SEP]"])
    tk.train_from_iterator([" ".join(WORDS)] * 3, trainer)
    tk.post_processor = TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", tk.token_to_id("[CLS]")), ("[SEP]", tk.token_to_id("[SEP]"))])
    return PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]")


def build_tiny(kind: str, seed: int = 0):
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    if kind == "bert":
        tok = _bert_tokenizer()
        cfg = tf.BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24, max_position_embeddings=64)
        model = tf.BertModel(cfg)
    else:
        tok = _tokenizer()
        if kind == "llama":
            cfg = tf.LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=24, num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
            model = tf.LlamaForCausalLM(cfg)
        elif kind == "gpt2":
            cfg = tf.GPT2Config(vocab_size=len(tok), n_embd=16, n_layer=2, n_head=2, n_positions=64, n_inner=24)
            model = tf.GPT2LMHeadModel(cfg)
        else:
            raise ValueError(kind)
    model.eval()
    return model, tok


@pytest.fixture(scope="session")
def tiny_models():
    pytest.importorskip("transformers")
    return {k: build_tiny(k) for k in ("llama", "gpt2", "bert")}


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, tiny_models):
    d = tmp_path_factory.mktemp("tiny_llama")
    model, tok = tiny_models["llama"]
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d
