"""Pre-flight checks: files the run writes, and the memory it prepares."""

import os

import pytest

from harness.errors import ConfigError
from harness.plan import make_plan
from harness.preflight import check_memory, check_writable_file, memory_needed, result_size_bound
from harness.settings import resolve


def config(**options):
    return resolve(None, {}, {name: str(value) for name, value in options.items()})


def test_a_regular_file_or_a_new_path_is_fine(tmp_path):
    existing = tmp_path / "old.json"
    existing.write_text("{}")
    check_writable_file(str(existing), "output", "test", 1024)
    check_writable_file(str(tmp_path / "new.json"), "output", "test", 1024)
    assert sorted(os.listdir(tmp_path)) == ["old.json"]  # the probe file is gone


@pytest.mark.parametrize("path, message", [
    ("/dev/null", "is a character device, not a regular file"),
    ("/", "is a directory"),
    ("/nonexistent-dir/x.json", "the directory /nonexistent-dir does not exist"),
])
def test_what_is_refused(path, message):
    with pytest.raises(ConfigError, match=message):
        check_writable_file(path, "output", "option --output", 1024)


def test_a_fifo_is_refused(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="is a FIFO"):
        check_writable_file(str(fifo), "log_file", "test", 1)


def test_room_is_checked(tmp_path):
    with pytest.raises(ConfigError, match="free, and this needs up to"):
        check_writable_file(str(tmp_path / "x"), "output", "test", 2**62)


def test_result_size_bound_grows_with_duration_up_to_10_mib():
    short, day = result_size_bound(config(duration=2)), result_size_bound(config(duration=86400))
    assert 64 * 1024 < short < 200 * 1024
    assert short < day <= 10 * 2**20


def test_memory_is_summed_over_processes_and_threads():
    cfg = config(value_size="1048576", keyspace=10000, client_instances=3, threads_per_client=2)
    parts = memory_needed(cfg, make_plan(cfg, 4), prefix_length=17)
    assert parts["values"] == 3 * 2 * (1048576 + 49)  # one value per fixed size per thread
    assert parts["key names"] == 3 * 10000 * (49 + 17 + 4 + 8)  # per process, shared by its threads
    assert parts["batches being encoded"] == 3 * 2 * 2 * 4 * 2**20  # a 4 MiB block per thread, twice
    assert parts["zipfian table"] == 0


def test_a_range_keeps_64_values_and_zipfian_a_table_per_process():
    cfg = config(value_size="100-300", keyspace=2_000_000, key_distribution="zipfian", client_instances=2)
    parts = memory_needed(cfg, make_plan(cfg, 4), prefix_length=10)
    assert parts["values"] == 2 * 2 * 64 * (49 + 200)
    # the first 1,000 names whole, 2,000 leading parts (0-1999) and 1,000 trailing (000-999)
    assert parts["key names"] == 2 * ((1000 + 2000) * (49 + 10 + 7 + 8) + 1000 * (49 + 3 + 2))
    assert parts["zipfian table"] == 2 * 2_000_000 * 8


def test_what_cannot_fit_is_refused_with_the_figure():
    cfg = config(value_size="536870912")
    plan = make_plan(cfg, 1)
    check_memory(cfg, plan, 17, available=8 * 2**30)
    with pytest.raises(ConfigError, match=r"about 3\.0 GiB of memory \(batches being encoded: 2\.0 GiB.*1\.0 GiB is available"):
        check_memory(cfg, plan, 17, available=2**30)
