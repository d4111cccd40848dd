"""One browser's session: what identifies its work, as one frozen `Session` — the analysed picture
(by content key: the picture itself is kept process-wide, `necklab.lab.analysis.keep_picture`), the
device, the language, the facts the status line shows and the tab on screen — held for the app's one
gr.State by a `SessionBox`."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from threading import Lock
from typing import Any

from necklab.lab.analysis import kept_picture
from necklab.lab.imaging import Picture
from necklab.models.weights import TRAINED
from necklab.widgets.common import no_picture


@dataclass(frozen=True)
class Facts:
    """What the status line says about the analysed picture, formatted for it."""

    w: int  # analysed size
    h: int
    fmt: str  # the upload's format and size
    ow: int
    oh: int
    scale: str
    frames: int  # frames or pages in the file (the first is analysed)
    device: str
    ms: str  # the backbone's time and work
    gflops: str


@dataclass(frozen=True)
class Session:
    picture: str | None = None  # content key of the analysed picture (None: nothing analysed yet)
    device: str = "cpu"
    lang: str = "en"
    facts: Facts | None = None
    tab: str = "backbone"  # the id of the tab on screen
    weights: str = TRAINED  # the necks' weights a learner asked for: TRAINED or FRESH


class SessionBox:
    """What the app's gr.State holds: one browser's current Session.

    Gradio hands an event the State's value when the event starts and stores the value it returns
    when it ends, and one browser's events run side by side: an Analyze that stored the session it
    started with would undo a tab or a language chosen while it ran. So handlers return the session
    they want, and `merge` keeps only the fields they changed (`necklab.widgets.events.event`)."""

    def __init__(self, session: Session = Session()) -> None:
        self.now = session
        self._lock = Lock()

    def merge(self, before: Session, after: Session) -> None:
        """Apply the fields that differ between `before` and `after` to the current session."""
        changed = {f.name: getattr(after, f.name) for f in fields(Session)
                   if getattr(after, f.name) != getattr(before, f.name)}
        with self._lock:
            self.now = replace(self.now, **changed)

    def __deepcopy__(self, memo: dict[int, Any]) -> SessionBox:
        return SessionBox(self.now)  # gr.State copies its first value for every browser; a Lock cannot be copied


def session_picture(session: Session) -> tuple[Picture, str]:
    """The analysed picture and device of this session, or a clear error."""
    picture = kept_picture(session.picture) if session.picture else None
    if picture is None:
        raise no_picture(session.lang)
    return picture, session.device
