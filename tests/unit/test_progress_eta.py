"""The ETA line of long bulk runs (issue 16 item 7): formatting, the recent rate, the interval."""

from __future__ import annotations

from stash_sense.progress import Eta, format_duration


class Clock:
    """A hand-moved clock: the rate estimate is a function of time, so the test sets time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_durations_read_as_two_largest_units():
    assert format_duration(12) == "12 s"
    assert format_duration(250) == "4 min 10 s"
    assert format_duration(2 * 3600 + 5 * 60 + 7) == "2 h 5 min"
    assert format_duration(3 * 86400 + 4 * 3600 + 59) == "3 d 4 h"
    assert format_duration(3600) == "1 h"
    assert format_duration(0) == "0 s"


def test_line_has_count_rate_and_remaining_time_from_the_rate():
    clock = Clock()
    eta = Eta(10_000, "Gallery", "galleries", interval_s=60, clock=clock)
    clock.now += 60 * 60  # 120 galleries in the first hour: 2.0 galleries/min
    line = eta.line(120)
    # 9,880 left at 2 a minute: 4,940 min = 3 d 10 h 20 min
    assert line == "Gallery 120/10000 — 2.0 galleries/min — ETA 3 d 10 h"


def test_lines_come_at_most_once_per_interval():
    clock = Clock()
    eta = Eta(100, "Scene", "scenes", interval_s=60, clock=clock)
    lines = []
    for done in range(1, 11):
        clock.now += 15
        lines.append(eta.line(done))
    assert [i for i, line in enumerate(lines) if line] == [3, 7]  # at 60 s and 120 s


def test_rate_is_the_recent_one_not_the_whole_runs():
    clock = Clock()
    eta = Eta(1000, "Gallery", "galleries", interval_s=0, window_s=600, clock=clock)
    done = 0
    for _ in range(60):  # an hour at 6 a minute
        clock.now += 60
        done += 6
        eta.line(done)
    for _ in range(20):  # then 20 minutes at 1 a minute: the last 10 minutes say 1/min, not the run's 4.7
        clock.now += 60
        done += 1
        line = eta.line(done)
    assert line == "Gallery 380/1000 — 1.0 galleries/min — ETA 10 h 20 min"


def test_resumed_run_counts_items_done_before_and_no_rate_yet_is_unknown():
    clock = Clock()
    eta = Eta(50, "Gallery", "galleries", done_before=150, interval_s=0, clock=clock)
    assert eta.line(0) == "Gallery 150/200 — 0.0 galleries/min — ETA unknown"
    clock.now += 30
    assert eta.line(1) == "Gallery 151/200 — 2.0 galleries/min — ETA 24 min 30 s"
