"""What ``mcp --http`` and ``trigger listen`` share as network services.

Each command builds one small ASGI app; ``serve`` runs it under uvicorn, wrapped by
``Service``, which adds the same operations to both:

- ``GET /healthz``: 200 ``{"status": "serving"}``, then 503 ``{"status": "stopping"}`` from
  the moment SIGTERM arrives, so that a load balancer stops sending new requests.
- Bearer tokens, when the command has some: a request without one of them is answered 401
  with ``WWW-Authenticate: Bearer`` before its body is read; the comparison takes the same
  time whatever the token given (``hmac.compare_digest`` against every token held).
- Limits, each answered with the status RFC 9110 gives it:

  - 413 Content Too Large past ``--max-body`` bytes (from Content-Length, or while reading);
  - 408 Request Timeout when a client takes more than ``--read-timeout`` seconds to send its
    request: a body sent too slowly is answered 408; headers sent too slowly (a client
    trickling one byte a second) get 408 and the connection is cut. Being asynchronous, the
    server never gives a slow client a worker to hold;
  - 504 Gateway Timeout when the answer takes more than ``--request-timeout`` seconds: the
    server waits on Intercom (an upstream) for it, which is 504's case, not 408's;
  - 503 Service Unavailable with ``Retry-After`` past ``--max-calls`` requests at once, and
    while stopping: the server, not this client, is busy. 429 would say this client sent too
    many (RFC 6585, a per-client rate limit), and a load balancer retries a 503 elsewhere.

- SIGTERM drains: no new connection is accepted, new requests on open ones get 503, the
  requests already running finish (for at most ``--grace`` seconds), then the command
  returns and the process exits 0. A request still running when the grace period ends is
  answered 504 (its wait on Intercom, upstream, was cut short; it is never left without an
  answer), the command says how many in one line and exits 1: the drain did not complete,
  which a supervisor (systemd, Kubernetes) shows as a failed stop.
- ``--log-format json``: one JSON line per request on stderr (time, client, method, path,
  tool, status, duration in ms, Intercom's request ids) and the notes as JSON lines too;
  never a header's value, a token or a body. ``text`` (the default) prints the notes alone.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import hmac
import ipaddress
import math
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import orjson

from intercom_connector.hosts import options
from intercom_connector.runtime.errors import ConnectionConfigError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

HEALTH_PATH = "/healthz"
#: where a request's Intercom request ids are gathered: ``scope["state"][REQUEST_IDS]``
REQUEST_IDS = "intercom_request_ids"
#: what a request ran (a tool, a trigger), for the log: ``scope["state"][WHAT]``
WHAT = "what"
#: the scope state's key for the time.monotonic() at which the request is answered 504:
#: the app (a tool call) sends Intercom nothing past it
GIVE_UP_AT = "give_up_at"
#: the shortest bearer token accepted: shorter ones can be guessed
MIN_TOKEN = 16


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable from this machine alone."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServiceOptions:
    """How a service listens, stops, logs and limits its requests."""

    host: str = "127.0.0.1"
    port: int = 0
    grace: float = 30.0
    log_format: str = "text"
    max_body: int = 4 * 1024 * 1024
    read_timeout: float = 10.0
    request_timeout: float = 300.0
    max_calls: int = 64
    tokens: tuple[str, ...] = field(default=(), repr=False)


def add_service_options(parser: argparse.ArgumentParser, defaults: ServiceOptions) -> None:
    """The options both services take (their ``--port`` and ``--host`` are their own)."""
    group = parser.add_argument_group("service (HTTP)")
    group.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=defaults.log_format,
        help="json: one line per request on stderr (default text: notes only)",
    )
    limits: list[tuple[str, Callable[[str], Any], str, str]] = [
        ("grace", options.seconds, "SECONDS", "on SIGTERM, how long running requests may finish"),
        ("max_body", options.positive, "BYTES", "largest request body; past it 413"),
        ("read_timeout", options.seconds, "SECONDS", "time to send headers, then body; 408"),
        ("request_timeout", options.seconds, "SECONDS", "time to answer a request; 504"),
        ("max_calls", options.positive, "N", "requests served at once; past it 503"),
    ]
    for name, kind, metavar, text in limits:
        default = getattr(defaults, name)
        group.add_argument(
            f"--{name.replace('_', '-')}",
            type=kind,
            default=default,
            metavar=metavar,
            help=f"{text} (default {default:,g})"
            if kind is options.seconds
            else f"{text} (default {default})",
        )


def service_options(
    args: argparse.Namespace, host: str, port: int, tokens: tuple[str, ...] = ()
) -> ServiceOptions:
    """The options ``add_service_options`` parsed, with the command's host, port and tokens."""
    return ServiceOptions(
        host=host,
        port=port,
        grace=args.grace,
        log_format=args.log_format,
        max_body=args.max_body,
        read_timeout=args.read_timeout,
        request_timeout=args.request_timeout,
        max_calls=args.max_calls,
        tokens=tokens,
    )


def tokens_from_env(variable: str) -> tuple[str, ...]:
    """The bearer tokens in the environment variable ``variable``: comma-separated, so that a
    new token can be added before the old one is removed (rotation without downtime)."""
    value = os.environ.get(variable)
    tokens = tuple(t.strip() for t in (value or "").split(",") if t.strip())
    if not tokens:
        state = "is not set" if value is None else "holds no token"
        raise ValueError(
            f"--token-env {variable}: the environment variable {variable} {state} "
            "(give one or more tokens, comma-separated)"
        )
    short = sum(len(token) < MIN_TOKEN for token in tokens)
    if short:
        which = "its token is" if len(tokens) == 1 else f"{short} of its {len(tokens)} tokens are"
        raise ValueError(
            f"--token-env {variable}: {which} shorter than {MIN_TOKEN} characters, "
            "which can be guessed (openssl rand -hex 32 makes a good one)"
        )
    return tokens


class RequestLog:
    """Notes and request lines on stderr, as text or as JSON lines."""

    def __init__(self, log_format: str = "text", stream: Any = None) -> None:
        self.json = log_format == "json"
        self.stream = stream or sys.stderr

    def note(self, text: str, level: str = "info") -> None:
        if self.json:
            self._line({"time": _now(), "level": level, "message": text})
        else:
            print(f"error: {text}" if level == "error" else text, file=self.stream, flush=True)

    def request(self, entry: dict[str, Any]) -> None:
        if self.json:
            self._line({"time": _now(), **entry})

    def _line(self, entry: dict[str, Any]) -> None:
        self.stream.write(orjson.dumps(entry).decode() + "\n")
        self.stream.flush()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Service:
    """An ASGI app with the operations of the module's docstring around it."""

    def __init__(
        self,
        app: App,
        options: ServiceOptions,
        log: RequestLog,
        describe: Callable[[bytes], str | None] | None = None,
    ) -> None:
        self.app = app
        self.describe = describe
        self.options = options
        self.log = log
        self.stopping = False
        self.running = 0  # requests being answered (not /healthz)
        self.cut = 0  # requests answered 504 when the grace period ended
        self._tokens = [token.encode() for token in options.tokens]
        self._loop: Any = None  # the event loop serving, from the first call (lifespan)
        self._answers: set[Any] = set()  # the tasks answering requests (asyncio.Task)
        self._grace_over = False

    def stop(self) -> None:
        """Stop taking requests; those running may finish within ``options.grace`` seconds.
        From any thread, or a signal handler."""
        if self.stopping:
            return
        self.stopping = True
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.call_later, self.options.grace, self._end)

    def _end(self) -> None:
        """The grace period is over: what still runs is answered 504 (``_within_limits``)."""
        self._grace_over = True
        for answer in self._answers:
            answer.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._loop is None:
            import asyncio

            self._loop = asyncio.get_running_loop()
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        state[REQUEST_IDS] = []
        status = await self._answer(scope, receive, _Recorder(send))
        if scope["path"] != HEALTH_PATH:
            client = scope.get("client")
            self.log.request(
                {
                    "client": f"{client[0]}:{client[1]}" if client else None,
                    "method": scope["method"],
                    "path": scope["path"],
                    "tool": state.get(WHAT),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "intercom_request_ids": state[REQUEST_IDS],
                }
            )

    async def _answer(self, scope: Scope, receive: Receive, send: _Recorder) -> int:
        if scope["path"] == HEALTH_PATH and scope["method"] in ("GET", "HEAD"):
            if self.stopping:
                return await respond(send, 503, {"status": "stopping"})
            return await respond(send, 200, {"status": "serving"})
        if self.stopping:
            return await respond(
                send, 503, {"error": "the server is stopping"}, retry_after=True, close=True
            )
        if self._tokens and not self._authorized(scope):
            return await respond(
                send,
                401,
                {"error": "a bearer token is required (Authorization: Bearer ...)"},
                headers=[(b"www-authenticate", b'Bearer realm="intercom-connector"')],
            )
        if self.running >= self.options.max_calls:
            return await respond(
                send,
                503,
                {"error": f"the server is answering {self.options.max_calls} requests already"},
                retry_after=True,
            )
        self.running += 1
        try:
            return await self._within_limits(scope, receive, send)
        finally:
            self.running -= 1

    def _authorized(self, scope: Scope) -> bool:
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credentials = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    given = credentials.strip()
        matched = False
        for token in self._tokens:  # every token, whatever matched: the time says nothing
            matched |= hmac.compare_digest(given, token)
        return matched and bool(given)

    async def _within_limits(self, scope: Scope, receive: Receive, send: _Recorder) -> int:
        import asyncio  # here: the CLI's other commands never load it

        options = self.options
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > options.max_body):
            message = f"the body is larger than {options.max_body} bytes"
            return await respond(send, 413, {"error": message}, close=True)
        try:
            body = await asyncio.wait_for(
                _read_body(receive, options.max_body), options.read_timeout
            )
        except _TooLarge:
            message = f"the body is larger than {options.max_body} bytes"
            return await respond(send, 413, {"error": message}, close=True)
        except TimeoutError:
            message = f"the body took longer than {options.read_timeout:g} s to arrive"
            return await respond(send, 408, {"error": message}, close=True)
        if self.describe is not None:
            scope["state"][WHAT] = self.describe(body)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        scope["state"][GIVE_UP_AT] = time.monotonic() + options.request_timeout
        answer = asyncio.ensure_future(self.app(scope, replay, send))
        self._answers.add(answer)  # the end of the grace period cancels it
        try:
            await asyncio.wait((answer,), timeout=options.request_timeout)
        finally:
            self._answers.discard(answer)
            if not answer.done():  # late: the wait is given up (the call sends no more)
                answer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await answer
        if not answer.cancelled():
            answer.result()  # the app's own failure, raised as it was
        elif send.status is None:
            if self._grace_over:
                self.cut += 1
                message = f"the grace period ({options.grace:g} s) ended before the answer"
            else:
                message = f"no answer within {options.request_timeout:g} s"
            return await respond(send, 504, {"error": message}, close=True)
        return send.status or 500


class _TooLarge(Exception):
    pass


class _Recorder:
    """An ASGI ``send`` remembering the status it sent."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status: int | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def respond(
    send: Send,
    status: int,
    content: dict[str, Any],
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    retry_after: bool = False,
    close: bool = False,
) -> int:
    body = orjson.dumps(content)
    head = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]
    if retry_after:
        head.append((b"retry-after", b"1"))
    if close:
        head.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
    return status


def json_app(
    handle: Callable[[Scope, bytes], tuple[int, dict[str, Any]]],
    workers: int = ServiceOptions.max_calls,
) -> App:
    """An ASGI app answering each request with JSON from ``handle(scope, body)``.

    ``handle`` may block (a delivery waits for its flow to start, or for Temporal): it runs
    in one of ``workers`` threads, never in the event loop. Its 503 carries ``Retry-After``
    and closes the connection, as the service's own do.
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    threads = ThreadPoolExecutor(workers, thread_name_prefix="request")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        body = await _read_body(receive, sys.maxsize)  # Service has limited it already
        loop = asyncio.get_running_loop()
        status, content = await loop.run_in_executor(threads, handle, scope, body)
        busy = status == 503
        await respond(send, status, content, retry_after=busy, close=busy)

    return app


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def bind(host: str, port: int, what: str) -> socket.socket:
    """A listening socket on ``host`` (an address, or ``localhost``); port 0 picks a free one.

    A port that cannot be had (in use, not allowed) is hosts/options.py's one message; an
    address that cannot be had says why, naming it: ``cannot {what} on HOST:PORT: ...``.
    """
    address = "127.0.0.1" if host == "localhost" else host
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so, and without
    # it each answer waits on the client's delayed ACK (40 ms on Linux)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(1024)
    except (OSError, OverflowError) as exc:
        sock.close()
        if isinstance(exc, OSError) and exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise options.cannot_listen(what, host, port, exc) from None
        problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConnectionConfigError(f"cannot {what} on {host}:{port}: {problem}") from None
    return sock


def url_of(sock: socket.socket, path: str = "/") -> str:
    """The URL a service on ``sock`` answers at (``0.0.0.0`` shown as it is)."""
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"


class Running:
    """A service being served: ``stop()`` (from any thread) drains it as SIGTERM does."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.server: Any = None

    def stop(self) -> None:
        self.service.stop()
        if self.server is not None:
            self.server.should_exit = True


def serve(
    app: App,
    sock: socket.socket,
    options: ServiceOptions,
    log: RequestLog,
    *,
    describe: Callable[[bytes], str | None] | None = None,
    started: Callable[[Running], None] | None = None,
) -> int:
    """Serve ``app`` on ``sock`` until SIGTERM or Ctrl-C (or ``Running.stop()``), drained.

    Returns after SIGTERM once the running requests are answered, or answered 504 when
    ``options.grace`` ran out: how many were (0: the process exits 0, where uvicorn alone
    would raise the signal again). The one line saying so is the caller's.
    """
    import asyncio

    import uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol

    service = Service(app, options, log, describe)
    running = Running(service)
    read_timeout = options.read_timeout

    class Protocol(H11Protocol):
        """uvicorn's h11 protocol, cutting a client that sends its headers too slowly."""

        _cut: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm(None)

        def on_response_complete(self) -> None:
            finished = self.cycle
            super().on_response_complete()
            self._arm(finished)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._cut is not None:
                self._cut.cancel()
            super().connection_lost(exc)

        def _arm(self, cycle: Any) -> None:
            if self._cut is not None:
                self._cut.cancel()
            self._cut = self.loop.call_later(read_timeout, self._headers_late, cycle)

        def _headers_late(self, cycle: Any) -> None:
            # no request began since the last one ended: its headers are late (or none came)
            if self.cycle is cycle and not self.transport.is_closing():
                if cycle is None:  # the first request: say why before cutting
                    self.transport.write(
                        b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
                        b"Connection: close\r\n\r\n"
                    )
                self.transport.close()

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            service.stop()
            super().handle_exit(sig, frame)
            if sig == signal.SIGTERM:  # drained: exit 0 rather than die of the signal
                self._captured_signals.remove(sig)

    config = uvicorn.Config(
        service,
        http=Protocol,
        lifespan="on",
        log_config=None,
        access_log=False,
        # a backstop: the service answers what still runs 504 when the grace period ends
        timeout_graceful_shutdown=math.ceil(options.grace) + 2,
        timeout_keep_alive=5,
        limit_max_requests=None,
        backlog=1024,
    )
    server = Server(config)
    running.server = server
    if started is not None:
        started(running)
    server.run(sockets=[sock])
    return service.cut


def grace_ended(log: RequestLog, options: ServiceOptions, cut: int) -> None:
    """The one line saying that ``cut`` requests were still running when the grace period
    ended (answered 504)."""
    log.note(
        f"the grace period ({options.grace:g} s) ended with {cut} requests running: answered 504",
        level="error",
    )
