"""One fair line for the whole process, so that one client cannot block a class.

Gradio's queue (6.31) keeps a first-come line per event and caps concurrency per event, not per
process: 100 Analyze calls from one script made the next student wait 88 s, 100 cheap calls filled
the whole queue for everyone, and "two model runs at a time" was true of each event only. Here:

- every queued event shares one concurrency id, so at most WORKERS handlers run at once, process-wide
  (each may hold a few hundred MB and the machine has two cores); a camera stream, which holds a
  worker for as long as it runs, has its own id and limit instead (necklab/ui/live_tab.py), and so
  does a step (STEPS, four workers): it finds its two figures drawn, or draws them in a fraction of
  a second, and a class's steps waited seconds behind the model runs of the shared pool. Four, not
  two: a step holds the interpreter lock ~10 ms but waits for it between whiles under a class's
  load, so a step is on its worker far longer than it works (a class run: step p95 3.7 s with two,
  1.5 s with four);
- the line is served round-robin across sessions: a session's k-th waiting event goes behind every
  other session's k-th, so a student with one Analyze waits for one event of each other session,
  not for a script's hundred;
- and by time, not only by turns (but for the steps, which are short and alike: `chosen`): a free
  worker takes the waiting event of the session that has had the least of the workers' time lately
  (seconds of work, halved every HALF_LIFE_S), the line's order breaking ties. A script whose
  every call is a long Analyze would otherwise get a worker at every other turn while a class's
  steps take 50 ms each; now it gets what the class leaves, and once it had more than HOG_S of
  work lately it starts only on an idle pool;
- a session runs one event at a time: a script that keeps its line full holds at most one worker,
  and the other is always there for everyone else (a page's own events simply run in turn; a
  camera stream, which lasts as long as the camera, is not counted);
- a session may have at most WAITING_PER_SESSION events waiting (a browser has one or two; a
  script more is refused with a message that says why), and the line holds at most LINE_LENGTH.

Clients that make many sessions are the proxy's to limit (nginx `limit_req` / `limit_conn` per
address, deploy/nginx.conf.template). This relies on `Queue.push`, `get_events`, `process_events`,
`create_event_queue_for_fn`, `compute_analytics_summary` and `EventQueue.queue` (a list the queue
appends to) of the pinned Gradio; tests/test_fair_queue.py fails if they change.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import gradio as gr
from gradio import queueing

from necklab.i18n import t

WORKERS = 2
WAITING_PER_SESSION = 6
LINE_LENGTH = 240  # a class of 30 with a few events each, and room to spare
WORK = "necklab-work"  # the one concurrency id
STEPS, STEP_WORKERS = "necklab-steps", 4  # the steps' own line (neck_tab.build_step_view)
HALF_LIFE_S = 30.0  # a session's past work counts half after this long
# A session with more recent work than this (a script of long calls; a student has a few seconds)
# starts an event only on an idle pool: a student arriving then finds a worker free.
HOG_S = 15.0


def least_served(waiting: Iterable[Any], recent: Callable[[str], float], busy: bool = False) -> Any | None:
    """Of the waiting events (in line order), the first of the session with the least recent work;
    while a worker is `busy`, none of a session over HOG_S."""
    best, best_work = None, 0.0
    for event in waiting:
        work = recent(event.session_hash)
        if (best is None or work < best_work) and not (busy and work > HOG_S):
            best, best_work = event, work
    return best


def chosen(line_id: str, waiting: Iterable[Any], recent: Callable[[str], float], busy: bool = False) -> Any | None:
    """The waiting event (in line order) that a free worker of line `line_id` takes: in the steps'
    line simply the first, elsewhere the least served (`least_served`). Steps are short and alike,
    so the line's round-robin order is fair; preferring the sessions with the least recent work
    there starved a student whose tab run had just taken a minute on a loaded pool: every other
    student's step went first, and in a class run some steps waited 45-58 s."""
    if line_id == STEPS:
        return next(iter(waiting), None)
    return least_served(waiting, recent, busy)


class FairLine(list[queueing.Event]):
    """A waiting line that interleaves sessions: an event joins behind every event of the same or a
    lower rank within its own session (rank: how many of its session's events wait before it)."""

    def append(self, event: queueing.Event) -> None:
        rank = sum(e.session_hash == event.session_hash for e in self)
        seen: Counter[str] = Counter()
        for i, waiting in enumerate(self):
            if seen[waiting.session_hash] > rank:  # the first event of a higher rank: join before it
                super().insert(i, event)
                return
            seen[waiting.session_hash] += 1
        super().append(event)


class FairQueue(queueing.Queue):
    """Gradio's queue with a FairLine per concurrency id and a per-session bound on waiting events."""

    def create_event_queue_for_fn(self, block_fn: Any) -> None:
        super().create_event_queue_for_fn(block_fn)
        event_queue = self.event_queue_per_concurrency_id[block_fn.concurrency_id]
        if not isinstance(event_queue.queue, FairLine):
            event_queue.queue = FairLine(event_queue.queue)

    @property
    def running(self) -> Counter[str]:
        """Events running per session (made on first use: the instance was made by Gradio)."""
        return self.__dict__.setdefault("_running", Counter())

    def get_events(self) -> tuple[list[queueing.Event], bool, str] | None:
        """The next event to run: the first in a line with a free worker whose session has none running.
        A camera stream is not a session's turn: it runs for as long as the camera does, in its own
        line (necklab/ui/live_tab.py), and the page's other events (a language switch, Analyze) run
        beside it."""
        now = time.monotonic()
        for concurrency_id, event_queue in self.event_queue_per_concurrency_id.items():
            if event_queue.concurrency_limit is not None and \
                    event_queue.current_concurrency >= event_queue.concurrency_limit:
                continue
            # NeckLab batches no event: one at a time
            event = next((e for e in event_queue.queue if e.streaming), None) or chosen(
                concurrency_id, (e for e in event_queue.queue if not self.running[e.session_hash]),
                lambda session: self.recent_work(session, now), busy=event_queue.current_concurrency > 0)
            if event is not None:
                event_queue.queue.remove(event)
                if not event.streaming:
                    self.running[event.session_hash] += 1
                return [event], False, concurrency_id
        return None

    @property
    def work(self) -> dict[str, tuple[float, float]]:
        """Each session's seconds of work and when they were counted (made on first use, as `running`)."""
        return self.__dict__.setdefault("_work", {})

    def recent_work(self, session_hash: str | None, now: float) -> float:
        """The session's seconds on the workers, each halved per HALF_LIFE_S since."""
        seconds, at = self.work.get(str(session_hash), (0.0, now))
        return seconds * 0.5 ** ((now - at) / HALF_LIFE_S)

    def count_work(self, session_hash: str | None, seconds: float) -> None:
        now = time.monotonic()
        self.work[str(session_hash)] = (self.recent_work(session_hash, now) + seconds, now)
        if len(self.work) > 4 * LINE_LENGTH:  # forget the sessions whose work no longer counts
            for session in [s for s in self.work if self.recent_work(s, now) < 0.01]:
                del self.work[session]

    async def process_events(self, events: list[queueing.Event], batch: bool, begin_time: float, fn: Any) -> None:
        start = time.monotonic()
        try:
            await super().process_events(events, batch, begin_time, fn)
        finally:
            for event in events:
                if event.streaming:
                    continue
                self.count_work(event.session_hash, time.monotonic() - start)
                self.running[event.session_hash] -= 1
                if self.running[event.session_hash] <= 0:
                    del self.running[event.session_hash]  # the Counter stays as small as the running set

    def compute_analytics_summary(self, records: Any) -> Any:
        """Gradio's summary of the recorded events, left as it is: Gradio recomputes it after every
        event, a pandas frame of every event recorded (up to 10,000), for a monitoring dashboard
        this app does not serve (`enable_monitoring=False`); in a class run that took 8 % of the
        server's time under the interpreter lock, and it grows with every event."""
        return self.cached_event_analytics_summary

    def waiting(self, session_hash: str | None) -> int:
        return sum(e.session_hash == session_hash for q in self.event_queue_per_concurrency_id.values()
                   for e in q.queue)

    async def push(self, body: Any, request: Any, username: str | None) -> Any:
        if body.session_hash is not None and self.waiting(body.session_hash) >= WAITING_PER_SESSION:
            # The page's language is not known here: the message is in both.
            message = " / ".join(t("app.too_many_waiting", lang, n=WAITING_PER_SESSION) for lang in ("en", "zh"))
            return False, message, "queue_full"
        return await super().push(body, request, username)


def share_one_line(fns: Iterable[Any]) -> None:
    """Every queued event into the one pool of WORKERS (a lower limit on any one would bind them all),
    streams and steps excepted: a stream keeps its worker until the camera stops, so it brings its
    own concurrency id and limit (necklab/ui/live_tab.py); a step is light and has its own (STEPS)."""
    for fn in fns:
        if fn.queue and fn.connection != "stream" and fn.concurrency_id != STEPS:
            fn.concurrency_id, fn.concurrency_limit = WORK, WORKERS


def serve_fairly(demo: gr.Blocks) -> gr.Blocks:
    """`demo` queued with one process-wide pool of workers and a fair, bounded line."""
    demo.queue(default_concurrency_limit=WORKERS, max_size=LINE_LENGTH)
    share_one_line(demo.fns.values())
    demo._queue.__class__ = FairQueue  # a subclass adding no state: the queue Gradio made, served fairly
    return demo
