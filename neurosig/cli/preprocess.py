"""``neurosig preprocess INPUT... --out DIR``: recordings → windows in a shard store."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "preprocess",
        help="preprocess recordings (files or folders) into a shard store",
        description="Read recordings (EDF/BDF/GDF/FIF/BrainVision/EEGLAB/NIfTI + atlas), run the preprocessing "
        "pipeline and write windows into a shard store (memory-mapped arrays + manifest.csv). Rerunning skips "
        "files already done with the same pipeline.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files or folders (folders are searched recursively)")
    p.add_argument("--out", required=True, metavar="DIR", help="store folder (created if missing)")
    p.add_argument("--config", metavar="YAML", help="pipeline config (e.g. configs/preprocess/default.yaml or preprocess/debug.yaml)")
    p.add_argument("--on-error", choices=("raise", "warn", "skip"), default="raise",
                   help="a bad file: stop (raise), log and go on (warn), go on quietly (skip); failures go to DIR/errors.csv")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="worker processes (default 1)")
    p.add_argument("--positions", metavar="auto|none|FILE", help="sensor positions: auto (file's own, else standard names), none, or a montage file")
    p.add_argument("--adapter", metavar="NAME", help="corpus adapter (neurosig.datasets.ADAPTERS); INPUT is then the corpus root")
    p.add_argument("--atlas", metavar="FILE", help="parcel atlas (3D label NIfTI) for fMRI inputs")
    p.add_argument("--backend", choices=("process", "ray"), default="process", help="parallel backend")
    p.add_argument("--dataset", metavar="NAME", help="dataset name written in the manifest (replaces the adapter's; "
                   "a TUH/CHB-MIT/Sleep-EDF corpus keeps a name the leakage guard knows)")
    p.add_argument("--json", metavar="PATH", help="write the build report as JSON")
    p.add_argument("--exclude-subjects-of", action="append", metavar="STORE", default=None,
                   help="leave out every subject of this (evaluation) store, e.g. TUAB patients from a TUEG "
                        "pretraining store; repeatable (neurosig.datasets.leakage)")
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    import sys
    from dataclasses import replace

    from neurosig.datasets import ShardStore, build_store
    from neurosig.preprocessing import PipelineConfig

    cfg = PipelineConfig.from_yaml(args.config) if args.config else PipelineConfig()
    if args.adapter and not args.config:  # the corpus's own defaults (window length, labels, channel types)
        from neurosig.datasets.build import adapter_config

        cfg = adapter_config(args.adapter, args.inputs)
    if args.dataset:
        cfg = replace(cfg, dataset=args.dataset)
    inputs, adapter = args.inputs, args.adapter
    if args.exclude_subjects_of:  # cross-corpus leakage guard
        from neurosig.datasets.leakage import exclude_from_inputs

        inputs, dropped = exclude_from_inputs(args.inputs, args.exclude_subjects_of, adapter=args.adapter, dataset=cfg.dataset,
                                              rename=args.dataset)
        adapter = None
        for name, paths in dropped.items():
            print(f"left out {len(paths)} file(s) whose subjects are in {name}")
    report = build_store(inputs, args.out, config=cfg, jobs=args.jobs, on_error=args.on_error,
                         positions=args.positions, backend=args.backend, adapter=adapter,
                         progress=not getattr(args, "quiet", False) and sys.stderr.isatty(), atlas=args.atlas,
                         dataset=args.dataset or None)
    store = ShardStore(args.out)
    print(f"store {args.out}: {report.n_files} file(s): {report.n_processed} processed (+{report.n_windows_added} "
          f"windows), {report.n_cached} already done, {report.n_failed} failed, in {report.seconds:.1f} s "
          f"({report.files_per_s:.2f} files/s, every listed file counted); the store holds {len(store)} windows")
    if report.n_failed:
        print(f"failed files are listed in {args.out}/errors.csv")
    if getattr(report, "n_empty", 0):  # read without error but cut into no window (e.g. no event matched)
        print(f"{report.n_empty} file(s) gave 0 windows; the log above and {args.out}/build_report.json say why")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report.to_dict(), fh, indent=2, default=str)
    return 0
