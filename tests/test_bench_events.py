"""bench/events.py: the rows of the events measurements (the measurement itself runs in `python -m bench`)."""

from __future__ import annotations

from bench.events import EventsResult, rows


def test_events_rows_compare_a_create_with_a_step_to_one_without():
    result = EventsResult(500, plain_s=1.0, with_step_s=1.2, deliver_s=2.0, received=500, succeeded=500)
    plain, step, delivered = rows(result)
    assert plain.emulator == "500 creates/s"
    assert step.ratio is not None and round(step.ratio, 2) == 1.2 and step.met_text == "yes"
    assert delivered.emulator.startswith("250 deliveries/s (500 received, 500 Succeeded")


def test_events_rows_say_a_failure():
    [row] = rows(EventsResult(10, errors=["POST contacts answered 405"]))
    assert row.failed and "405" in row.emulator
    assert rows(None) == []
