import math

import numpy as np
import pytest

from neurosig import NeurosigError
from neurosig.evaluation import EventConfig, event_metrics, labels_to_events, scores_to_events


def test_scores_to_events_merge_and_min_duration():
    starts = np.arange(20) * 2.0  # 2 s windows back to back
    s = np.zeros(20)
    s[[2, 3, 5]] = 0.9  # [4,8) and [10,12): gap 2 s → merged with gap 3
    s[15] = 0.8  # single window [30, 32)
    ev = scores_to_events(s, starts, 2.0, EventConfig(threshold=0.5, merge_gap_s=3.0, min_duration_s=0.0))
    assert ev == [(4.0, 12.0), (30.0, 32.0)]
    ev = scores_to_events(s, starts, 2.0, EventConfig(threshold=0.5, merge_gap_s=1.0, min_duration_s=3.0))
    assert ev == [(4.0, 8.0)]  # not merged; 2 s events dropped


def test_event_metrics_hand_built():
    true = [(100.0, 160.0), (1000.0, 1100.0)]
    pred = [(150.0, 170.0), (500.0, 510.0), (1120.0, 1130.0)]
    cfg = EventConfig(tolerance_s=0.0)
    m = event_metrics(true, pred, duration_s=12 * 3600, config=cfg)
    assert m["event_sensitivity"] == 0.5  # second seizure missed without tolerance
    assert m["event_precision"] == pytest.approx(1 / 3)
    assert m["false_alarms_per_24h"] == pytest.approx(2 / 12 * 24)
    m = event_metrics(true, pred, duration_s=12 * 3600, config=EventConfig(tolerance_s=30.0))
    assert m["event_sensitivity"] == 1.0  # 1120 is within 30 s of the end at 1100
    assert m["false_alarms"] == 1.0


def test_labels_to_events_and_empty_cases():
    assert labels_to_events([0, 1, 1, 0, 1], [0, 1, 2, 3, 4], 1.0) == [(1.0, 3.0), (4.0, 5.0)]
    m = event_metrics([], [], 3600.0)
    assert math.isnan(m["event_sensitivity"]) and m["false_alarms_per_24h"] == 0.0


def test_event_bad_inputs():
    with pytest.raises(NeurosigError, match="threshold"):
        EventConfig(threshold=2.0)
    with pytest.raises(NeurosigError, match="duration_s"):
        event_metrics([], [], 0.0)
    with pytest.raises(NeurosigError, match="same length"):
        scores_to_events([0.1, 0.2], [0.0], 1.0)


def test_merge_gap_is_inclusive_as_documented():
    """docs/finetune.md and the module say 'at most merge_gap_s apart': a gap equal to it merges, a longer one not."""
    starts = np.arange(10) * 2.0
    s = np.zeros(10)
    s[[1, 4]] = 0.9  # [2, 4) and [8, 10): gap 4 s
    assert scores_to_events(s, starts, 2.0, EventConfig(merge_gap_s=4.0)) == [(2.0, 10.0)]
    assert scores_to_events(s, starts, 2.0, EventConfig(merge_gap_s=3.9)) == [(2.0, 4.0), (8.0, 10.0)]
