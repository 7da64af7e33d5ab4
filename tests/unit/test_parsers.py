import pytest

from harness import parsers as p


@pytest.mark.parametrize(
    "parser, text, expected",
    [
        (p.integer(1), "4", 4),
        (p.integer(1, auto=True), "AUTO", "auto"),
        (p.number(), "2.5", 2.5),
        (p.number(above=True), "0.001", 0.001),
        (p.choice("a", "b"), " B ", "b"),
        (p.boolean(), "yes", True),
        (p.boolean(), "off", False),
        (p.boolean(auto=True), "auto", "auto"),
    ],
)
def test_parsers_accept(parser, text, expected):
    assert parser(text) == expected


@pytest.mark.parametrize(
    "parser, text, message",
    [
        (p.integer(1), "0", "a whole number >= 1"),
        (p.integer(1), "1.5", "a whole number >= 1"),
        (p.integer(1, 10), "11", "from 1 to 10"),
        (p.integer(1), "auto", "a whole number >= 1"),
        (p.number(above=True), "0", "a number > 0"),
        (p.number(), "nan", "a number >= 0"),
        (p.number(maximum=1), "1.5", "<= 1"),
        (p.choice("a", "b"), "c", "one of a, b"),
        (p.boolean(), "maybe", "true or false"),
    ],
)
def test_parsers_reject_with_what_is_allowed(parser, text, message):
    with pytest.raises(ValueError, match=message):
        parser(text)


def test_value_size_forms():
    parse = p.value_size_spec()
    assert parse("32") == (p.SizeChoice(32, 32, 1.0),)
    assert parse("100-200") == (p.SizeChoice(100, 200, 1.0),)
    assert parse("32:70,1024:25,65536:5") == (
        p.SizeChoice(32, 32, 70.0),
        p.SizeChoice(1024, 1024, 25.0),
        p.SizeChoice(65536, 65536, 5.0),
    )
    for bad in ("0", "200-100", "32:70,1024", "x", "32:-1", str(p.MAX_VALUE_SIZE + 1)):
        with pytest.raises(ValueError, match="weighted list"):
            parse(bad)


def test_url_parts_and_masking():
    parse = p.redis_url()
    url = parse("rediss://app:s3cr%40t@cache.example:6380/2")
    assert (url.scheme, url.host, url.port, url.db, url.username) == ("rediss", "cache.example", 6380, 2, "app")
    assert url.password.reveal() == "s3cr@t"
    assert "s3cr" not in url.masked() and url.masked() == "rediss://app:***@cache.example:6380/2"
    assert parse("unix:///run/redis.sock?db=3") == p.RedisUrl("unix", path="/run/redis.sock", db=3)
    assert parse("embedded").embedded
    assert parse("") is None
    for bad in ("http://host", "redis://", "redis://host:99999", "redis://host/x", "unix://"):
        with pytest.raises(ValueError, match="expected redis://"):
            parse(bad)


def test_secret_never_prints():
    secret = p.Secret("hunter2")
    assert "hunter2" not in f"{secret} {secret!r} {[secret]}"
    assert secret.reveal() == "hunter2"
