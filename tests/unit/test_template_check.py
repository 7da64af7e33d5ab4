"""The pure parts of the template check: which draws of an {int} are tried, and where
keys sit in an argv."""

from harness.template_check import ENUMERATE_UP_TO, _positions, _tries


def test_small_ranges_are_tried_in_full():
    assert _tries(1, 2) == [1, 2]
    assert _tries(-3, 3) == list(range(-3, 4))
    assert len(_tries(0, ENUMERATE_UP_TO - 1)) == ENUMERATE_UP_TO


def test_large_ranges_are_tried_at_their_ends_and_small_numbers():
    tries = _tries(1, 1_000_000)
    assert {1, 2, 3, 32, 1_000_000, 999_999} <= set(tries)
    assert len(tries) < 100
    assert {-1, 0, 1, 2} <= set(_tries(-10**9, 10**9))


def test_positions_follow_the_argv_even_with_repeated_keys():
    argv = [b"LMPOP", b"2", b"p:1", b"p:1", b"LEFT"]
    assert _positions(argv, [b"p:1", b"p:1"]) == (2, 3)
    assert _positions(argv, [b"p:1"]) == (2,)
    assert _positions(argv, [b"other"]) == (-1,)
