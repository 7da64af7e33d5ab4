import math

import pytest

from harness.pacing import RateProfile, Schedule
from harness.parsers import stages


def test_closed_loop_is_always_due_until_the_end():
    schedule = Schedule(rate=0, batch=1, start=100.0, end=110.0)
    assert schedule.due(105.0) == 105.0
    assert schedule.lag(105.0) == 0.0
    assert schedule.due(110.0) is None and schedule.finished(110.0)


def test_open_loop_grid_and_intended_times():
    schedule = Schedule(rate=1000, batch=1, start=100.0, end=101.0)
    assert schedule.due(99.9999) is None
    assert schedule.due(100.0) == 100.0
    schedule.taken()
    assert schedule.due(100.0005) is None  # next one is at 100.001
    assert abs(schedule.next_time() - 100.001) < 1e-9


def test_open_loop_behind_schedule_keeps_intended_times_and_reports_lag():
    schedule = Schedule(rate=100, batch=1, start=0.0)
    # The thread woke 0.5 s late: all 51 batches due by then are still sent, each with
    # its own intended start, so latency is measured from when it should have gone out.
    intended = []
    while (when := schedule.due(0.5)) is not None:
        intended.append(when)
        schedule.taken()
    assert len(intended) == 51
    assert intended[:3] == [0.0, 0.01, 0.02]
    assert schedule.lag(0.5) == 0.0  # caught up: the next batch is not due yet


def test_pipeline_batches_count_against_the_rate():
    schedule = Schedule(rate=1000, batch=10, start=0.0, end=1.0)
    sent = 0
    now = 0.0
    while not schedule.finished(now):
        if schedule.due(now) is not None:
            schedule.taken()
            sent += 10
        now += 0.0001
    assert sent == 1000


def test_lag_is_reported_when_behind():
    schedule = Schedule(rate=10, batch=1, start=0.0)
    assert schedule.lag(0.35) == 0.35  # nothing sent yet: behind by the first batch's wait


def test_a_rate_the_target_cannot_keep_up_with_ends_at_the_deadline():
    """--rate 1e9 --duration 2 ran on for minutes: every batch of the grid before the end
    was due at once, and there were two billion of them."""
    schedule = Schedule(rate=1e9, batch=1, start=0.0, end=2.0)
    now, sent = 0.0, 0
    while not schedule.finished(now):
        while schedule.due(now) is not None and sent < 10:  # the target takes 10 per ms
            schedule.taken()
            sent += 1
        sent, now = 0, now + 0.001
    assert 2.0 <= now <= 2.0 + 0.011
    assert schedule.lag(now) > 1.9  # and it says how far behind it was


def sent_per_second(schedule: Schedule, seconds: int) -> list[int]:
    """Batches a schedule makes due in each second, woken every millisecond."""
    counts = [0] * seconds
    for tick in range(seconds * 1000 + 1):
        now = tick / 1000
        while (when := schedule.due(now)) is not None:
            counts[min(int(when), seconds - 1)] += 1
            schedule.taken()
    return counts


def test_stages_parse_durations_with_units():
    assert stages()("30s:1000, 2m:5000,500ms:0 ,1h:10") == ((30.0, 1000.0), (120.0, 5000.0), (0.5, 0.0), (3600.0, 10.0))
    assert stages()("") == ()
    for bad in ("30s", "0s:100", "10s:-1", "x:1", "10s:0,5s:0", "10q:5"):
        with pytest.raises(ValueError, match="DURATION:RATE"):
            stages()(bad)


def test_stages_hold_and_ramp_the_rate_as_the_integral_says():
    # from 0 up to 1000/s over 2 s, hold 1000/s for 2 s, down to 0 over 2 s (k6's shape)
    profile = RateProfile(0.0, ((2.0, 1000.0), (2.0, 1000.0), (2.0, 0.0)))
    counts = sent_per_second(Schedule(0, 1, start=0.0, end=6.0, profile=profile), 6)
    # each second's operations are the rate's integral over it: 250, 750, 1000, 1000, 750, 250
    assert [abs(got - want) <= 1 for got, want in zip(counts, [250, 750, 1000, 1000, 750, 250])] == [True] * 6
    assert profile.rate_at(1.0) == 500.0 and profile.rate_at(3.0) == 1000.0 and profile.rate_at(5.5) == 250.0
    assert profile.rate_at(6.0) == 0.0


def test_stages_start_from_rate_and_scale_per_thread_with_pipelines():
    profile = RateProfile(200.0, ((1.0, 200.0), (2.0, 600.0))).scaled(0.5)  # one of two threads
    counts = sent_per_second(Schedule(100.0, 4, start=0.0, end=3.0, profile=profile), 3)
    # operations per second (batches of 4): 100, then the ramp 100 -> 300 over two seconds: 150, 250
    assert [abs(4 * got - want) <= 4 for got, want in zip(counts, [100, 150, 250])] == [True] * 3


def test_a_profile_that_ends_at_zero_finishes_the_schedule():
    schedule = Schedule(0, 1, start=10.0, end=12.0, profile=RateProfile(0.0, ((1.0, 10.0), (1.0, 0.0))))
    times = []
    while (when := schedule.due(12.0)) is not None and not schedule.finished(12.0):
        times.append(when)
        schedule.taken()
    assert len(times) == 10  # the integral is 10 operations; the 11th would be at the very end
    assert all(10.0 <= t < 12.0 for t in times) and times == sorted(times)
    schedule.taken()
    assert math.isinf(schedule.next_time()) and schedule.finished(12.0)


def test_the_target_integral_is_what_a_result_file_compares_counts_with():
    profile = RateProfile(0.0, ((2.0, 1000.0), (2.0, 1000.0), (2.0, 0.0)))
    assert [profile.operations_by(t) for t in (0, 1, 2, 4, 5, 6, 10)] == [0, 250, 1000, 3000, 3750, 4000, 4000]
    assert RateProfile(100.0).operations_by(2.5) == 250 and RateProfile(100.0).rate_at(1e6) == 100
