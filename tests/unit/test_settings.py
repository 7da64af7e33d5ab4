"""Precedence of each layer and each class of bad input, through the real entry point.

Everything here is `harness run --dry-run` or a failing configuration: nothing connects.
"""

import io
import textwrap


from harness.cli import main
from harness.settings import KEYS, resolve


def invoke(capsys, *argv, env=None):
    out = io.StringIO()
    status = main(list(argv), out=out, env=env or {})
    err = capsys.readouterr().err
    return status, out.getvalue(), err


def write_ini(tmp_path, text, name="test.ini"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def dry_line(output, key):
    """'value', 'source' of one key in --dry-run output."""
    for line in output.splitlines():
        if line.startswith(f"{key} ="):
            value, _, source = line.partition("#")
            return value.split("=", 1)[1].strip(), source.strip()
    raise AssertionError(f"{key} not in dry-run output:\n{output}")


def test_defaults_are_marked_as_defaults(capsys):
    status, out, _ = invoke(capsys, "run", "--dry-run")
    assert status == 0
    assert dry_line(out, "client_instances") == ("1", "default")
    assert dry_line(out, "stats_interval") == ("5", "default")


def test_ini_overrides_default_and_names_file_and_line(capsys, tmp_path):
    path = write_ini(tmp_path, """\
        # a comment
        [run]
        duration = 7

        client_instances = 4   ; inline comment
        """)
    status, out, _ = invoke(capsys, "run", "-c", path, "--dry-run")
    assert status == 0
    assert dry_line(out, "client_instances") == ("4", f"{path}:5")
    assert dry_line(out, "duration") == ("7", f"{path}:3")


def test_env_overrides_ini(capsys, tmp_path):
    path = write_ini(tmp_path, "[run]\nclient_instances = 4\n")
    env = {"HARNESS_CLIENT_INSTANCES": "6"}
    status, out, _ = invoke(capsys, "run", "-c", path, "--dry-run", env=env)
    assert status == 0
    assert dry_line(out, "client_instances") == ("6", "env HARNESS_CLIENT_INSTANCES")


def test_option_overrides_env(capsys, tmp_path):
    path = write_ini(tmp_path, "[run]\nclient_instances = 4\n")
    env = {"HARNESS_CLIENT_INSTANCES": "6"}
    status, out, _ = invoke(capsys, "run", "-c", path, "--client-instances", "8", "--dry-run", env=env)
    assert status == 0
    assert dry_line(out, "client_instances") == ("8", "option --client-instances")


def test_otel_standard_variable_and_harness_variable_wins(capsys):
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    _, out, _ = invoke(capsys, "run", "--dry-run", env=env)
    assert dry_line(out, "otlp_endpoint") == ("http://collector:4318", "env OTEL_EXPORTER_OTLP_ENDPOINT")
    env["HARNESS_OTLP_ENDPOINT"] = "http://other:4318"
    _, out, _ = invoke(capsys, "run", "--dry-run", env=env)
    assert dry_line(out, "otlp_endpoint") == ("http://other:4318", "env HARNESS_OTLP_ENDPOINT")


def test_every_key_has_an_env_variable_and_an_option():
    for spec in KEYS:
        config = resolve(None, {spec.env: spec.default}, {})
        assert config.source(spec.name) == f"env {spec.env}"
        config = resolve(None, {}, {spec.name: spec.default})
        assert config.source(spec.name) == f"option {spec.option}"


def test_password_file_is_read_and_masked(capsys, tmp_path):
    secret_file = tmp_path / "pw"
    secret_file.write_text("s3cret-value\n")
    status, out, err = invoke(capsys, "run", "--dry-run", "--password-file", str(secret_file))
    assert status == 0
    assert dry_line(out, "password") == ("***", f"file {secret_file}")
    assert "s3cret-value" not in out + err
    assert resolve(None, {}, {"password_file": str(secret_file)}).password.reveal() == "s3cret-value"


def test_password_never_shown_from_any_source(capsys, tmp_path):
    path = write_ini(tmp_path, "[target]\nurl = redis://app:ini-secret@db.example:6380/1\n")
    status, out, err = invoke(capsys, "run", "-c", path, "--dry-run", env={"HARNESS_PASSWORD": "env-secret"})
    # url with a password and HARNESS_PASSWORD conflict: the error must not show either.
    assert status == 2
    assert "ini-secret" not in out + err and "env-secret" not in out + err
    status, out, err = invoke(capsys, "run", "-c", path, "--dry-run")
    assert status == 0
    assert dry_line(out, "url")[0] == "redis://app:***@db.example:6380/1"
    assert "ini-secret" not in out + err


def bad(capsys, *argv, env=None):
    status, out, err = invoke(capsys, *argv, env=env)
    lines = err.strip().splitlines()
    assert status == 2, (status, out, err)
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), err
    assert "Traceback" not in err and out == ""
    return lines[0]


def test_unknown_section(capsys, tmp_path):
    path = write_ini(tmp_path, "[run]\nduration = 1\n\n[server]\nhost = x\n")
    assert f"unknown section [server] ({path}:4)" in bad(capsys, "run", "-c", path)


def test_default_section_is_not_magic(capsys, tmp_path):
    path = write_ini(tmp_path, "[DEFAULT]\nduration = 1\n")
    assert "unknown section [DEFAULT]" in bad(capsys, "run", "-c", path)


def test_unknown_key_with_suggestion(capsys, tmp_path):
    path = write_ini(tmp_path, "[run]\nclient_instance = 2\n")
    line = bad(capsys, "run", "-c", path)
    assert f"unknown key 'client_instance' in [run] ({path}:2)" in line
    assert "did you mean 'client_instances'" in line


def test_key_in_wrong_section(capsys, tmp_path):
    path = write_ini(tmp_path, "[target]\nduration = 2\n")
    assert f"key 'duration' belongs in [run], not [target] ({path}:2)" in bad(capsys, "run", "-c", path)


def test_wrong_type_in_ini(capsys, tmp_path):
    path = write_ini(tmp_path, "[run]\nclient_instances = many\n")
    line = bad(capsys, "run", "-c", path)
    assert f"invalid client_instances = 'many' ({path}:2)" in line
    assert "a whole number from 1 to 1024, or auto" in line


def test_out_of_range_in_env(capsys):
    line = bad(capsys, "run", env={"HARNESS_PORT": "70000"})
    assert "invalid port = '70000' (env HARNESS_PORT): expected a whole number from 1 to 65535" in line


def test_bad_choice_on_command_line(capsys):
    line = bad(capsys, "run", "--key-distribution", "pareto")
    assert "invalid key_distribution = 'pareto' (option --key-distribution)" in line
    assert "uniform, sequential, gaussian, zipfian" in line


def test_unknown_workload_lists_the_real_ones(capsys):
    assert "one of basic_rw, high_throughput" in bad(capsys, "run", "--workload", "nope")


def test_unknown_env_variable(capsys):
    assert "unknown environment variable HARNESS_DURATON" in bad(capsys, "run", env={"HARNESS_DURATON": "1"})


def test_url_conflicts_with_host(capsys, tmp_path):
    path = write_ini(tmp_path, "[target]\nurl = redis://a:1\n")
    line = bad(capsys, "run", "-c", path, "--host", "b")
    assert f"url ({path}:2) conflicts with host (option --host)" in line


def test_embedded_conflicts_with_password(capsys):
    line = bad(capsys, "run", "--url", "embedded", env={"HARNESS_PASSWORD": "x"})
    assert "url (option --url) conflicts with password (env HARNESS_PASSWORD)" in line


def test_password_and_password_file(capsys, tmp_path):
    secret_file = tmp_path / "pw"
    secret_file.write_text("a\n")
    line = bad(capsys, "run", "--password-file", str(secret_file), env={"HARNESS_PASSWORD": "b"})
    assert "password (env HARNESS_PASSWORD) and password_file (option --password-file) are both set" in line


def test_missing_password_file(capsys, tmp_path):
    line = bad(capsys, "run", "--password-file", str(tmp_path / "absent"))
    assert "cannot read password_file" in line and "No such file" in line


def test_tls_files_need_tls_and_pairs(capsys):
    assert "tls_ca (option --tls-ca) needs TLS" in bad(capsys, "run", "--tls-ca", "/tmp/ca.pem")
    line = bad(capsys, "run", "--url", "rediss://h:1", "--tls-cert", "/tmp/c.pem")
    assert "tls_cert (option --tls-cert) needs its pair" in line


def test_warmup_must_be_shorter_than_duration(capsys):
    line = bad(capsys, "run", "--duration", "5", "--warmup", "5")
    assert "warmup = 5 (option --warmup) must be shorter than duration = 5 (option --duration)" in line


def test_stages_set_the_duration_and_a_different_duration_is_refused(capsys):
    config = resolve(None, {}, {"stages": "30s:1000, 1m:5000, 30s:0"})
    assert config.duration == 120 and config.stages == ((30.0, 1000.0), (60.0, 5000.0), (30.0, 0.0))
    assert resolve(None, {}, {"stages": "2s:10", "duration": "2"}).duration == 2
    line = bad(capsys, "run", "--stages", "30s:1000,30s:0", "--duration", "10")
    assert "duration = 10 (option --duration) conflicts with stages (option --stages), which last 60 s" in line
    assert "expected a list DURATION:RATE" in bad(capsys, "run", "--stages", "30s")


def test_bad_url(capsys):
    line = bad(capsys, "run", "--url", "http://user:topsecret@host")
    assert "invalid url = 'http://user:***@host' (option --url): expected redis://" in line
    assert "topsecret" not in line


def test_missing_config_file(capsys, tmp_path):
    line = bad(capsys, "run", "-c", str(tmp_path / "nope.ini"))
    assert f"cannot read config file {tmp_path / 'nope.ini'}: No such file or directory" in line


def test_malformed_config_file(capsys, tmp_path):
    path = write_ini(tmp_path, "duration = 3\n")
    assert f"malformed config file {path}" in bad(capsys, "run", "-c", path)
    path = write_ini(tmp_path, "[run]\nduration = 3\nduration = 4\n", name="dup.ini")
    line = bad(capsys, "run", "-c", path)
    assert "malformed config file" in line and "duration" in line and "line 3" in line


# Command-line mistakes (unknown, abbreviated or misplaced options) are in test_cli.py.


def test_debug_log_level_shows_traceback_for_bad_input(capsys):
    status, _, err = invoke(capsys, "run", "--port", "0", "--log-level", "debug")
    assert status == 2 and "Traceback" in err


def test_custom_templates_from_a_multi_line_ini_value(capsys, tmp_path):
    path = write_ini(tmp_path, """\
        [run]
        workload = custom
        [workload]
        commands =
            7 GET {key}
            3 ZADD {key:rank} {int:0:1000} {member}
        """)
    config = resolve(path, {}, {})
    assert [(t.weight, t.words) for t in config.commands] == [
        (7.0, ("GET", "{key}")), (3.0, ("ZADD", "{key:rank}", "{int:0:1000}", "{member}"))]
    assert config.source("commands") == f"{path}:4"


def test_bad_custom_templates(capsys):
    assert "unknown placeholder {keys}" in bad(capsys, "run", "--workload", "custom", "--commands", "1 GET {keys}")
    assert "FLUSHALL is not allowed" in bad(capsys, "run", "--workload", "custom", "--commands", "1 FLUSHALL")
    assert "does not start with a weight" in bad(capsys, "run", "--workload", "custom", "--commands", "GET {key}")
    assert "{int:LOW:HIGH}" in bad(capsys, "run", "--workload", "custom", "--commands", "1 SET {key} {int:9:1}")
    assert "workload = custom (option --workload) needs commands" in bad(capsys, "run", "--workload", "custom")


def test_bad_write_mix_and_key_median(capsys):
    assert "names from SET, INCR, DEL" in bad(capsys, "run", "--write-mix", "SET:1,GET:1")
    line = bad(capsys, "run", "--key-median", "20000", "--keyspace", "100")
    assert "key_median = 20000 (option --key-median) must be below keyspace = 100 (option --keyspace)" in line


def test_sentinels_are_parsed_and_conflict_with_a_fixed_address(capsys, tmp_path):
    status, out, _ = invoke(capsys, "run", "--dry-run", "--sentinels", "10.0.0.1:26379, [::1]:26380",
                            "--sentinel-password", "hush")
    assert status == 0
    assert dry_line(out, "sentinels") == ("10.0.0.1:26379,::1:26380", "option --sentinels")
    assert "hush" not in out
    path = write_ini(tmp_path, "[target]\nsentinels = s1:26379\nport = 7000\n")
    line = bad(capsys, "run", "-c", path)
    assert f"sentinels ({path}:2) conflicts with port ({path}:3)" in line
    assert "invalid sentinels = 's1' (option --sentinels): expected host:port" in bad(
        capsys, "run", "--sentinels", "s1")
    assert "expected host:port[,host:port...], not 's1:99999'" in bad(capsys, "run", "--sentinels", "s1:99999")


def test_heartbeat_timeout_is_a_key_of_its_own(capsys):
    status, out, _ = invoke(capsys, "run", "--dry-run", "--heartbeat-timeout", "7.5")
    assert status == 0 and dry_line(out, "heartbeat_timeout") == ("7.5", "option --heartbeat-timeout")
    status, _, err = invoke(capsys, "run", "--dry-run", "--heartbeat-timeout", "1")
    assert status == 2 and "invalid heartbeat_timeout = '1'" in err


def test_config_files_must_be_regular_and_small(capsys, tmp_path):
    status, _, err = invoke(capsys, "run", "--dry-run", "-c", "/dev/zero")
    assert status == 2 and err.strip() == "harness: error: config file /dev/zero is not a regular file"
    big = tmp_path / "big.ini"
    big.write_text("#" * (2**20 + 1))
    status, _, err = invoke(capsys, "run", "--dry-run", "-c", str(big))
    assert status == 2 and "1,048,577 bytes; at most 1,048,576 are read" in err


def test_a_password_file_is_read_with_a_bound(capsys):
    status, _, err = invoke(capsys, "run", "--dry-run", env={"HARNESS_PASSWORD_FILE": "/dev/zero"})
    assert status == 2 and "first line is longer than 65,536 characters" in err


def test_key_prefix_length(capsys):
    status, _, _ = invoke(capsys, "run", "--dry-run", "--key-prefix", "k" * 1024)
    assert status == 0
    status, _, err = invoke(capsys, "run", "--dry-run", "--key-prefix", "k" * 1025)
    assert status == 2 and "key_prefix (option --key-prefix) is 1,025 bytes long: at most 1024" in err


def test_url_credentials_are_masked_in_dry_run_and_errors(capsys):
    secret = "s3/cr@t:pa%ss"
    status, out, err = invoke(capsys, "run", "--dry-run", env={
        "HARNESS_PUSHGATEWAY": f"http://gate:{secret}@gw:9091",
        "HARNESS_OTLP_ENDPOINT": "http://otel:p%2Fw@collector:4318",
    })
    assert status == 0
    assert dry_line(out, "pushgateway")[0] == "http://gate:***@gw:9091"
    assert dry_line(out, "otlp_endpoint")[0] == "http://otel:***@collector:4318"
    assert secret not in out + err and "p%2Fw" not in out
    status, _, err = invoke(capsys, "run", "--dry-run", "--url", f"redis://u:{secret}@host:6379")
    assert status == 2 and "redis://u:***@host:6379" in err and "cr@t" not in err and "s3/" not in err


def test_credentials_on_the_command_line_get_a_warning(capsys):
    status, _, err = invoke(capsys, "run", "--dry-run", "--url", "redis://u:pw@host:6379",
                            "--otlp-endpoint", "http://a:b@c:4318")
    assert status == 0
    assert "credentials given on the command line (--url, --otlp-endpoint) are visible to other users in ps" in err
    status, _, err = invoke(capsys, "run", "--dry-run", env={"HARNESS_URL": "redis://u:pw@host:6379"})
    assert "visible to other users" not in err
