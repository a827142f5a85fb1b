"""The api3 calls beyond reading and writing entities, by method name.

:class:`~evframe.sandbox.api.Api` adds these to its dispatch table; each takes
the store, the authenticated actor and the call's parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from evframe.sandbox import sessions, social, textsearch, threads, workdays
from evframe.sandbox.auth import Actor
from evframe.sandbox.store import Store

Method = Callable[[Store, Actor, Any], Any]

#: api3 method name (as the client sends it) -> implementation.
METHODS: dict[str, Method] = {
    "get_session_token": sessions.get_session_token,
    "follow": social.follow,
    "unfollow": social.unfollow,
    "followers": social.followers,
    "following": social.following,
    "update_project_last_accessed_by_current_user": social.update_project_last_accessed,
    "note_thread_contents": threads.note_thread,
    "activity_stream": threads.activity_stream,
    "query_display_name_cache": textsearch.text_search,
    "preferences_read": workdays.preferences_read,
    "work_schedule_read": workdays.work_schedule_read,
    "work_schedule_update": workdays.work_schedule_update,
}


def surface_methods(store: Store) -> dict[str, Callable[[Actor, Any], Any]]:
    """:data:`METHODS` bound to ``store``, shaped like the dispatch table's entries."""
    return {name: partial(method, store) for name, method in METHODS.items()}
