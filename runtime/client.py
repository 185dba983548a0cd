"""The one Intercom client every action shares.

``IntercomClient`` owns everything about talking to Intercom so that handlers stay a
few lines long: the API host (by region or an explicit base URL), Bearer auth, the
``Intercom-Version`` header, timeouts, percent-encoded path parameters, the mapping of
error answers to the exception tree (runtime/errors.py), the retry policy, the rate-limit
window shared by requests side by side, and creates Intercom refuses to repeat. How lists
are paged is runtime/paging/'s.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import replace
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx
import orjson

from intercom_connector.runtime.connection import Connection, check_base_url, secret_url_problem
from intercom_connector.runtime.errors import (
    ConnectorError,
    InputRefusal,
    IntercomAPIError,
    NotFoundError,
    TransportError,
    error_class_for_status,
)
from intercom_connector.runtime.frozen import frozen

log = logging.getLogger("intercom_connector.http")

#: methods a retry cannot turn into a second write
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
USER_AGENT = "intercom-connector/0.1 (+flow builder)"
#: connections kept open for reuse: enough for a bulk run's requests side by side
POOL = httpx.Limits(max_connections=100, max_keepalive_connections=64)
#: waits for a rate-limit window at least this long (seconds) are announced (INFO on ``log``)
ANNOUNCED_WAIT = 1.0
UNKNOWN_OUTCOME = (
    "The request may have reached Intercom: its outcome is unknown, so it was not repeated. "
    "Check in Intercom whether the object was created before retrying."
)
SENT_AGAIN = (
    "Its outcome is unknown: it was sent {count} times and no answer came back. Intercom "
    "refuses a second record with the same unique value, so at most one was made. Check in "
    "Intercom before retrying."
)
#: a record a 409 names is the lost create's when made at most this long (seconds) before
#: the create was first sent: the two clocks apart, and Intercom's whole seconds
SETTLE_SKEW = 60.0
#: how Intercom's 409 names the record that holds the value ("...already exists with id=...")
_NAMED_ID = re.compile(r"\bid=([A-Za-z0-9_-]+)")


@frozen
class RetryPolicy:
    """How hard the client tries before it reports a failure."""

    #: attempts in all, the first included (None: the connection's Max Attempts)
    max_attempts: int | None = None
    #: no retry starts once this many seconds have passed since the first attempt
    #: (None: the connection's Max Retry Time)
    max_total_seconds: float | None = None
    #: exponential backoff with full jitter: base * 2**n, capped
    backoff_base: float = 0.5
    backoff_cap: float = 10.0
    #: the longest a 429 or an exhausted rate-limit window is waited out
    max_rate_limit_wait: float = 60.0


@frozen
class RequestRetry:
    """A per-request retry override with the seed's Raw Request semantics."""

    max_retries: int = 0
    delay_ms: int = 0
    exponential: bool = False
    on_all_errors: bool = False


class _BearerAuth(httpx.Auth):
    """Adds the token at send time, so no header object built earlier ever holds it."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token()}"
        yield request


def encode_segment(value: str) -> str:
    """One path segment: every reserved character encoded, and never a dot segment."""
    encoded = quote(str(value), safe="")
    if encoded in (".", ".."):
        encoded = encoded.replace(".", "%2E")
    return encoded


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def build_path(template: str, params: Mapping[str, str] | None = None) -> str:
    """Fill ``/contacts/{contact_id}`` with percent-encoded values."""
    values = params or {}
    return _PLACEHOLDER.sub(lambda match: encode_segment(values[match.group(1)]), template)


def _redacted_headers(headers: httpx.Headers) -> dict[str, str]:
    return {
        name: ("Bearer ********" if name.lower() == "authorization" else value)
        for name, value in headers.items()
    }


def _trace_request(request: httpx.Request) -> None:
    # Runs after auth has set the header, so the trace shows it redacted.
    if log.isEnabledFor(logging.DEBUG):
        request.extensions["trace_started"] = time.perf_counter()
        headers = _redacted_headers(request.headers)
        log.debug("-> %s %s headers=%s", request.method, request.url, headers)


#: Intercom's request ids of the answers received in this context, when a caller gathers
#: them (hosts/service.py logs them with each request a service answered)
request_ids: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "intercom_request_ids", default=None
)


#: when (``time.monotonic()``) the caller of this context stops waiting for an answer (a
#: service that answered 504, hosts/service.py): a request not sent by then is not sent
give_up_at: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "intercom_give_up_at", default=None
)

T = TypeVar("T")


def in_callers_context(call: Callable[..., T]) -> Callable[..., T]:
    """``call``, to run on other threads each time in a copy of the calling thread's
    context: the request ids a caller gathers (``request_ids``) then include the pages
    fetched side by side for it."""
    context = contextvars.copy_context()

    def run(*args: Any, **kwargs: Any) -> T:
        return context.copy().run(call, *args, **kwargs)

    return run


def _trace_response(response: httpx.Response) -> None:
    gathered = request_ids.get()
    if gathered is not None and "X-Request-Id" in response.headers:
        gathered.append(response.headers["X-Request-Id"])
    if log.isEnabledFor(logging.DEBUG):
        request = response.request
        started = request.extensions.get("trace_started", time.perf_counter())
        log.debug(
            "<- %s %s %s in %.0f ms request-id=%s",
            response.status_code,
            request.method,
            request.url.path,
            (time.perf_counter() - started) * 1000,
            response.headers.get("X-Request-Id", "-"),
        )


def _error_from_response(
    response: httpx.Response, method: str, path: str, attempts: int
) -> IntercomAPIError:
    code: str | None = None
    message = response.reason_phrase or "request failed"
    request_id = response.headers.get("X-Request-Id")
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        request_id = body.get("request_id") or request_id
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            code = first.get("code")
            texts = [str(e.get("message") or e.get("code")) for e in errors if isinstance(e, dict)]
            message = "; ".join(texts)
            if first.get("field"):
                message += f" (field: {first['field']})"
    if response.status_code == 410 and "Link" in response.headers:
        message += f"; merged into {response.headers['Link']}"
    cls = error_class_for_status(response.status_code, code)
    return cls(
        response.status_code,
        code,
        message,
        request_id,
        method=method,
        path=path,
        attempts=attempts,
    )


class _RateWindow:
    """Intercom's rate-limit window as its answers report it, shared by every thread that
    sends through one client, so that requests side by side never provoke a 429 of their own.

    A request goes out only while the window, as last reported, still has room for it and
    for every request in flight (an answer's ``X-RateLimit-Remaining`` may already count
    some of those: counting them again only errs on the safe side). A spent window is
    waited out until its ``X-RateLimit-Reset``; until the first answer after that says how
    much the new window holds, one request at a time. Answers that carry no rate-limit
    headers at all leave requests unlimited (the 429 retry still applies).

    A window shared with other clients (the workers of a bulk run on Temporal,
    ``IntercomClient.leave_room``) keeps ``reserve`` requests of room for what the others
    may have sent unseen, and trusts what an answer said for one round trip only: an older
    report is checked again by one request alone, as at the start of a window.
    """

    def __init__(
        self,
        sleep: Callable[[float], None],
        wall_clock: Callable[[], float],
        cap: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._clock = clock
        self._cap = cap
        self._state = threading.Condition()
        #: requests the window has room for, as the latest answer of this window said
        self.remaining: int | None = None
        self.reset_at: float | None = None
        #: requests of the window left to other clients (0: this client is alone)
        self.reserve = 0
        self._limit: int | None = None
        #: when the latest answer came, and how long its request took (``clock`` seconds)
        self._answered = 0.0
        self._trip = 0.0
        self._in_flight = 0
        #: None until an answer came; then whether answers report a window at all
        self._reported: bool | None = None
        self._waiting_out = False

    def acquire(self) -> float:
        """Wait until one more request fits in the window; the caller then sends it and
        calls ``release`` with its answer's headers (None when none came) and the time
        this returned."""
        with self._state:
            while not self._fits():
                if self._in_flight or self._waiting_out:
                    self._state.wait()  # an answer, or the end of a wait, says more
                    continue
                wait = min(self._until_reset(), self._cap)
                if wait > 0:
                    self._waiting_out = True
                    self._state.release()
                    try:
                        _announce_wait(wait)
                        self._sleep(wait)
                    finally:
                        self._state.acquire()
                        self._waiting_out = False
                        self._state.notify_all()
                self.remaining = None  # a new window: learn it from its first answer
            self._in_flight += 1
            return self._clock()

    def release(self, headers: httpx.Headers | None, sent_at: float) -> None:
        with self._state:
            self._in_flight -= 1
            if headers is not None:
                self._answered = self._clock()
                self._trip = self._answered - sent_at
                self._update(headers)
            self._state.notify_all()

    def share(self, reserve: int) -> None:
        """Keep ``reserve`` requests of each window for other clients (the largest asked)."""
        with self._state:
            self.reserve = max(self.reserve, reserve)

    def _fits(self) -> bool:
        if self._reported is False:
            return True
        if self.remaining is None:
            return self._in_flight == 0
        reserve = min(self.reserve, self._limit // 2) if self._limit else self.reserve
        if self.remaining - self._in_flight - reserve <= 0:
            return False  # an old report too: within a window the room only shrinks
        return not self._stale() or self._in_flight == 0

    def _stale(self) -> bool:
        """Shared with others, the latest report is older than a round trip: they may
        have spent the room it saw."""
        return self.reserve > 0 and self._clock() - self._answered > self._trip

    def _until_reset(self) -> float:
        if self.reset_at is None:
            return 0.0
        return max(0.0, self.reset_at - self._wall_clock())

    def _update(self, headers: httpx.Headers) -> None:
        remaining = _digits(headers.get("X-RateLimit-Remaining"))
        reset = _digits(headers.get("X-RateLimit-Reset"))
        self._limit = _digits(headers.get("X-RateLimit-Limit")) or self._limit
        if remaining is None:
            if self._reported is None:
                self._reported = False
            return
        self._reported = True
        if reset is not None and self.reset_at is not None and reset < self.reset_at:
            return  # a late answer from a window that is over
        if reset is not None and reset != self.reset_at:
            self.remaining, self.reset_at = remaining, reset
        elif self.remaining is None:
            self.remaining = remaining
        else:  # within one window the room only shrinks: answers may arrive out of order
            self.remaining = min(self.remaining, remaining)


def _still_awaited(method: str, request: httpx.Request) -> None:
    """Refuse to send once the caller has stopped waiting (``give_up_at``): a call a service
    answered 504 stops at its next request instead of running to its end."""
    limit = give_up_at.get()
    if limit is not None and time.monotonic() >= limit:
        raise TransportError(
            f"{method} {request.url.path} was not sent: the caller stopped waiting for "
            "this call's answer"
        )


def _digits(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


class _Attempts:
    """The bookkeeping of one logical request across its retries."""

    # a plain class: a dataclass's generated methods are compiled at every start
    __slots__ = ("clock", "count", "override", "policy", "started")

    def __init__(
        self, policy: RetryPolicy, override: RequestRetry | None, clock: Callable[[], float]
    ) -> None:
        self.policy = policy
        self.override = override
        self.clock = clock
        self.started = clock()
        self.count = 0

    @property
    def limit(self) -> int:
        if self.override is not None:
            return 1 + self.override.max_retries
        return self.policy.max_attempts or 1  # resolved from the connection by the client

    def can_retry(self) -> bool:
        budget = self.policy.max_total_seconds or 0.0
        in_time = self.clock() - self.started < budget
        return self.count < self.limit and in_time

    def backoff(self) -> float:
        if self.override is not None and not self.override.exponential:
            return self.override.delay_ms / 1000.0
        ceiling = min(self.policy.backoff_cap, self.policy.backoff_base * 2 ** (self.count - 1))
        return random.uniform(0, ceiling)


class IntercomClient:
    """An HTTP client bound to one connection. Thread-compatible, reusable, closeable."""

    def __init__(
        self,
        connection: Connection,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        max_concurrency: int = 8,
    ) -> None:
        """``sleep``, ``clock`` (seconds elapsed, for the retry time) and ``wall_clock``
        (unix time, for ``X-RateLimit-Reset``) are the real ones unless a test fakes time."""
        # the Base URL rule, here too: a Connection built by hand (not from a mapping, a
        # file or the environment, which check it) must not send its token in clear text
        check_base_url(connection.api_base)
        self.connection = connection
        #: requests in flight at most when pages are fetched side by side
        self.max_concurrency = max(1, max_concurrency)
        policy = retry or RetryPolicy()
        self.retry = replace(
            policy,
            max_attempts=policy.max_attempts or connection.max_attempts,
            max_total_seconds=policy.max_total_seconds
            if policy.max_total_seconds is not None
            else connection.max_retry_seconds,
        )
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._window = _RateWindow(sleep, wall_clock, self.retry.max_rate_limit_wait, clock)
        if transport is None and connection.api_base.startswith("http://"):
            transport = _plain_http_transport(POOL)
        #: the transport writes to a connection and reports it (httpcore's trace): a
        #: request is "written" then, not when it is handed over
        self._traced = transport is None or isinstance(transport, httpx.HTTPTransport)
        self._http = httpx.Client(
            base_url=connection.api_base,
            auth=_BearerAuth(connection.bearer_token),
            headers={
                "Accept": "application/json",
                "Intercom-Version": connection.api_version,
                "User-Agent": USER_AGENT,
            },
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=POOL,
            transport=transport,
            follow_redirects=False,  # a redirect must never carry the token to another host
            event_hooks={"request": [_trace_request], "response": [_trace_response]},
        )
        #: the API base as text, ending in "/" (the path httpx joins a request's path to)
        self._base = str(self._http.base_url)
        if not self._base.endswith("/"):
            self._base += "/"

    @property
    def base_url(self) -> httpx.URL:
        return self._http.base_url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> IntercomClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"IntercomClient({self.connection!r})"

    # -- requests -------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        path_params: Mapping[str, str] | None = None,
        params: Any = None,
        json: Any = None,
        idempotent: bool | None = None,
        **options: Any,
    ) -> Any:
        """Send one request and return its decoded JSON body (None for an empty body).

        ``path`` is a template whose ``{name}`` placeholders are filled from
        ``path_params``, each percent-encoded. ``idempotent`` marks a POST that a
        retry cannot duplicate (upserts, search); other POSTs are retried only when
        they certainly did not reach Intercom.
        """
        response = self.send(
            method,
            build_path(path, path_params),
            params=params,
            json=json,
            idempotent=idempotent,
            path_params=path_params,
            **options,
        )
        return json_body(response, method, path)

    def create(
        self,
        path: str,
        *,
        json: Any,
        read: str,
        path_params: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        since: float | None = None,
    ) -> Any:
        """POST a create that Intercom refuses to repeat; its answer, even when one was lost.

        Intercom answers a create whose unique value (the manifest's ``unique_by``: a user's
        email or external ID) another record already has with 409, naming that record. So a
        create whose answer was lost (a dropped connection, a 5xx) is sent again, as often as
        the retry policy allows: made once either way. A 409 to a create sent again names
        what the lost attempt made when that record was made since the first attempt (less
        ``SETTLE_SKEW``): read at ``read`` (``{id}`` its id), it is the answer. Otherwise the
        record was there before, and the 409 is the answer the first attempt got too.
        ``since`` is the unix time at which an earlier run first sent this create (its answer
        lost with that run).
        """
        first = self._wall_clock() if since is None else since
        resent = since is not None
        attempts = _Attempts(self.retry, None, self._clock)
        while True:
            attempts.count += 1
            try:
                return self.request("POST", path, path_params=path_params, params=params, json=json)
            except IntercomAPIError as error:
                if resent and error.status == 409:
                    made = self._made_since(error, read, first)
                    if made is not None:
                        return made
                    raise
                if not error.outcome_unknown:
                    raise
                lost: IntercomAPIError | TransportError = error
            except TransportError as error:
                if not error.outcome_unknown:
                    raise
                lost = error
            if not attempts.can_retry():
                if resent:
                    again = SENT_AGAIN.format(count=attempts.count)
                    lost.args = (str(lost.args[0]).replace(UNKNOWN_OUTCOME, again),)
                raise lost
            resent = True
            self._sleep(attempts.backoff())

    def _made_since(self, conflict: IntercomAPIError, read: str, first: float) -> Any:
        """The record a 409 names when it was made since ``first``, else None."""
        named = _NAMED_ID.search(conflict.message)
        if named is None:
            return None
        try:
            record = self.request("GET", read, path_params={"id": named.group(1)})
        except NotFoundError:
            return None  # gone since: what holds the value is not known to be ours
        except ConnectorError as error:
            error.outcome_unknown = True  # the create was made or not: that is not known
            raise
        made = record.get("created_at") if isinstance(record, dict) else None
        if isinstance(made, int | float) and made >= first - SETTLE_SKEW:
            return record
        return None

    def send(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool | None = None,
        retry: RequestRetry | None = None,
        raise_for_status: bool = True,
        path_params: Mapping[str, str] | None = None,
        sent: Settable | None = None,
        **options: Any,
    ) -> httpx.Response:
        """Send a request with the retry policy; return the final httpx.Response.

        ``url`` is already encoded (relative to the API base, or absolute on the same
        host); ``path_params`` are the values filled into it, to name the one at fault
        when the request cannot be built. Errors after the retries are raised from the
        exception tree; a request that cannot be built or written raises
        InputRefusal, is never retried and never reported as a network failure.
        ``sent`` is set once the request has been written whole (its first attempt).
        """
        method = method.upper()
        writing = _WRITING.get() if method not in READ_METHODS else None
        traces = [_on_written(sent)] if sent is not None else []
        traces += [_on_writing(writing)] if writing is not None else []
        if traces:
            options["extensions"] = {"trace": traces[0] if len(traces) == 1 else _all(traces)}
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        request = self._build(method, url, options, path_params)
        attempts = _Attempts(self.retry, retry, self._clock)
        while True:
            attempts.count += 1
            _still_awaited(method, request)
            sent_at = self._window.acquire()
            try:
                if writing is not None and not self._traced:
                    writing.set()  # a transport of its own (a test's, the sandbox's): handed over
                response = self._http.send(request)
            except (httpx.LocalProtocolError, httpx.UnsupportedProtocol):
                self._window.release(None, sent_at)
                # Refused on our side before a byte was written (a header h11 will not
                # write): no network failure, and a retry would fail the same way.
                raise InputRefusal(
                    None,
                    f"{method} {request.url.path} could not be written as an HTTP request "
                    "(a header name or value HTTP does not allow); nothing was sent",
                ) from None
            except httpx.TransportError as exc:
                self._window.release(None, sent_at)
                reached = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if (safe or not reached) and attempts.can_retry():
                    self._sleep(attempts.backoff())
                    continue
                lost = self._transport_error(exc, method, url, attempts.count, reached, safe)
                raise lost from None
            except BaseException:
                self._window.release(None, sent_at)
                raise
            self._window.release(response.headers, sent_at)
            if response.is_success or not raise_for_status:
                return response
            delay = self._retry_delay(response, attempts, safe)
            if delay is None:
                error = _error_from_response(response, method, url, attempts.count)
                if response.status_code >= 500 and not safe:
                    error.args = (f"{error} {UNKNOWN_OUTCOME}",)
                    error.outcome_unknown = True
                raise error
            self._sleep(delay)

    def _build(
        self,
        method: str,
        url: str,
        options: dict[str, Any],
        path_params: Mapping[str, str] | None,
    ) -> httpx.Request:
        """The request to send, or InputRefusal naming the value that prevents it."""
        try:
            params = options.get("params")
            if url.startswith("/") and "?" not in url and isinstance(params, Mapping):
                # A path on the API with its query: the whole URL parsed once. httpx would
                # parse it three times (the path, joined to the base, the query merged),
                # which is most of what building a request costs.
                query = str(httpx.QueryParams(params))
                whole = httpx.URL(f"{self._base}{url[1:]}{'?' if query else ''}{query}")
                rest = {key: value for key, value in options.items() if key != "params"}
                return self._http.build_request(method, whole, **rest)
            return self._http.build_request(method, url, **options)
        except httpx.InvalidURL as exc:
            if "too long" in str(exc):
                raise _too_long_for_a_url(url, path_params, options.get("params")) from None
            raise InputRefusal(None, f"the URL is not valid ({exc})") from None
        except UnicodeEncodeError:  # httpx writes header values as ASCII
            raise InputRefusal(None, "a header value is not plain ASCII text") from None

    def _retry_delay(
        self, response: httpx.Response, attempts: _Attempts, safe: bool
    ) -> float | None:
        """Seconds to wait before retrying ``response``, or None to give up now."""
        if not attempts.can_retry():
            return None
        status = response.status_code
        override = attempts.override
        if override is not None:
            if status >= 500 or override.on_all_errors:
                return attempts.backoff()
            return None
        if status == 429:  # Intercom did not process it: any method may be retried
            return self._rate_limit_wait(response)
        if status >= 500 and safe:
            return attempts.backoff()
        return None

    def _rate_limit_wait(self, response: httpx.Response) -> float | None:
        retry_after = response.headers.get("Retry-After", "")
        reset = response.headers.get("X-RateLimit-Reset", "")
        if retry_after.isdigit():
            wait = float(retry_after)
        elif reset.isdigit():
            wait = max(0.0, float(reset) - self._wall_clock()) + 0.05
        else:
            wait = 1.0
        if wait > self.retry.max_rate_limit_wait:
            return None
        _announce_wait(wait)
        return wait

    def _transport_error(
        self,
        exc: httpx.TransportError,
        method: str,
        url: str,
        attempts: int,
        sent: bool,
        safe: bool,
    ) -> TransportError:
        kind = type(exc).__name__
        text = f"No answer from Intercom for {method} {httpx.URL(url).path} ({kind})"
        if attempts > 1:
            text += f" after {attempts} attempts"
        error = TransportError(text)
        if sent and not safe:
            error.args = (f"{text}. {UNKNOWN_OUTCOME}",)
            error.outcome_unknown = True
        return error

    def on_api_host(self, url: str) -> bool:
        """True when ``url`` is relative to the API base or names that very host and port:
        the only place a link from an answer (or a person) may take the token."""
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL:
            return False
        if not target.host:
            return not target.scheme
        base = self.base_url
        same = (target.scheme, target.host, target.port) == (base.scheme, base.host, base.port)
        return same and secret_url_problem(target) is None  # no user info either

    def leave_room(self, requests: int) -> None:
        """Share the workspace's rate-limit window with other clients that have up to
        ``requests`` requests of it in flight unseen (other workers of a bulk run on
        Temporal): each window keeps that much room for them (at most half the window),
        and an answer's report is trusted for one round trip only. The largest room asked
        for stays."""
        self._window.share(requests)

    def concurrency(self) -> int:
        """How many requests to send side by side now: at most ``max_concurrency``, and
        half of what the rate-limit window still has room for."""
        remaining = self._window.remaining
        if remaining is None:
            return self.max_concurrency
        # leave half of what the window still allows to everything else
        return max(1, min(self.max_concurrency, remaining // 2))


def _plain_http_transport(limits: httpx.Limits) -> httpx.HTTPTransport:
    """httpx's transport for an http:// API base, which only a loopback address may be
    (runtime/connection.py check_base_url): no TLS, so no CA bundle to load (it costs more
    than the rest of a ``run`` start). The context given holds no CA at all: any https use
    of it fails verification, it never succeeds unverified."""
    return httpx.HTTPTransport(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), limits=limits)


def _announce_wait(seconds: float) -> None:
    # A long silent wait looks like a hang; the CLI shows this line on a terminal.
    if seconds >= ANNOUNCED_WAIT:
        log.info("waiting %d s for Intercom's rate-limit window...", round(seconds))


def _too_long_for_a_url(
    url: str, path_params: Mapping[str, str] | None, params: Any
) -> InputRefusal:
    """The error for a URL httpx will not build: it names the longest value placed in it."""
    placed = [(key, str(value)) for key, value in (path_params or {}).items()]
    placed += list(httpx.QueryParams(params).multi_items()) if params else []
    if not placed:
        return InputRefusal(None, f"the URL is too long to send ({len(url):,} characters)")
    key, value = max(placed, key=lambda item: len(quote(item[1], safe="")) + len(item[0]))
    return InputRefusal(key, f"is too long to send in a URL ({len(value):,} characters)")


class Settable(Protocol):
    """What is told once a request has been written (``IntercomClient.send``)."""

    def set(self) -> None: ...


class Once:
    """Calls ``action`` on the first ``set()`` (a request written; or its attempt given up)."""

    __slots__ = ("_action",)

    def __init__(self, action: Callable[[], None]) -> None:
        self._action: Callable[[], None] | None = action

    def set(self) -> None:
        action, self._action = self._action, None
        if action is not None:
            action()


#: a request that can write (not GET, HEAD) is about to go on the connection: see when_writing
_WRITING: contextvars.ContextVar[Settable | None] = contextvars.ContextVar(
    "intercom_connector_writing", default=None
)
READ_METHODS = frozenset({"GET", "HEAD"})


@contextlib.contextmanager
def when_writing(action: Callable[[], None]) -> Iterator[None]:
    """Call ``action`` once, as the first request that can write (any method but GET and
    HEAD) made in this thread within the block starts to be written to its connection.

    Not before: a request waiting for a connection or for room in the rate-limit window
    has not been sent, and ``action`` is not called for it. Not after its last byte
    either: a request whose first bytes went out may have reached Intercom. A bulk run's
    journal records a row as sent this way (runtime/bulk.py). An exception ``action``
    raises stops the request before a byte is written.
    """
    token = _WRITING.set(Once(action))
    try:
        yield
    finally:
        _WRITING.reset(token)


def _on_written(sent: Settable) -> Callable[[str, Any], None]:
    """An httpcore trace that sets ``sent`` once a request's body has gone out."""

    def trace(event: str, info: Any) -> None:
        if event.endswith("send_request_body.complete"):
            sent.set()

    return trace


def _on_writing(writing: Settable) -> Callable[[str, Any], None]:
    """An httpcore trace that sets ``writing`` as a request starts to be written."""

    def trace(event: str, info: Any) -> None:
        if event.endswith("send_request_headers.started"):
            writing.set()

    return trace


def _all(traces: list[Callable[[str, Any], None]]) -> Callable[[str, Any], None]:
    def trace(event: str, info: Any) -> None:
        for each in traces:
            each(event, info)

    return trace


def json_body(response: httpx.Response, method: str, path: str, advice: str = "") -> Any:
    """An answer's JSON body, None when it is empty; IntercomAPIError when it is not JSON."""
    if not response.content:
        return None
    try:
        return orjson.loads(response.content)
    except ValueError:
        raise IntercomAPIError(
            response.status_code,
            "invalid_json",
            "the answer was not JSON as expected" + advice,
            response.headers.get("X-Request-Id"),
            method=method,
            path=path,
        ) from None
