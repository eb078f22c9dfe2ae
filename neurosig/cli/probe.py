"""``neurosig probe``: brain–LLM alignment probes (tagging, encoding, rsa, axes).

Every sub-command runs offline, writes ``--json PATH`` and PNG plots beside it
(``PATH`` without ``.json`` + ``_<plot>.png``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from neurosig._utils.errors import NeurosigError


def _add_common(p, model_required: bool = True) -> None:
    p.add_argument("--model", required=model_required, help="smollm2-135m, minilm-l6, a local HF directory or a .gguf file")
    p.add_argument("--json", metavar="PATH", required=True, help="write the results as JSON here (plots beside it)")
    p.add_argument("--config", metavar="YAML", help="a probe config (e.g. configs/probe/debug.yaml); CLI flags override it")
    p.add_argument("--seed", type=int, default=None, help="random seed (default from the config)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")


def register(sub) -> None:
    p = sub.add_parser("probe", help="brain–LLM alignment probes: tagging, encoding, rsa, axes")
    ps = p.add_subparsers(dest="probe_command", metavar="PROBE")

    t = ps.add_parser("tagging", help="HFTP frequency tagging of LLM MLP neurons (or brain epochs)")
    _add_common(t, model_required=False)
    t.add_argument("--corpus", help="text file, one 4-word [NP][VP] sentence per line (default: the shipped English corpus)")
    t.add_argument("--n-shuffles", type=int, default=None, help="streams per condition (each a fresh order / word shuffle)")
    t.add_argument("--n-sentences", type=int, default=None, help="sentences per stream (4 words each)")
    t.add_argument("--n-perm", type=int, default=None, help="time shuffles per layer for the permutation null")
    t.add_argument("--layers", default=None, help="comma-separated layer indices (default: all)")
    t.add_argument("--epochs", help="brain epochs instead of a model: .npy/.npz array (trials, channels, time) or a shard-store folder")
    t.add_argument("--sfreq", type=float, help="sampling rate of --epochs in Hz")
    t.set_defaults(func=run_tagging)

    e = ps.add_parser("encoding", help="ridge encoding model from LLM features to a brain recording")
    _add_common(e)
    e.add_argument("--text", help="stimulus text file (default: the shipped corpus read as one story)")
    e.add_argument("--brain", default="neuropycon-fmri", help="'neuropycon-fmri' (bundled fMRI run) or a .npy/.npz (time, targets) array")
    e.add_argument("--tr", type=float, default=None, help="sampling interval of --brain in seconds (fMRI TR)")
    e.add_argument("--modality", choices=("fmri", "meg", "eeg"), default=None)
    e.add_argument("--layers", default=None, help="comma-separated layer indices (default: 4 spread over depth)")
    e.add_argument("--n-folds", type=int, default=None)
    e.set_defaults(func=run_encoding)

    r = ps.add_parser("rsa", help="representational similarity between LLM layers and brain patterns")
    _add_common(r)
    r.add_argument("--corpus", help="sentences (one per line) whose words are the conditions (default: shipped corpus)")
    r.add_argument("--brain", help=".npy/.npz array (subjects, conditions, channels) of brain patterns (default: none, layer×layer RSA)")
    r.add_argument("--rdm", choices=("correlation", "euclidean", "crossnobis"), default=None)
    r.add_argument("--compare", choices=("spearman", "kendall_tau_a", "cosine", "whitened_cosine"), default=None)
    r.set_defaults(func=run_rsa)

    a = ps.add_parser("axes", help="brain-grounded ICA axes, adapters and steering of a causal LM")
    _add_common(a)
    a.add_argument("--epochs", help=".npz with 'epochs' (words, channels, time), 'words', 'sfreq' (default: the bundled EEG set)")
    a.add_argument("--layer", type=int, default=None, help="layer whose residual stream is read and steered")
    a.add_argument("--n-axes", type=int, default=None)
    a.add_argument("--scales", default=None, help="comma-separated steering scales (multiples of the residual norm)")
    a.set_defaults(func=run_axes)
    p.set_defaults(func=lambda args: (p.print_help(), 1)[1])


# ------------------------------------------------------------------------------------ helpers
def _load_cfg(args, section: str):
    from neurosig.config import from_dict, load_yaml
    from neurosig.probes import config as pc

    data = load_yaml(args.config).get(section, {}) if args.config else {}
    return from_dict(getattr(pc, pc.SECTIONS[section]), data, where=f"{args.config or 'defaults'}:{section}")


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _layers(s):
    if s is None:
        return None
    try:
        return [int(v) for v in s.split(",") if v.strip()]
    except ValueError:
        raise NeurosigError(f"--layers {s!r} must be comma-separated integers, e.g. 0,5,10") from None


def _prefix(path: str) -> str:
    """The plot prefix of ``--json PATH``; creates PATH's folder (plots are saved before the JSON)."""
    p = str(path)
    Path(p).parent.mkdir(parents=True, exist_ok=True)
    return p[:-5] if p.endswith(".json") else p


def _write_json(path: str, obj) -> None:
    from neurosig.probes.report import to_jsonable

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(to_jsonable(obj), fh, indent=1)
    os.replace(tmp, path)


def _load_array(path: str, name: str):
    import numpy as np

    if not os.path.isfile(path):
        raise NeurosigError(f"{name} file {path!r} not found; pass a .npy or .npz array")
    arr = np.load(path, allow_pickle=False)
    if hasattr(arr, "files"):
        key = "arr_0" if "arr_0" in arr.files else arr.files[0]
        return arr[key], arr
    return arr, None


def _store_epochs(root: str):
    """All windows of a shard store as epochs ``(n, C, T)`` (equal shapes required) and their sfreq."""
    import numpy as np

    from neurosig.datasets import ShardStore

    store = ShardStore(root)
    if len(store) < 2:
        raise NeurosigError(f"shard store {root!r} holds {len(store)} windows; tagging needs at least 2 epochs")
    items = [store[i] for i in range(len(store))]
    shapes = {it["x"].shape for it in items}
    if len(shapes) != 1:
        raise NeurosigError(f"shard store {root!r} mixes window shapes {sorted(shapes)}; build it with one montage and window length")
    return np.stack([it["x"] for it in items]), float(items[0]["sfreq"])


# ------------------------------------------------------------------------------------ tagging
def run_tagging(args) -> int:
    import dataclasses

    from neurosig.probes import tagging as tg

    cfg = _load_cfg(args, "tagging")
    for flag, v in (("--n-shuffles", args.n_shuffles), ("--n-sentences", args.n_sentences), ("--n-perm", args.n_perm)):
        if v is not None and v < 1:
            raise NeurosigError(f"{flag} must be a positive integer, got {v}")
    over = {k: v for k, v in dict(n_trials=args.n_shuffles, n_sentences=args.n_sentences, n_perm=args.n_perm, seed=args.seed).items() if v is not None}
    cfg = tg.TaggingConfig(**{**dataclasses.asdict(cfg), **over})
    prefix = _prefix(args.json)
    if args.epochs:
        import math

        import numpy as np

        if args.sfreq is not None and not (math.isfinite(args.sfreq) and args.sfreq > 0):
            raise NeurosigError(f"--sfreq must be a positive sampling rate in Hz, got {args.sfreq}")
        if os.path.isdir(args.epochs):
            arr, sf = _store_epochs(args.epochs)
            args.sfreq = args.sfreq or sf
        elif args.sfreq is None:
            raise NeurosigError("--sfreq is required with --epochs (the sampling rate of the epochs in Hz)")
        else:
            arr, _ = _load_array(args.epochs, "--epochs")
        arr = np.asarray(arr)
        if arr.dtype.kind not in "biuf":
            raise NeurosigError(f"--epochs {args.epochs!r} holds a {arr.dtype} array; pass real-valued numbers (trials, channels, time)")
        n_bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        if n_bad:
            raise NeurosigError(f"--epochs {args.epochs!r} holds {n_bad} non-finite value(s) (NaN/inf) of {arr.size}; "
                                "drop or interpolate those trials/channels before tagging")
        res = tg.tag_epochs(arr, args.sfreq, [cfg.sentence_hz, cfg.phrase_hz], n_perm=cfg.n_perm, alpha=cfg.alpha, seed=cfg.seed)
        out = {"source": args.epochs, "sfreq": args.sfreq, "freqs": res["freqs"], "channels": [
            {"channel": c, **{f"{k}_{int(f * 1000)}mHz": float(res[k][c, i]) for k in ("itpc", "p_rayleigh", "p_perm", "snr", "p_snr") for i, f in enumerate(res["freqs"])},
             "sentence": bool(res["sig"][c, 0]), "phrase": bool(res["sig"][c, 1])} for c in range(res["itpc"].shape[0])]}
        out["plots"] = tg.plot_tag_epochs(res, arr, args.sfreq, prefix)
        _write_json(args.json, out)
        print(f"tagging: {int(res['sig'][:, 0].sum())} sentence-rate and {int(res['sig'][:, 1].sum())} phrase-rate channels of {res['itpc'].shape[0]}; wrote {args.json}")
        return 0
    if not args.model:
        raise NeurosigError("pass --model NAME (smollm2-135m, minilm-l6 or a local path) or --epochs FILE --sfreq HZ")
    from neurosig.probes.llm import check_layer_arg, load_model

    layers = _layers(args.layers)
    sents = tg.load_corpus(args.corpus)
    probe = load_model(args.model, device=_device(args.device))
    check_layer_arg(probe, layers, "--layers")
    res = tg.run_llm_tagging(probe, sents, cfg, layers=layers)
    res["config"] = dataclasses.asdict(cfg)
    res["corpus"] = str(args.corpus or tg.DEFAULT_CORPUS)
    res["plots"] = tg.plot_tagging(res, prefix)
    _write_json(args.json, res)
    for c, d in res["conditions"].items():
        tot = sum(l["sentence"] + l["phrase"] + l["both"] for l in d["layers"])
        print(f"{c:>10}: {tot} significant neurons (sentence/phrase/both after BH) over {len(d['layers'])} layers")
    print(f"wrote {args.json}")
    return 0


def run_encoding(args) -> int:
    from neurosig.probes.encoding import run_encoding_cli

    return run_encoding_cli(args, _load_cfg(args, "encoding"), _device(args.device), _layers(args.layers), _prefix(args.json), _write_json)


def run_rsa(args) -> int:
    from neurosig.probes.rsa import run_rsa_cli

    return run_rsa_cli(args, _load_cfg(args, "rsa"), _device(args.device), _prefix(args.json), _write_json, _load_array)


def run_axes(args) -> int:
    from neurosig.probes.axes import run_axes_cli

    return run_axes_cli(args, _load_cfg(args, "axes"), _device(args.device), _prefix(args.json), _write_json, _load_array)
