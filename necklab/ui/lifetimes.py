"""How long a session's state lives.

Gradio (6.31) keeps a closed browser's `gr.State`s for an hour (`STATE_TTL_WHEN_CLOSED`, for
reopening a deep link, which NeckLab does not offer) and an API client's for ever (`time_to_live`
None). Here a closed or reloaded page gives its state back at once (an unload listener deletes it),
and every state expires STATE_TTL seconds after it was last set, so a client that never closes
(a script) is bounded too. (`StateHolder.session_data` is Gradio 6.31's; tests/test_lifetimes.py
fails if it changes.) A state that expires while a page stays open idle returns to its start
value: the page asks for a new Analyze, as after a restart.
"""
from __future__ import annotations

import gradio as gr

STATE_TTL = 2 * 3600  # longer than a lesson: a learner coming back to the page finds it as they left it


def forget_closed_sessions(demo: gr.Blocks) -> None:
    """Every state expires STATE_TTL after its last change, and a page's states go when it closes."""
    for block in demo.blocks.values():
        if isinstance(block, gr.State):
            block.time_to_live = STATE_TTL

    def forget(request: gr.Request) -> None:
        holder = demo.server_app.state_holder
        if request.session_hash is not None:
            holder.delete_state(request.session_hash)  # the delete callbacks of the states it set
            with holder.lock:  # and every value, also those changed in place (the SessionBox)
                holder.session_data.pop(request.session_hash, None)
                holder.time_last_used.pop(request.session_hash, None)

    demo.unload(forget)
