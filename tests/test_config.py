"""Config loading: YAML 1.2 numbers, and every value checked against its field's annotation with a one-line error."""

import pytest

from neurosig import NeurosigError
from neurosig.config import from_dict, load_yaml
from neurosig.preprocessing.config import PipelineConfig
from neurosig.training.finetune import FinetuneConfig, load_finetune_config
from neurosig.training.pretrain import load_pretrain_config


def test_scientific_notation_without_a_dot_is_a_float(tmp_path):
    """PyYAML's YAML 1.1 rules read `lr: 1e-3` as the string '1e-3', which used to end in a TypeError deep in the
    optimiser checks; YAML 1.2 (and every user) reads it as 0.001."""
    p = tmp_path / "ft.yaml"
    p.write_text("finetune:\n  lr: 1e-4\n  epochs: 1e1\n")
    cfg = load_finetune_config(p)
    assert cfg.lr == pytest.approx(1e-4) and isinstance(cfg.lr, float)
    assert cfg.epochs == 10 and isinstance(cfg.epochs, int)  # an integral float for an int field
    (tmp_path / "y.yaml").write_text("a: 1e-3\nb: -2E+2\nc: 10\nd: 1.5\ne: x1e3\nf: 1.2.3\ng: .inf\n")
    assert load_yaml(tmp_path / "y.yaml") == {"a": 1e-3, "b": -200.0, "c": 10, "d": 1.5, "e": "x1e3", "f": "1.2.3",
                                               "g": float("inf")}


def test_a_single_name_where_a_list_is_expected_is_a_list_of_one():
    """`exclude: Fp1` used to become the letters F, p, 1 and keep Fp1 in the store."""
    cfg = from_dict(PipelineConfig, {"exclude": "Fp1", "include": "Cz"})
    assert cfg.exclude == ["Fp1"] and cfg.include == ["Cz"]


@pytest.mark.parametrize("data, match", [
    ({"chunk_s": "60"}, r"pipe\.yaml: chunk_s must be a number, got the string '60'; write the number without quotes"),
    ({"saturation_fraction": "x"}, r"saturation_fraction must be a number"),
    ({"window": 2.0}, r"pipe\.yaml: window must be a mapping of WindowConfig keys \(.*length_s"),
    ({"window": {"length_s": "2"}}, r"pipe\.yaml: window\.length_s must be a number"),
    ({"exclude": 3}, r"exclude must be a list"),
    ({"exclude": ["Fp1", 2.5]}, None),  # a number as a channel name is kept as its text
])
def test_wrong_types_are_one_line_errors_naming_the_key(data, match):
    if match is None:
        assert from_dict(PipelineConfig, data, where="pipe.yaml").exclude == ["Fp1", "2.5"]
        return
    with pytest.raises(NeurosigError, match=match) as err:
        from_dict(PipelineConfig, data, where="pipe.yaml")
    assert "\n" not in str(err.value)


def test_finetune_and_tokenizer_types(tmp_path):
    with pytest.raises(NeurosigError, match=r"fractions must be a list"):
        from_dict(FinetuneConfig, {"fractions": 0.7})
    with pytest.raises(NeurosigError, match=r"epochs must be an integer, got 2\.5"):
        from_dict(FinetuneConfig, {"epochs": 2.5})
    with pytest.raises(NeurosigError, match=r"must be true or false"):
        from_dict(FinetuneConfig, {"class_weighting": "yes"})
    from neurosig.tokenizers import build_tokenizer

    with pytest.raises(NeurosigError, match=r"kernel_sizes must be a list \(e\.g\. \[5\]\)"):
        build_tokenizer("rvq", {"kernel_sizes": 5})


def test_nested_pretrain_keys_are_named_with_their_path(tmp_path):
    p = tmp_path / "pre.yaml"
    p.write_text("model:\n  backbone:\n    d_model: big\n")
    with pytest.raises(NeurosigError, match=r"model\.backbone: d_model must be an integer, got the string 'big'"):
        load_pretrain_config(p)
    # the model part is checked when the config loads, not after a tokenizer has been fitted for it
    p.write_text("model:\n  backbone:\n    d_modle: 32\n")
    with pytest.raises(NeurosigError, match=r"model\.backbone: unknown key\(s\) d_modle for BackboneConfig; valid keys: .*d_model"):
        load_pretrain_config(p)
    p.write_text("model:\n  mask_block: 0\n")
    with pytest.raises(NeurosigError, match=r"mask_block must be an integer >= 1, got 0"):
        load_pretrain_config(p)
    p.write_text("optim:\n  lr: 3e-4\n  betas: [0.9, 0.95]\n")
    cfg = load_pretrain_config(p)
    assert cfg.optim.lr == pytest.approx(3e-4) and list(cfg.optim.betas) == [0.9, 0.95]
    p.write_text("optim:\n  betas: '0.9'\n")
    with pytest.raises(NeurosigError, match=r"optim\.betas must be a list"):
        load_pretrain_config(p)


@pytest.mark.parametrize("yaml_text, match", [
    ("trainer:\n  precision: '17'\n", r"trainer\.precision='17' is not a Lightning precision; use one of auto, 32-true"),
    ("trainer:\n  val_every_n_steps: -5\n", r"trainer\.val_every_n_steps must be an integer >= 0, got -5"),
    ("trainer:\n  max_minutes: '5'\n", r"trainer\.max_minutes must be a number, got the string '5'"),
    ("trainer:\n  loggers: [csv, tensorbord]\n", r"trainer\.loggers has 'tensorbord'; choose from csv, tensorboard, wandb"),
    ("data:\n  num_workers: -1\n", r"data\.num_workers must be an integer >= 0"),
])
def test_trainer_and_data_settings_fail_when_the_config_loads(tmp_path, yaml_text, match):
    """These used to surface as Lightning/torch exceptions after the tokenizer had been fitted for the run."""
    p = tmp_path / "pre.yaml"
    p.write_text(yaml_text)
    with pytest.raises(NeurosigError, match=match):
        load_pretrain_config(p)


def test_precision_given_as_a_number_is_lightnings_name(tmp_path):
    p = tmp_path / "pre.yaml"
    p.write_text("trainer:\n  precision: 32\n  loggers: csv\n")
    cfg = load_pretrain_config(p)
    assert cfg.trainer.precision == "32" and cfg.trainer.loggers == ["csv"]


def test_config_paths_and_finetune_block(tmp_path):
    with pytest.raises(NeurosigError, match=r"is a folder; pass one YAML file in it"):
        load_yaml(tmp_path)
    p = tmp_path / "ft.yaml"
    p.write_text("epochs: 3\nfinetune:\n  lr: 1e-4\n")  # `epochs` beside the block used to be dropped silently
    with pytest.raises(NeurosigError, match=r"top-level key\(s\) epochs beside the 'finetune:' block would be ignored"):
        load_finetune_config(p)
    p.write_text("epochs: 3\nlr: 1e-4\n")
    assert load_finetune_config(p).epochs == 3
