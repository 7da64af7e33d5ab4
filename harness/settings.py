"""One resolved, validated, immutable run configuration.

Layers, lowest first: built-in defaults < the INI file (-c) < the environment
(HARNESS_<KEY>, and OTEL_EXPORTER_OTLP_ENDPOINT) < command-line options.

Every key is one field of RunConfig; its metadata (section, default text, parser, help)
drives the INI reader, the environment names, the docopt usage text, --dry-run and the
error messages, so adding a key is one declaration: here for a key every run has, in
the workload's own module for a key only that workload reads (`config_keys`). Runs in the coordinator before any
fork; pure apart from reading the INI file and password_file.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import re
import stat
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from harness import parsers as p
from harness.errors import ConfigError
from harness.redact import mask_url
from harness.schema import SECTIONS, key
from harness.shards import check_shard_keys, shard_index_from_job
from workloads import WORKLOAD_NAMES, declared_keys

ENV_PREFIX = "HARNESS_"
# The OpenTelemetry standard variable; HARNESS_OTLP_ENDPOINT wins over it.
OTEL_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
DEFAULT_SOURCE = "default"
# A config file is a few kilobytes; this bound stops `-c /dev/zero` reading forever.
MAX_CONFIG_BYTES = 2**20
# A password file's first line is read up to this many bytes (it may be a pipe).
MAX_PASSWORD_BYTES = 64 * 2**10
# Every key carries the prefix; a long one costs memory and bandwidth per operation.
MAX_KEY_PREFIX = 1024
# Keys whose value is a URL that may carry credentials (the target's url is a RedisUrl).
URL_KEYS = ("pushgateway", "otlp_endpoint")


@dataclass(frozen=True, kw_only=True)
class CoreConfig:
    """The keys every run has; RunConfig adds the workloads' own (below)."""

    # [target]
    url: p.RedisUrl | None = key(
        "target", "", p.redis_url(), "redis://, rediss://, unix:// URL, or embedded", "URL"
    )
    host: str = key("target", "localhost", p.text(), "server host name or address", "HOST")
    port: int = key("target", "6379", p.integer(1, 65535), "server TCP port", "PORT")
    db: int = key("target", "0", p.integer(0), "database number", "N")
    username: str = key("target", "", p.text(), "ACL user name (Redis 6+)", "NAME")
    password: p.Secret = key("target", "", p.secret(), "password; prefer password_file", "PASS")
    password_file: str = key("target", "", p.text(), "file whose first line is the password", "FILE")
    tls: bool = key("target", "false", p.boolean(), "use TLS (implied by rediss://)", "BOOL")
    tls_ca: str = key("target", "", p.text(), "CA bundle that verifies the server", "FILE")
    tls_cert: str = key("target", "", p.text(), "client certificate for mutual TLS", "FILE")
    tls_key: str = key("target", "", p.text(), "private key of tls_cert", "FILE")
    tls_verify: bool = key("target", "true", p.boolean(), "verify the server's certificate and name", "BOOL")
    protocol: int = key("target", "3", p.integer(2, 3), "RESP version (servers before 6 need 2)", "N")
    cluster: bool | str = key("target", "auto", p.boolean(auto=True), "Redis Cluster mode", "MODE")
    sentinels: tuple = key("target", "", p.addresses(), "Sentinel host:port list; finds the master", "LIST")
    service_name: str = key("target", "mymaster", p.text(), "the master's name in Sentinel", "NAME")
    sentinel_password: p.Secret = key("target", "", p.secret(), "password of the Sentinels themselves", "PASS")
    connect_timeout: float = key("target", "5", p.number(above=True), "seconds to connect", "SEC")
    socket_timeout: float = key("target", "10", p.number(above=True), "seconds to wait for a reply", "SEC")
    connect_retries: int = key("target", "3", p.integer(0, 100), "connection attempts after the first", "N")
    # [run]
    workload: str = key("run", "high_throughput", p.choice(*WORKLOAD_NAMES), "workload to run", "NAME")
    duration: float = key("run", "60", p.number(), "seconds to run; 0 = until stopped", "SEC")
    requests: int = key("run", "0", p.integer(0), "total operations; 0 = no limit", "N")
    rate: float = key("run", "0", p.number(), "total operations per second; 0 = unthrottled", "OPS")
    stages: tuple = key("run", "", p.stages(),
                        "target rate over time, DURATION:RATE,... ramping linearly from rate; sets duration",
                        "STAGES")
    client_instances: int | str = key(
        "run", "1", p.integer(1, 1024, auto=True), "client processes; auto = one per core", "N"
    )
    connections_per_client: int = key("run", "10", p.integer(1, 10000), "connections per process", "N")
    threads_per_client: int = key("run", "2", p.integer(1, 1000), "worker threads per process", "N")
    pipeline: int = key("run", "1", p.integer(1, 100000), "commands per round trip", "N")
    warmup: float = key("run", "0", p.number(), "seconds of load left out of the results", "SEC")
    ramp: float = key("run", "0", p.number(), "seconds to grow from one connection to all", "SEC")
    cpu_affinity: str = key("run", "none", p.choice("none", "auto"), "auto pins client processes to cores", "MODE")
    dask: str = key("run", "", p.text(),
                    "run shards on this Dask scheduler, e.g. tcp://host:8786 (needs the dask extra)", "ADDR")
    shards: int = key("run", "1", p.integer(1, 1024), "shards of a --dask run, each on its own worker", "N")
    heartbeat_timeout: float = key(
        "run", "5", p.number(minimum=2), "seconds a client process may stay silent before it is killed (>= 2)", "SEC"
    )
    # Several machines: see harness/shards.py and harness/barrier.py.
    shard: p.ShardSpec | None = key(
        "run", "", p.shard(), "run shard I of N (I/N; /N takes I from JOB_COMPLETION_INDEX)", "I/N"
    )
    run_id: str = key("run", "", p.run_id(), "id shared by all shards; none = derived (see docs)", "ID")
    start_at: float | str | None = key(
        "run", "", p.start_instant(), "start at this instant: epoch s, ISO-8601 with zone, or stdin", "WHEN"
    )
    # [workload]
    key_prefix: str = key("workload", "", p.text(), "key prefix; none = harness:<run id>:", "TEXT")
    reuse_prefix: bool = key(
        "workload", "false", p.boolean(), "run even if keys already exist under key_prefix", "BOOL"
    )
    keyspace: int = key("workload", "10000", p.integer(1), "number of distinct keys", "N")
    key_distribution: str = key(
        "workload", "uniform", p.choice("uniform", "sequential", "gaussian", "zipfian"),
        "how keys are picked", "NAME",
    )
    value_size: tuple = key("workload", "32", p.value_size_spec(), "value bytes: N, MIN-MAX or list", "SPEC")
    read_ratio: float = key("workload", "0.5", p.number(maximum=1), "share of reads, 0 to 1", "R")
    cleanup: bool = key("workload", "true", p.boolean(), "delete this run's keys at the end", "BOOL")
    preload: bool = key("workload", "false", p.boolean(), "fill the keyspace before the timed phase", "BOOL")
    key_median: float | None = key("workload", "", p.optional_number(), "gaussian centre; none = middle", "N")
    key_stddev: float | None = key("workload", "", p.optional_number(), "gaussian spread; none = keyspace/6", "N")
    zipf_exponent: float = key("workload", "0.99", p.number(above=True), "zipfian skew", "S")
    # [metrics]
    stats_interval: float = key("metrics", "5", p.number(above=True), "seconds between live stats", "SEC")
    prometheus_port: int = key("metrics", "0", p.integer(0, 65535), "serve /metrics here; 0 = off", "PORT")
    prometheus_bind: str = key("metrics", "127.0.0.1", p.text(), "address /metrics listens on", "ADDR")
    metrics_linger: float = key("metrics", "0", p.number(), "seconds /metrics stays up after the run", "SEC")
    otlp_endpoint: str = key("metrics", "", p.text(), "OpenTelemetry OTLP endpoint URL", "URL")
    otlp_protocol: str = key("metrics", "http/protobuf", p.choice("http/protobuf", "grpc"), "OTLP transport", "NAME")
    trace_sample_ratio: float = key(
        "metrics", "0", p.number(maximum=1), "share of operations exported as OTLP spans", "R"
    )
    output: str = key("metrics", "", p.text(), "result file (JSON); none = results/<workload>-<time>.json", "FILE")
    csv: str = key("metrics", "", p.text(), "also write per-command and per-second figures as CSV", "FILE")
    report: str = key("metrics", "", p.text(), "also write the HTML report here at the end of the run", "FILE")
    # A flag on the command line (no metavar): --quiet.
    quiet: bool = key("metrics", "false", p.boolean(), "print only the final one-line summary", "")
    progress: str = key("metrics", "auto", p.choice("auto", "json"),
                        "live figures: auto = the live view; json = one JSON object per interval on stdout", "FORM")
    log_level: str = key("metrics", "info", p.choice("debug", "info", "warning", "error"), "log level", "LEVEL")
    log_file: str = key("metrics", "", p.text(), "also write the log here (rotated by size)", "FILE")
    log_max_bytes: int = key("metrics", "10485760", p.integer(1024), "rotate log_file at this size", "N")
    log_backups: int = key("metrics", "5", p.integer(0, 1000), "rotated log files kept", "N")
    pushgateway: str = key("metrics", "", p.text(), "push final metrics to this Pushgateway URL", "URL")
    # [thresholds]
    thresholds: tuple = key(
        "thresholds", "", p.threshold_list(), "pass/fail check, e.g. 'p99_ms < 2' (repeatable)", "EXPR",
        option="--threshold",
    )
    abort_on_fail: bool = key("thresholds", "false", p.boolean(), "stop once a threshold cannot pass", "BOOL")

    # Where each key's value came from: "default", "FILE:LINE", "env NAME", "option --name".
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def source(self, name: str) -> str:
        return self.sources.get(name, DEFAULT_SOURCE)

    def is_set(self, name: str) -> bool:
        """True when the user gave this key anywhere (even if equal to the default)."""
        return self.source(name) != DEFAULT_SOURCE

    def display_value(self, name: str) -> str:
        """The value as --dry-run shows it: passwords masked, the rest as typed."""
        value = getattr(self, name)
        if isinstance(value, p.Secret):
            return repr(value)
        if name in URL_KEYS:
            return mask_url(value)
        if value is None:
            return "(unset)"
        if isinstance(value, tuple):
            return _tuple_text(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return repr(value) if name == "start_at" else f"{value:g}"  # :g would round an epoch
        return str(value)


def _tuple_text(value: tuple) -> str:
    """value_size, write_mix and commands as they would be written in the INI file."""
    if not value:
        return ""
    if isinstance(value[0], p.SizeChoice):
        return ",".join(_size_text(choice, len(value) > 1) for choice in value)
    if hasattr(value[0], "metric"):  # thresholds
        return "; ".join(threshold.text for threshold in value)
    if isinstance(value[0], p.CommandTemplate):
        return "; ".join(f"{t.weight:g} {' '.join(t.words)}" for t in value)
    return ",".join(f"{name}:{weight:g}" for name, weight in value)


def _size_text(choice: p.SizeChoice, weighted: bool) -> str:
    size = str(choice.low) if choice.low == choice.high else f"{choice.low}-{choice.high}"
    return f"{size}:{choice.weight:g}" if weighted else size


@dataclass(frozen=True)
class KeySpec:
    name: str
    section: str
    default: str
    parser: p.Parser
    help: str
    metavar: str
    option_name: str = ""

    @property
    def option(self) -> str:
        return self.option_name or "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


# Each workload declares its own keys where it is defined (Workload.config_keys).
RunConfig = dataclasses.make_dataclass("RunConfig", declared_keys(), bases=(CoreConfig,), frozen=True, kw_only=True)
RunConfig.__doc__ = "Every key of a run: CoreConfig's and those the workloads declare."

KEYS: tuple[KeySpec, ...] = tuple(
    KeySpec(name=f.name, **f.metadata) for f in dataclasses.fields(RunConfig) if f.metadata
)
KEYS_BY_NAME = {spec.name: spec for spec in KEYS}


@dataclass(frozen=True)
class RawValue:
    text: str
    source: str


def resolve(
    config_file: str | None, env: Mapping[str, str], options: Mapping[str, str]
) -> RunConfig:
    """Merge every layer, parse each value, check keys against each other.

    `options` maps key names to the text given on the command line.
    Raises ConfigError naming the key, its source and what is allowed.
    """
    raw = {spec.name: RawValue(spec.default, DEFAULT_SOURCE) for spec in KEYS}
    if config_file:
        raw.update(read_ini(config_file))
    raw.update(read_env(env))
    for name, value in options.items():
        raw[name] = RawValue(value, "option " + KEYS_BY_NAME[name].option)
    values = {name: _parse(KEYS_BY_NAME[name], item) for name, item in raw.items()}
    sources = {name: item.source for name, item in raw.items()}
    _load_password_file(values, sources)
    _duration_from_stages(values, sources)
    shard_index_from_job(values, sources, env)
    config = RunConfig(**values, sources=MappingProxyType(sources))
    check_conflicts(config)
    return config


def _duration_from_stages(values: dict, sources: dict) -> None:
    """Stages say how long the run lasts; a duration given as well must agree."""
    if not values["stages"]:
        return
    total = sum(seconds for seconds, _ in values["stages"])
    if sources["duration"] != DEFAULT_SOURCE and abs(values["duration"] - total) > 1e-9:
        raise ConfigError(
            f"duration = {values['duration']:g} ({sources['duration']}) conflicts with stages "
            f"({sources['stages']}), which last {total:g} s: leave duration out, the stages set it"
        )
    values["duration"] = total
    sources["duration"] = f"the sum of stages ({sources['stages']})"


def _parse(spec: KeySpec, raw: RawValue) -> object:
    try:
        return spec.parser(raw.text)
    except ValueError as exc:
        shown = "***" if spec.name in ("password", "sentinel_password") else mask_url(raw.text)
        raise ConfigError(f"invalid {spec.name} = {shown!r} ({raw.source}): {exc}") from None


def read_env(env: Mapping[str, str]) -> dict[str, RawValue]:
    found: dict[str, RawValue] = {}
    if env.get(OTEL_ENDPOINT_ENV):
        found["otlp_endpoint"] = RawValue(env[OTEL_ENDPOINT_ENV], "env " + OTEL_ENDPOINT_ENV)
    for name, value in sorted(env.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        key_name = name[len(ENV_PREFIX):].lower()
        if key_name not in KEYS_BY_NAME:
            raise ConfigError(
                f"unknown environment variable {name}: HARNESS_ variables name "
                f"configuration keys (see harness --help)"
            )
        found[key_name] = RawValue(value, "env " + name)
    return found


_SECTION_LINE = re.compile(r"^\s*\[([^\]]*)\]")
_KEY_LINE = re.compile(r"^([^\s=:#;][^=:]*?)\s*[=:]")


def read_ini(path: str) -> dict[str, RawValue]:
    """Read the INI file; each value's source is PATH:LINE."""
    parser = configparser.ConfigParser(
        interpolation=None,  # '%' is common in passwords
        default_section="\0none",  # a [DEFAULT] section is an unknown section, not magic
        inline_comment_prefixes=("#", ";"),
        strict=True,
    )
    try:
        _check_config_file(path, os.stat(path))  # before open(): opening a FIFO would block
        with open(path, "rb") as handle:
            lines = handle.read(MAX_CONFIG_BYTES + 1).decode("utf-8").splitlines()
        lines, threshold_lines = _take_threshold_lines(lines)
        parser.read_string("\n".join(lines), source=path)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read config file {path}: not UTF-8 text") from None
    except configparser.Error as exc:
        raise ConfigError(f"malformed config file {path}: {_one_line(exc)}") from None
    lines_of = _key_lines(lines)
    found: dict[str, RawValue] = {}
    if threshold_lines:
        for number, text in threshold_lines:
            try:
                p.threshold_list()(text)
            except ValueError as exc:
                raise ConfigError(f"invalid threshold ({path}:{number}): {exc}") from None
        found["thresholds"] = RawValue("; ".join(text for _, text in threshold_lines),
                                       f"{path}:{threshold_lines[0][0]}")
    for section in parser.sections():
        if section not in SECTIONS:
            where = f"{path}:{lines_of.get((section, None), '?')}"
            raise ConfigError(
                f"unknown section [{section}] ({where}): sections are "
                + ", ".join(f"[{name}]" for name in SECTIONS)
            )
        for name, value in parser.items(section):
            where = f"{path}:{lines_of.get((section, name), '?')}"
            spec = KEYS_BY_NAME.get(name)
            if spec is None:
                raise ConfigError(f"unknown key {name!r} in [{section}] ({where})" + _suggest(name))
            if spec.section != section:
                raise ConfigError(f"key {name!r} belongs in [{spec.section}], not [{section}] ({where})")
            found[name] = RawValue(value, where)
    return found


def _check_config_file(path: str, info: os.stat_result) -> None:
    """A regular file of at most MAX_CONFIG_BYTES: not a device, FIFO or directory."""
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"config file {path} is not a regular file")
    if info.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is {info.st_size:,} bytes; at most {MAX_CONFIG_BYTES:,} are read")


_THRESHOLD_KEY = re.compile(r"^\s*abort_on_fail\s*[=:]")


def _take_threshold_lines(lines: list[str]) -> tuple[list[str], list[tuple[int, str]]]:
    """Lines of [thresholds] are expressions ('p99_ms < 2'), not key = value, apart from
    abort_on_fail: take them out (blank, so line numbers stay) with their numbers."""
    kept, taken, inside = [], [], False
    for number, line in enumerate(lines, start=1):
        header = _SECTION_LINE.match(line)
        if header:
            inside = header.group(1).strip() == "thresholds"
        elif inside and line.strip() and not line.lstrip().startswith(("#", ";")) \
                and not _THRESHOLD_KEY.match(line):
            taken.append((number, line.split(" #")[0].strip()))
            kept.append("")
            continue
        kept.append(line)
    return kept, taken


def _key_lines(lines: list[str]) -> dict[tuple[str, str | None], int]:
    """Line numbers of section headers and keys; configparser does not keep them."""
    where: dict[tuple[str, str | None], int] = {}
    section = None
    for number, line in enumerate(lines, start=1):
        header = _SECTION_LINE.match(line)
        if header:
            section = header.group(1).strip()
            where.setdefault((section, None), number)
            continue
        match = _KEY_LINE.match(line)
        if match and section is not None:
            where.setdefault((section, match.group(1).strip().lower()), number)
    return where


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _suggest(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, KEYS_BY_NAME, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _load_password_file(values: dict, sources: dict) -> None:
    path = values["password_file"]
    if not path:
        return
    if values["password"]:
        raise ConfigError(
            f"password ({sources['password']}) and password_file ({sources['password_file']}) "
            "are both set: keep one"
        )
    try:
        with open(path, encoding="utf-8") as handle:
            first_line = handle.readline(MAX_PASSWORD_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            f"cannot read password_file {path} ({sources['password_file']}): {exc.strerror}"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"password_file {path} ({sources['password_file']}) is not UTF-8 text") from None
    if len(first_line) > MAX_PASSWORD_BYTES:
        raise ConfigError(f"password_file {path} ({sources['password_file']}): its first line is longer "
                          f"than {MAX_PASSWORD_BYTES:,} characters")
    first_line = first_line.rstrip("\r\n")
    if not first_line:
        raise ConfigError(f"password_file {path} ({sources['password_file']}) is empty")
    values["password"] = p.Secret(first_line)
    sources["password"] = f"file {path}"


def check_conflicts(config: RunConfig) -> None:
    """Rules that involve more than one key."""
    url = config.url
    if url is not None:
        clash = [name for name in ("host", "port", "db") if config.is_set(name)]
        if url.embedded:
            clash += [name for name in ("username", "password", "tls") if config.is_set(name)]
        if url.username and config.is_set("username"):
            clash.append("username")
        if url.password and config.is_set("password"):
            clash.append("password")
        if clash:
            other = clash[0]
            raise ConfigError(
                f"url ({config.source('url')}) conflicts with {other} ({config.source(other)}): "
                f"give the target either as a url or as host/port/db keys"
            )
    if config.sentinels:
        clash = [name for name in ("url", "host", "port") if config.is_set(name)]
        if config.cluster is True:
            clash.append("cluster")
        if clash:
            other = clash[0]
            raise ConfigError(
                f"sentinels ({config.source('sentinels')}) conflicts with {other} ({config.source(other)}): "
                "with Sentinel the master's address comes from the Sentinels"
            )
    for name in ("tls_ca", "tls_cert", "tls_key"):
        if getattr(config, name) and not uses_tls(config):
            raise ConfigError(
                f"{name} ({config.source(name)}) needs TLS: use a rediss:// url or tls = true"
            )
    if bool(config.tls_cert) != bool(config.tls_key):
        given = "tls_cert" if config.tls_cert else "tls_key"
        raise ConfigError(
            f"{given} ({config.source(given)}) needs its pair: set both tls_cert and tls_key"
        )
    if config.workload == "custom" and not config.commands:
        raise ConfigError(
            f"workload = custom ({config.source('workload')}) needs commands: lines such as "
            "'7 GET {key}; 3 SET {key} {value}'"
        )
    if config.key_median is not None and config.key_median >= config.keyspace:
        raise ConfigError(
            f"key_median = {config.key_median:g} ({config.source('key_median')}) must be below "
            f"keyspace = {config.keyspace} ({config.source('keyspace')})"
        )
    if len(config.key_prefix.encode()) > MAX_KEY_PREFIX:
        raise ConfigError(
            f"key_prefix ({config.source('key_prefix')}) is {len(config.key_prefix.encode()):,} bytes long: "
            f"at most {MAX_KEY_PREFIX} (every key carries it)"
        )
    check_shard_keys(config)
    if config.duration and config.warmup >= config.duration:
        raise ConfigError(
            f"warmup = {config.warmup:g} ({config.source('warmup')}) must be shorter than "
            f"duration = {config.duration:g} ({config.source('duration')})"
        )


def uses_tls(config: RunConfig) -> bool:
    return config.tls or (config.url is not None and config.url.scheme == "rediss")
