"""With nothing configured the target is localhost:6379 (resolved without connecting)."""

from harness.settings import resolve
from harness.target import DEFAULT_HOST, DEFAULT_PORT, choose_target


def test_nothing_configured_means_localhost_6379():
    choice = choose_target(resolve(None, {}, {}))
    assert choice.auto and not choice.embedded
    assert (choice.endpoint.host, choice.endpoint.port) == (DEFAULT_HOST, DEFAULT_PORT) == ("localhost", 6379)
    assert choice.endpoint.describe() == "redis://localhost:6379"


def test_the_environment_overrides_the_default_and_ends_auto():
    choice = choose_target(resolve(None, {"HARNESS_PORT": "7001"}, {}))
    assert not choice.auto and choice.endpoint.port == 7001 and choice.endpoint.host == "localhost"
