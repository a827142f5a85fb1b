"""Who is asking: script credentials (ApiUser rows) and ``sudo_as_login`` users."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evframe.sandbox.errors import ERR_AUTH, ApiError
from evframe.sandbox.query import now_wire
from evframe.sandbox.store import Store


@dataclass(frozen=True)
class Actor:
    """Who writes: the authenticated script (or the user it acts as)."""

    user: dict[str, Any]
    label: str
    session_uuid: str | None = None
    sudo_actual_user: dict[str, Any] | None = None


def hash_secret(key: str, salt: str | None = None) -> str:
    """``key`` salted and hashed, as password fields store it (never the key itself)."""
    salt = salt or secrets.token_hex(8)
    return "sha256$" + salt + "$" + hashlib.sha256((salt + key).encode()).hexdigest()


def secret_matches(stored: Any, key: str) -> bool:
    """Whether ``key`` is the secret :func:`hash_secret` turned into ``stored``."""
    if not isinstance(stored, str) or stored.count("$") != 2:
        return False
    _, salt, _ = stored.split("$")
    return secrets.compare_digest(hash_secret(key, salt), stored)


def scripts_from(mapping: Mapping[str, str] | None) -> dict[str, str]:
    """Validate a ``{script_name: api_key}`` mapping."""
    out = {}
    for name, key in (mapping or {}).items():
        if not name or not key:
            raise ValueError("script name and key must both be non-empty")
        out[str(name)] = str(key)
    return out


def ensure_script(store: Store, name: str, key: str) -> dict[str, Any]:
    """Make sure an ApiUser ``name`` exists with ``key``; return its link."""
    with store.transaction():
        for eid, rec in store.table("ApiUser").items():
            if rec.get("firstname") == name and not store.is_retired("ApiUser", eid):
                if not secret_matches(rec.get("salted_password"), key):
                    store.put("ApiUser", {**rec, "salted_password": hash_secret(key)}, False)
                return {"type": "ApiUser", "id": eid, "name": name}
        eid = store.new_id("ApiUser")
        now = now_wire()
        rec = {
            "id": eid,
            "firstname": name,
            "lastname": "1.0",
            "description": "Created by evframe sandbox",
            "salted_password": hash_secret(key),
            "generate_event_log_entries": True,
            "created_at": now,
            "updated_at": now,
        }
        store.put("ApiUser", rec, False)
        return {"type": "ApiUser", "id": eid, "name": name}


def authenticate(store: Store, auth: Any) -> Actor:
    """Check api3 auth params; :class:`ApiError` 102 when they are wrong."""
    if not isinstance(auth, dict):
        raise ApiError("Authentication failed: missing credentials.", ERR_AUTH)
    name, key = auth.get("script_name"), auth.get("script_key")
    if not isinstance(name, str) or not isinstance(key, str):
        raise ApiError(
            "Authentication failed: give script_name and script_key, "
            "user_login and user_password, or session_token.",
            ERR_AUTH,
        )
    with store.lock:
        script = None
        for eid, rec in store.table("ApiUser").items():
            if rec.get("firstname") == name and not store.is_retired("ApiUser", eid):
                if secret_matches(rec.get("salted_password"), key):
                    script = {"type": "ApiUser", "id": eid, "name": name}
                break
        if script is None:
            raise ApiError("Authentication failed: bad script name or api key.", ERR_AUTH)
        return actor_for(store, script, f"Script {name}", auth)


def actor_for(store: Store, user: dict[str, Any], label: str, auth: Mapping[str, Any]) -> Actor:
    """The :class:`Actor` of an authenticated ``user``, with the session and sudo ``auth`` asks."""
    session = auth.get("session_uuid")
    session = session if isinstance(session, str) else None
    sudo = auth.get("sudo_as_login")
    if sudo:
        for eid, rec in store.table("HumanUser").items():
            if rec.get("login") == sudo and not store.is_retired("HumanUser", eid):
                as_user = {"type": "HumanUser", "id": eid, "name": rec.get("name")}
                return Actor(as_user, str(rec.get("name")), session, user)
        raise ApiError(f"sudo_as_login: no active HumanUser with login {sudo!r}.", ERR_AUTH)
    return Actor(user, label, session)
