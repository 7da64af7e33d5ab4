"""Where the load goes: an Endpoint derived from the configuration, redis-py clients for
it, connecting with retries and backoff, and one-line explanations of failures.

Clients are built in the process that uses them (never before a fork). redis-py's own
silent retries are switched off: a load tool must see every failure, not hide it in a
latency.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Iterator

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError, Sentinel

from harness.embedded import EmbeddedServer
from harness.errors import TargetError
from harness.parsers import Secret

if TYPE_CHECKING:  # (the ACL keeper imports this module: not settings, numpy and the workloads)
    from harness.settings import RunConfig

log = logging.getLogger("harness")

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 6379
# How long the zero-setup probe of localhost:6379 waits before choosing the embedded server.
PROBE_TIMEOUT = 0.5


@dataclass(frozen=True)
class Endpoint:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    unix_path: str = ""
    db: int = 0
    username: str = ""
    password: Secret = Secret("")
    tls: bool = False
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tls_verify: bool = True
    protocol: int = 3
    connect_timeout: float = 5.0
    socket_timeout: float = 10.0
    # Sentinel: the master's address is asked of these (host, port) pairs on every
    # connect, so a reconnect after a failover reaches the new master.
    sentinels: tuple = ()
    service_name: str = ""
    sentinel_password: Secret = Secret("")
    # Redis Cluster (cluster = true, or found by the pre-flight check): host:port is a
    # seed node; the client processes find the masters themselves.
    cluster: bool = False

    def describe(self) -> str:
        """host:port or unix:path, never with credentials."""
        if self.sentinels:
            listed = ",".join(f"{host}:{port}" for host, port in self.sentinels)
            return f"sentinel://{listed}/{self.service_name}"
        if self.cluster:
            return f"cluster://{self.host}:{self.port}"
        if self.unix_path:
            return f"unix:{self.unix_path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'rediss' if self.tls else 'redis'}://{host}:{self.port}"


@dataclass(frozen=True)
class TargetChoice:
    """The endpoint to use, or that the embedded server must be started (embedded=True).

    auto=True means no target was configured anywhere: probe localhost:6379 first.
    """

    endpoint: Endpoint
    embedded: bool = False
    auto: bool = False


def choose_target(config: RunConfig) -> TargetChoice:
    from harness.settings import uses_tls

    endpoint = Endpoint(
        host=config.host,
        port=config.port,
        db=config.db,
        username=config.username,
        password=config.password,
        tls=uses_tls(config),
        tls_ca=config.tls_ca,
        tls_cert=config.tls_cert,
        tls_key=config.tls_key,
        tls_verify=config.tls_verify,
        protocol=config.protocol,
        connect_timeout=config.connect_timeout,
        socket_timeout=config.socket_timeout,
        sentinels=config.sentinels,
        service_name=config.service_name,
        sentinel_password=config.sentinel_password,
    )
    if config.sentinels:
        return TargetChoice(endpoint)
    url = config.url
    if url is not None and url.embedded:
        return TargetChoice(endpoint, embedded=True)
    if url is not None:
        endpoint = replace(
            endpoint,
            host=url.host or DEFAULT_HOST,
            port=url.port or DEFAULT_PORT,
            unix_path=url.path,
            db=url.db if url.db is not None else config.db,
            username=url.username or config.username,
            password=url.password if url.password else config.password,
        )
        return TargetChoice(endpoint)
    explicit = config.is_set("host") or config.is_set("port")
    return TargetChoice(endpoint, auto=not explicit)


def client_kwargs(endpoint: Endpoint) -> dict:
    """Keyword arguments for redis.Redis / redis.ConnectionPool."""
    kwargs = dict(
        db=endpoint.db,
        username=endpoint.username or None,
        password=endpoint.password.reveal() or None,
        protocol=endpoint.protocol,
        socket_connect_timeout=endpoint.connect_timeout,
        socket_timeout=endpoint.socket_timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_error=[],
        lib_name="redis-harness",
    )
    if endpoint.unix_path:
        kwargs["unix_socket_path"] = endpoint.unix_path
        return kwargs
    kwargs.update(host=endpoint.host, port=endpoint.port)
    if endpoint.tls:
        kwargs.update(
            ssl=True,
            ssl_ca_certs=endpoint.tls_ca or None,
            ssl_certfile=endpoint.tls_cert or None,
            ssl_keyfile=endpoint.tls_key or None,
            ssl_cert_reqs="required" if endpoint.tls_verify else "none",
            ssl_check_hostname=endpoint.tls_verify,
        )
    return kwargs


def make_client(endpoint: Endpoint, **extra) -> redis.Redis:
    if endpoint.sentinels:
        return sentinel_manager(endpoint).master_for(endpoint.service_name, **_without_address(endpoint), **extra)
    return redis.Redis(**client_kwargs(endpoint), **extra)


def sentinel_manager(endpoint: Endpoint) -> Sentinel:
    """redis-py's Sentinel for the endpoint's Sentinels; clients it makes connect to
    whichever server the Sentinels name as master at the time of each connect."""
    auth = {"password": endpoint.sentinel_password.reveal()} if endpoint.sentinel_password else {}
    return Sentinel(
        list(endpoint.sentinels),
        sentinel_kwargs=dict(socket_connect_timeout=endpoint.connect_timeout,
                             socket_timeout=endpoint.connect_timeout, **auth),
    )


def _without_address(endpoint: Endpoint) -> dict:
    kwargs = client_kwargs(endpoint)
    kwargs.pop("host")
    kwargs.pop("port")
    return kwargs


def connection_pool(endpoint: Endpoint, size: int) -> redis.ConnectionPool:
    """A pool whose make_connection() builds the right Connection class (TCP, TLS, unix)
    with the harness's settings; built the way redis.Redis builds its own."""
    return make_client(endpoint, max_connections=size).connection_pool


def connect(endpoint: Endpoint, retries: int, first_backoff: float = 0.1) -> redis.Redis:
    """A client whose first PING succeeded, after up to `retries` more attempts.

    Backoff doubles from first_backoff, capped at 2 s. Failures that another attempt
    cannot fix (wrong password, unknown host, TLS, protocol) end at once.
    Raises TargetError with a one-line reason.
    """
    delay = first_backoff
    for attempt in range(retries + 1):
        client = make_client(endpoint)
        try:
            client.ping()
            return client
        except Exception as exc:  # noqa: BLE001 - every failure is classified below
            client.close()
            reason, retryable = explain_failure(exc)
            if not retryable or attempt == retries:
                tries = f" after {attempt + 1} attempts" if attempt else ""
                raise TargetError(f"cannot connect to {endpoint.describe()}{tries}: {reason}") from exc
            log.debug("connect to %s failed (%s); retrying in %.1fs", endpoint.describe(), reason, delay)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")


def explain_failure(exc: BaseException) -> tuple[str, bool]:
    """(one-line reason, whether retrying could help) for a failed connect or command."""
    chain = _causes(exc)
    text = " ".join(str(item) for item in chain).lower()
    if any(isinstance(item, MasterNotFoundError) for item in chain):
        return f"no Sentinel named a master ({_short(str(exc))})", True
    if any(isinstance(item, ssl.SSLError) for item in chain) or "ssl" in text and "handshake" in text:
        detail = next(str(item) for item in chain if isinstance(item, ssl.SSLError) or "ssl" in str(item).lower())
        hint = "; is the server speaking TLS on this port?" if "timed out" in detail else ""
        return f"TLS handshake failed ({_short(detail)}{hint})", False
    if any(isinstance(item, socket.gaierror) for item in chain) or "name or service not known" in text:
        return "unknown host", False
    if "noauth" in text or "authentication required" in text or "already authenticated" in text:
        return "authentication failed (the server requires a password)", False
    if any(isinstance(item, redis.AuthenticationError) for item in chain) or "wrongpass" in text \
            or "invalid password" in text or "invalid username-password" in text:
        return "authentication failed (wrong user name or password)", False
    if "select is not allowed in cluster mode" in text:
        return "the target is a Redis Cluster node, which has database 0 only: use db = 0", False
    if "noproto" in text or ("unknown command" in text and "hello" in text):
        return "protocol not supported (RESP3 needs Redis 6+; try protocol = 2)", False
    if any(isinstance(item, ConnectionRefusedError) for item in chain) or "connection refused" in text:
        return "connection refused (nothing listening?)", True
    if any(isinstance(item, (TimeoutError, socket.timeout, redis.TimeoutError)) for item in chain) \
            or "timed out" in text or "timeout" in text:
        return "timeout", True
    if any(isinstance(item, FileNotFoundError) for item in chain) or "no such file" in text:
        return "unix socket not found", True
    if "connection closed by server" in text or "connection reset" in text:
        return "connection closed by the server", True
    return _short(str(exc)) or type(exc).__name__, True


def _causes(exc: BaseException) -> list[BaseException]:
    chain, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


def _short(text: str) -> str:
    return " ".join(text.split())[:200]


def probe(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> bool:
    """True when something speaking Redis answers at host:port (any reply, even NOAUTH)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply[:1] in (b"+", b"-")


@contextlib.contextmanager
def open_target(config: RunConfig) -> Iterator[Endpoint]:
    """Yield the endpoint to load; start (and finally stop) the embedded server if needed.

    With no target configured anywhere, a server answering on localhost:6379 is used;
    otherwise a private one is started. A target configured explicitly never falls back.
    """
    choice = choose_target(config)
    if choice.auto and probe(DEFAULT_HOST, DEFAULT_PORT):
        log.info("no target configured: using the server answering on %s:%d", DEFAULT_HOST, DEFAULT_PORT)
        yield choice.endpoint
        return
    if not (choice.auto or choice.embedded):
        yield choice.endpoint
        return
    why = "url = embedded" if choice.embedded else f"no target configured and none on {DEFAULT_HOST}:{DEFAULT_PORT}"
    with EmbeddedServer(private=True) as server:
        log.info(
            "%s: started a private redis-server (%s, pid %d) on %s:%d in %s; "
            "results measure this machine alone",
            why, server.binary, server.pid, server.host, server.port, server.directory,
        )
        yield replace(
            choice.endpoint, host=server.host, port=server.port, unix_path="", db=0,
            username="", password=Secret(server.password), tls=False,
        )
    log.info("stopped the private redis-server and removed its files")
