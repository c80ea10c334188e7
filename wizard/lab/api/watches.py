"""Watch streams of the lab API server: `?watch=true` on a list (or single-object) path.

The wire format is what both real clients parse: HTTP 200, chunked, one JSON event per line,
never a blank keep-alive line (the Python client yields None for it). Store callbacks run in
the writer's thread under the store lock, so they only enqueue onto the lab loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from wizard.lab.api.selectors import object_filter, parse_field_selector, parse_label_selector
from wizard.lab.api.store import ApiError, Obj, Resource, Store
from wizard.lab.api.tables import to_table, wants_table

DEFAULT_TIMEOUT = 1800.0  # the real server's --min-request-timeout
_INITIAL_EVENTS_END = "initial-events-end"  # a queue-only marker, sent as a BOOKMARK


@dataclass(frozen=True)
class WatchOptions:
    matches: Callable[[Obj], bool] | None
    since: int  # 0: send the current state as ADDED first; N: replay events after N
    timeout: float
    bookmarks: bool
    send_initial_events: bool
    render: Callable[[Obj], Obj] | None  # Table rows for `kubectl get -w`


def _bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def _is_true(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def parse_watch_options(request: web.Request, res: Resource, name: str | None) -> WatchOptions:
    query = request.query
    label = parse_label_selector(query.get("labelSelector"))
    field_text = query.get("fieldSelector")
    if name is not None:  # a watch on one object's path watches that name only
        field_text = ",".join(filter(None, [field_text, f"metadata.name={name}"]))
    fields = parse_field_selector(field_text, res.kind)
    raw_rv = query.get("resourceVersion") or "0"
    try:
        since = int(raw_rv)
    except ValueError:
        raise _bad_request(f"invalid resourceVersion {raw_rv!r}: must be an integer") from None
    timeout = DEFAULT_TIMEOUT
    if query.get("timeoutSeconds"):
        try:
            timeout = float(query["timeoutSeconds"])
        except ValueError:
            raise _bad_request(f"invalid timeoutSeconds {query['timeoutSeconds']!r}") from None
    send_initial = _is_true(query.get("sendInitialEvents"))
    return WatchOptions(
        matches=object_filter(label, fields),
        since=0 if send_initial else since,  # "the current state first", whatever the rv says
        timeout=timeout,
        bookmarks=_is_true(query.get("allowWatchBookmarks")),
        send_initial_events=send_initial,
        render=_table_renderer(res, request) if wants_table(request) else None,
    )


async def serve_watch(
    request: web.Request,
    store: Store,
    res: Resource,
    namespace: str | None,
    options: WatchOptions,
    bookmark_interval: float,
    drop_after: Callable[[], int | None],
) -> web.StreamResponse:
    """Stream events until the timeout, the client leaves, or `drop_after()` events were sent
    (the flaky-api fault); a resourceVersion older than the store's history gets one ERROR
    event with a 410 Expired Status."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Obj]] = asyncio.Queue()

    def enqueue(event_type: str, obj: Obj) -> None:  # the writer's thread, under the store lock
        loop.call_soon_threadsafe(queue.put_nowait, (event_type, obj))

    selected: set[tuple[str, str]] = set()
    unsubscribe: Callable[[], None] | None = None
    expired: ApiError | None = None
    with store.lock:
        if options.since > 0 and options.matches is not None:
            selected = {_ident(o) for o in store.list(res.key, namespace, options.matches)[0]}
        try:
            unsubscribe = store.watch(res.key, enqueue, namespace, options.since)
        except ApiError as error:
            expired = error
        if options.send_initial_events and unsubscribe is not None:
            # WatchList clients (kubectl's informers) wait for this bookmark to know the
            # initial ADDED events are complete.
            enqueue(_INITIAL_EVENTS_END, {
                "kind": res.kind, "apiVersion": res.api_version,
                "metadata": {"resourceVersion": str(store.resource_version),
                             "annotations": {"k8s.io/initial-events-end": "true"}},
            })

    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    try:
        await response.prepare(request)
        if expired is not None:
            await _write_event(response, "ERROR", expired.status())
        else:
            pump = _EventPump(response, store, res, queue, options, selected, bookmark_interval, drop_after)
            await pump.run()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        if unsubscribe is not None:
            unsubscribe()
    with contextlib.suppress(ConnectionResetError, RuntimeError):
        await response.write_eof()
    return response


@dataclass
class _EventPump:
    response: web.StreamResponse
    store: Store
    res: Resource
    queue: asyncio.Queue[tuple[str, Obj]]
    options: WatchOptions
    selected: set[tuple[str, str]]
    bookmark_interval: float
    drop_after: Callable[[], int | None]

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.timeout
        next_bookmark = loop.time() + self.bookmark_interval if self.options.bookmarks else float("inf")
        sent = 0
        while (now := loop.time()) < deadline:
            try:
                event_type, obj = await asyncio.wait_for(self.queue.get(), min(deadline, next_bookmark) - now)
            except TimeoutError:
                if loop.time() >= next_bookmark:
                    await self._bookmark()
                    next_bookmark = loop.time() + self.bookmark_interval
                continue
            if event_type == _INITIAL_EVENTS_END:
                await _write_event(self.response, "BOOKMARK", obj)
                continue
            sent_type = _filtered_event_type(event_type, obj, self.options.matches, self.selected)
            if sent_type is None:
                continue
            render = self.options.render
            if render is None:  # the object's JSON is cached per version: many watchers, one encoding
                await self.response.write(b"".join((
                    b'{"type": "', sent_type.encode(), b'", "object": ',
                    self.store.encoded(self.res.key, obj), b"}\n",
                )))
            else:
                await _write_event(self.response, sent_type, render(obj))
            sent += 1
            limit = self.drop_after()
            if limit is not None and sent >= limit:
                return  # dropped: the client must re-watch (or re-list)

    async def _bookmark(self) -> None:
        with self.store.lock:
            rv = self.store.resource_version
        await asyncio.sleep(0)  # let events committed up to rv reach the queue first
        if not self.queue.empty():
            return
        await _write_event(self.response, "BOOKMARK", {
            "kind": self.res.kind, "apiVersion": self.res.api_version,
            "metadata": {"resourceVersion": str(rv)},
        })


def _ident(obj: Obj) -> tuple[str, str]:
    meta = obj["metadata"]
    return (str(meta.get("namespace", "")), str(meta["name"]))


def _filtered_event_type(
    event_type: str, obj: Obj, matches: Callable[[Obj], bool] | None, selected: set[tuple[str, str]]
) -> str | None:
    """Selectors on watches as the real server applies them: an object that starts matching is
    ADDED, one that stops matching is DELETED, others are not sent."""
    if matches is None:
        return event_type
    ident = _ident(obj)
    now_matches = matches(obj)
    was_selected = ident in selected
    if event_type == "DELETED":
        selected.discard(ident)
        return "DELETED" if was_selected or now_matches else None
    if now_matches:
        selected.add(ident)
        return "MODIFIED" if was_selected and event_type == "MODIFIED" else "ADDED"
    if was_selected:
        selected.discard(ident)
        return "DELETED"
    return None


def _table_renderer(res: Resource, request: web.Request) -> Callable[[Obj], Obj]:
    """`kubectl get -w` watches as Tables: every event carries a one-row Table, and only the
    first one the column definitions (as the real server sends them)."""
    include = request.query.get("includeObject")
    first = [True]

    def render(obj: Obj) -> Obj:
        table = to_table(res, [obj], str(obj["metadata"].get("resourceVersion", "")), include)
        if not first[0]:
            table["columnDefinitions"] = []
        first[0] = False
        return table

    return render


async def _write_event(response: web.StreamResponse, event_type: str, obj: Obj) -> None:
    await response.write(json.dumps({"type": event_type, "object": obj}).encode() + b"\n")
