"""The pure parts of the per-run ACL user: its name, its rules, the cluster's nodes."""

from harness.run_user import acl_rules, cluster_node_addresses, parse_name, user_name


def test_name_carries_what_proves_it_stale():
    name = user_name("3fa2b1c0", 1764178000, 4242, "ab12cd34")
    assert name == "harness-run-3fa2b1c0-1764178000-4242-ab12cd34"
    assert parse_name(name) == ("3fa2b1c0", 1764178000, 4242, "ab12cd34")
    for other in ("harness-run-x", "default", "harness-run-3fa2b1c0-1-2-ab12cd34-extra", "harness-runner"):
        assert parse_name(other) is None


def test_rules_confine_keys_and_channels_with_glob_characters_escaped():
    rules = acl_rules("h*[a]?:", 0, "0" * 64, {"SELECT", "SWAPDB", "MOVE", "MIGRATE", "COPY"}, "prefix",
                      ["+@all", "-del"])
    assert rules[:4] == ["reset", "on", "#" + "0" * 64, r"~h\*\[a\]\?:*"]
    assert r"&h\*\[a\]\?:*" in rules and r"&h\*\[a\]\?:chan:*" in rules
    assert rules.index("+@all") < rules.index("-del") < rules.index("-@dangerous")
    for name in ("-select", "-swapdb", "-move", "-migrate", "-copy", "-@admin"):
        assert name in rules
    assert not any(rule.startswith("+select|") for rule in rules)


def test_rules_allow_selecting_the_configured_database_only():
    rules = acl_rules("p:", 3, "0" * 64, {"SELECT", "MOVE"}, "unsupported", ["+@all"])
    assert rules[-1] == "+select|3" and "-select" in rules and "-copy" not in rules
    assert not any(rule.startswith("&") for rule in rules)  # Redis before 6.2: no channel rules
    assert "resetchannels" not in rules


def test_a_configured_user_without_channels_gives_a_run_user_without_channels():
    rules = acl_rules("p:", 0, "0" * 64, set(), "none", ["+@all"])
    assert "resetchannels" in rules and not any(rule.startswith("&") for rule in rules)


def test_cluster_nodes_lists_masters_and_replicas_but_not_failed_nodes():
    text = (
        "a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460\n"
        "b2 127.0.0.1:7001@17001 slave a1 0 0 1 connected\n"
        "c3 :7002@17002 master - 0 0 2 connected 5461-16383\n"
        "d4 127.0.0.1:7003@17003 master,fail - 0 0 3 connected\n"
    )
    assert cluster_node_addresses(text, "10.0.0.1") == [("10.0.0.1", 7002), ("127.0.0.1", 7000), ("127.0.0.1", 7001)]
