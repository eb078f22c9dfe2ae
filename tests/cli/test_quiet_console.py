"""Without -v the console carries neurosig's lines, not Lightning's per-trainer banners."""

import logging


def test_lightning_banners_are_off_the_console_but_its_warnings_stay(caplog):
    import lightning as L

    from neurosig._utils.logging import quiet_third_party

    quiet_third_party()
    with caplog.at_level(logging.INFO):
        L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
        logging.getLogger("lightning.pytorch.utilities.rank_zero").warning("a real warning")
    text = caplog.text
    assert "GPU available" not in text and "TPU available" not in text and "Tip" not in text
    assert "a real warning" in text
