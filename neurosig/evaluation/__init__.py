"""neurosig.evaluation: clinical metrics, event detection, subject-disjoint splits, reports."""

from neurosig.evaluation.events import EventConfig, event_metrics, labels_to_events, scores_to_events
from neurosig.evaluation.metrics import (
    METRIC_KEYS,
    aggregate_seeds,
    bootstrap_metrics,
    classification_metrics,
    confusion_matrix,
    grouped_metrics,
    recording_level_metrics,
)
from neurosig.evaluation.reports import write_json, write_report
from neurosig.evaluation.splits import (
    check_disjoint_subjects,
    load_split,
    save_split,
    subject_disjoint_split,
)

__all__ = [
    "METRIC_KEYS", "classification_metrics", "grouped_metrics", "aggregate_seeds", "bootstrap_metrics", "confusion_matrix",
    "recording_level_metrics",
    "EventConfig", "scores_to_events", "event_metrics", "labels_to_events",
    "subject_disjoint_split", "check_disjoint_subjects", "save_split", "load_split",
    "write_json", "write_report",
]
