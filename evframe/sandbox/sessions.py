"""People logging in: HumanUser login and password, and session tokens.

``Shotgun(url, login=..., password=...)`` sends ``user_login`` and
``user_password`` with every request; ``get_session_token()`` trades them (or
a script's credentials) for a token that ``Shotgun(url, session_token=...)``
then sends instead.  Passwords are the HumanUser's ``password_proxy`` field,
stored salted and hashed like a script's key; tokens are kept in the
sandbox's database, so they outlive a restart when it is a file.
"""

from __future__ import annotations

import datetime as _dt
import secrets
from typing import Any

from evframe.sandbox.auth import Actor, actor_for, authenticate, secret_matches
from evframe.sandbox.errors import ERR_AUTH, ApiError
from evframe.sandbox.query import WIRE_DATETIME
from evframe.sandbox.store import Store

_CREATE_SQL = """
CREATE TABLE IF NOT EXISTS session_tokens (
    token TEXT PRIMARY KEY,
    user_type TEXT NOT NULL,
    user_id INTEGER NOT NULL
)
"""


def authenticate_any(store: Store, auth: Any) -> Actor:
    """Who is asking, whichever of the three kinds of credentials ``auth`` holds."""
    if isinstance(auth, dict) and "user_login" in auth:
        return _login(store, auth)
    if isinstance(auth, dict) and "session_token" in auth and "script_name" not in auth:
        return _session(store, auth)
    return authenticate(store, auth)


def _login(store: Store, auth: dict[str, Any]) -> Actor:
    login, password = auth.get("user_login"), auth.get("user_password")
    # One message for every failure, as a site gives: it does not say which logins exist.
    failed = ApiError("Authentication failed: bad login or password.", ERR_AUTH)
    if not isinstance(login, str) or not isinstance(password, str):
        raise failed
    for eid, rec in store.table("HumanUser").items():
        if rec.get("login") != login or store.is_retired("HumanUser", eid):
            continue
        if not secret_matches(rec.get("password_proxy"), password):
            raise failed
        if rec.get("sg_status_list", "act") != "act":
            raise ApiError(f"Authentication failed: the account {login!r} is disabled.", ERR_AUTH)
        locked = rec.get("locked_until")
        if isinstance(locked, str) and locked > _dt.datetime.now(_dt.timezone.utc).strftime(
            WIRE_DATETIME
        ):
            raise ApiError(f"Authentication failed: {login!r} is locked until {locked}.", ERR_AUTH)
        return actor_for(store, _user_link(store, "HumanUser", eid), str(rec.get("name")), auth)
    raise failed


def _user_link(store: Store, etype: str, eid: int) -> dict[str, Any]:
    rec = store.get(etype, eid) or {}
    name = rec.get("firstname") if etype == "ApiUser" else rec.get("name")
    return {"type": etype, "id": eid, "name": name}


def token_user(store: Store, token: object) -> tuple[str, int] | None:
    """The (type, id) of the live user a session token was handed to, or None."""
    store.conn.execute(_CREATE_SQL)
    row = store.conn.execute(
        "SELECT user_type, user_id FROM session_tokens WHERE token = ?", (str(token),)
    ).fetchone()
    if row is None or store.get(row[0], row[1]) is None or store.is_retired(row[0], row[1]):
        return None
    return str(row[0]), int(row[1])


def _session(store: Store, auth: dict[str, Any]) -> Actor:
    row = token_user(store, auth.get("session_token"))
    if row is None:
        raise ApiError("Authentication failed: unknown or expired session token.", ERR_AUTH)
    user = _user_link(store, row[0], row[1])
    label = f"Script {user['name']}" if row[0] == "ApiUser" else str(user["name"])
    return actor_for(store, user, label, auth)


def get_session_token(store: Store, actor: Actor, params: Any) -> dict[str, Any]:
    """``get_session_token``: a new token for whoever authenticated (not a sudo user)."""
    user = actor.sudo_actual_user or actor.user
    token = secrets.token_hex(16)
    store.conn.execute(_CREATE_SQL)
    store.conn.execute(
        "INSERT INTO session_tokens VALUES (?, ?, ?)", (token, user["type"], user["id"])
    )
    return {"session_id": token}
