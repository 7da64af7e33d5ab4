"""URL credentials are masked whatever the password holds."""

import pytest

from harness.redact import has_credentials, mask_text, mask_url, strip_credentials


@pytest.mark.parametrize("text, masked", [
    ("redis://user:secret@host:6379/0", "redis://user:***@host:6379/0"),
    ("redis://user:s3/cr@t:pa%ss@host:1", "redis://user:***@host:1"),  # unencoded / @ : %
    ("http://u:p%2F%40%3A%25@gw:9091", "http://u:***@gw:9091"),
    ("http://token@collector:4318", "http://***@collector:4318"),
    ("redis://:only-password@host", "redis://:***@host"),
    ("http://collector:4318", "http://collector:4318"),
    ("unix:///tmp/redis.sock?db=2", "unix:///tmp/redis.sock?db=2"),
    ("not a url", "not a url"),
    ("", ""),
])
def test_mask_url(text, masked):
    assert mask_url(text) == masked
    assert has_credentials(text) == (text != masked)


def test_strip_credentials_decodes_them():
    assert strip_credentials("http://u%40x:p%2Fw%25@gw:9091/x") == ("http://gw:9091/x", "u@x", "p/w%")
    assert strip_credentials("http://gw:9091") == ("http://gw:9091", "", "")


def test_urls_inside_text_are_masked():
    text = "push to http://gate:s3/cr@t@gw:9091/metrics failed ('redis://u:pw@h:1' refused)"
    assert mask_text(text) == "push to http://gate:***@gw:9091/metrics failed ('redis://u:***@h:1' refused)"
    assert mask_text("no url here") == "no url here"
