from harness.pacing import Schedule


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
