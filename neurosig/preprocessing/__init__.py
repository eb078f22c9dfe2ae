"""Declarative, hashed preprocessing (no torch): ``PipelineConfig`` → ``Pipeline``."""

from neurosig.preprocessing.config import PIPELINE_VERSION, PipelineConfig, WindowConfig
from neurosig.preprocessing.pipeline import TCP_PAIRS, Pipeline, Plan
from neurosig.preprocessing.windows import Window, plan_windows

__all__ = ["PipelineConfig", "WindowConfig", "Pipeline", "Plan", "Window", "plan_windows", "TCP_PAIRS", "PIPELINE_VERSION"]
