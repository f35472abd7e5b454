"""The suggestion batcher lets go of a model once its letters are answered (a promoted-away
model, or the model of a test's app, must not stay in memory behind an idle thread)."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from service.batcher import Batcher

LETTER = "老板拖欠工资三个月，一共两万多块，请劳动监察帮忙。"


def test_an_answered_model_is_let_go_and_close_stops_the_thread(model_store: Path) -> None:
    from triage import Triage

    batcher = Batcher(max_batch=4)
    model = Triage.load(model_store)
    ref = weakref.ref(model)
    answer = batcher.suggest(model, LETTER)
    assert answer.issue_type[0].id == "labour"
    thread = batcher._thread
    assert thread is not None and thread.is_alive()
    del model
    gc.collect()
    assert ref() is None, "the idle batching thread still holds the model it last used"
    batcher.close()
    thread.join(timeout=10)
    assert not thread.is_alive()
