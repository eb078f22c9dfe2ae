"""``neurosig sys-info``: versions, devices and the data cache."""

from __future__ import annotations

import importlib
import platform
import sys


def register(sub) -> None:
    p = sub.add_parser("sys-info", help="print versions, devices and the data cache")
    p.add_argument("--json", metavar="PATH", help="also write the information as JSON")
    p.set_defaults(func=run)


def collect() -> dict:
    info: dict = {"python": sys.version.split()[0], "platform": platform.platform()}
    pkgs = {}
    for name in ("neurosig", "numpy", "scipy", "mne", "torch", "lightning", "torchmetrics", "triton", "transformers", "ray", "aeon"):
        try:
            mod = importlib.import_module(name)
            pkgs[name] = getattr(mod, "__version__", "?")
        except Exception:
            pkgs[name] = None
    info["packages"] = pkgs
    try:
        import torch

        info["cuda_available"] = bool(torch.cuda.is_available())
        info["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] or ["cpu"]
        info["torch_threads"] = torch.get_num_threads()
    except Exception:  # pragma: no cover
        info["cuda_available"] = False
        info["devices"] = ["cpu"]
    try:
        from neurosig.datasets.bundled import data_home

        info["data_cache"] = str(data_home())
    except Exception:
        info["data_cache"] = None
    return info


def run(args) -> int:
    info = collect()
    width = 16
    print(f"{'python':<{width}} {info['python']}  ({info['platform']})")
    for k, v in info["packages"].items():
        print(f"{k:<{width}} {v if v else 'not installed'}")
    print(f"{'cuda':<{width}} {info['cuda_available']}  devices: {', '.join(info['devices'])}")
    print(f"{'data cache':<{width}} {info['data_cache']}")
    if args.json:
        import json

        with open(args.json, "w") as fh:
            json.dump(info, fh, indent=2)
    return 0
