"""neurosig.probes: brain–LLM alignment probes.

* :mod:`neurosig.probes.llm` — offline model loading, MLP/residual hooks, per-word averaging.
* :mod:`neurosig.probes.tagging` — HFTP frequency tagging (LLM neurons and brain epochs).
* :mod:`neurosig.probes.encoding` — ridge encoding models (TRF / HRF features, CV penalties).
* :mod:`neurosig.probes.rsa` — RDMs, RDM comparisons, noise ceilings.
* :mod:`neurosig.probes.axes` — brain-grounded ICA axes, adapters and steering.

Submodules are imported lazily (``transformers`` and ``torch`` are only needed by some).
"""
