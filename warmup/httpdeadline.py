"""One deadline for a whole HTTP request (connection, headers, body), for the few requests
warmup makes itself: OAuth token refreshes and notification webhooks."""

from __future__ import annotations

import http.client
import urllib.request
from typing import Any

from warmup.neterr import Cutoff


class Deadline(Cutoff):
    """One deadline for a whole request (connection, headers, body): :class:`Cutoff`, the
    request then failing as a connection lost."""

    def ran_out(self, exc: BaseException) -> bool:
        """Whether the request failed for want of time: the deadline cut it, or the socket's own
        timeout (the same length, given to urllib) fired a moment before the deadline's timer.
        The two race; either way the answer did not come in time."""
        return (
            self.passed
            or isinstance(exc, TimeoutError)
            or isinstance(getattr(exc, "reason", None), TimeoutError)
        )

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    def opener(self) -> urllib.request.OpenerDirector:
        """urllib's opener (proxies and all) with connections this deadline watches, and no
        redirects (a 3xx is an HTTPError): urllib followed a 301/302/303 to any host, http://
        too, past the first URL's checks, as a GET: an OAuth refresh took what that host
        answered for the tokens, a webhook's Authorization header went along and the event
        was counted delivered."""
        return urllib.request.build_opener(_HTTPHandler(self), _HTTPSHandler(self), _NoRedirect)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx becomes an HTTPError, its status the answer


class _Watched(http.client.HTTPConnection):
    """A connection whose socket the request's deadline shuts when it passes."""

    def __init__(self, *args: Any, deadline: Deadline | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def connect(self) -> None:
        super().connect()
        if self._deadline is not None:
            self._deadline.watch(self.sock)


class _WatchedHTTP(_Watched):
    pass


class _WatchedHTTPS(_Watched, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_WatchedHTTP, req, deadline=self._deadline)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_WatchedHTTPS, req, deadline=self._deadline)
