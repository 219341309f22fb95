"""Debounce: one decision per code shown, however long it is held."""

from kiosk.debounce import Debouncer


def test_held_code_gives_one_decision_then_a_new_one_after_absence():
    d = Debouncer(absent_seconds=2.0)
    fresh = [d.new_codes(["A"], t / 30) for t in range(150)]  # held five seconds at 30 fps
    assert sum(len(f) for f in fresh) == 1
    assert d.new_codes([], 6.0) == []
    assert d.new_codes(["A"], 6.0 + 0.5) == []  # back within the absence time: still on show
    assert d.new_codes(["A"], 9.0) == ["A"]  # out of view for more than 2 s: a new decision


def test_missed_frames_do_not_split_a_held_code():
    d = Debouncer(absent_seconds=1.0)
    seen = [d.new_codes(["A"] if t % 5 else [], t / 30) for t in range(90)]
    assert sum(len(s) for s in seen) == 1


def test_several_codes_and_duplicates_in_a_frame():
    d = Debouncer(absent_seconds=1.0)
    assert d.new_codes(["A", "B", "A"], 0.0) == ["A", "B"]
    assert d.new_codes(["B", "C"], 0.1) == ["C"]


def test_keeps_no_code_text():
    d = Debouncer(absent_seconds=1.0)
    d.new_codes(["001090123456|secret name"], 0.0)
    assert all(isinstance(k, bytes) and b"secret" not in k for k in d._last_seen)
