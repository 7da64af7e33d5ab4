import redis
from redis._parsers.base import BaseParser

from harness.stats import CommandStats, error_type


def server_error(text):
    """The exception redis-py builds from an error reply, as its parsers do."""
    return BaseParser.parse_error(text)


def test_error_types_follow_the_servers_prefix():
    assert error_type(server_error("OOM command not allowed when used memory > 'maxmemory'.")) == "OOM"
    assert error_type(server_error("NOPERM User x has no permissions to run the 'del' command")) == "NOPERM"
    assert error_type(server_error("MOVED 3999 127.0.0.1:6381")) == "MOVED"
    assert error_type(server_error("WRONGTYPE Operation against a key holding the wrong kind of value")) == "WRONGTYPE"
    assert error_type(server_error("ERR value is not an integer or out of range")) == "ERR"
    assert error_type(redis.TimeoutError("Timeout reading from socket")) == "timeout"
    assert error_type(redis.ConnectionError("Connection closed by server.")) == "connection"
    assert error_type(ConnectionResetError()) == "connection"


def test_counts_include_failed_operations():
    stats = CommandStats()
    stats.ok["SET"] += 3
    stats.errors["SET", "OOM"] += 2
    other = CommandStats()
    other.ok["GET"] += 1
    stats.add(other)
    assert stats.count_of("SET") == 5 and stats.errors_of("SET") == 2
    assert stats.total == 6 and stats.total_errors == 2
    assert stats.commands() == ["GET", "SET"]
