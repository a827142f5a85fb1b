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


def _hash_key(key: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    return "sha256$" + salt + "$" + hashlib.sha256((salt + key).encode()).hexdigest()


def _key_matches(stored: Any, key: str) -> bool:
    if not isinstance(stored, str) or stored.count("$") != 2:
        return False
    _, salt, _ = stored.split("$")
    return secrets.compare_digest(_hash_key(key, salt), stored)


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
                if not _key_matches(rec.get("salted_password"), key):
                    store.put("ApiUser", {**rec, "salted_password": _hash_key(key)}, False)
                return {"type": "ApiUser", "id": eid, "name": name}
        eid = store.new_id("ApiUser")
        now = now_wire()
        rec = {
            "id": eid,
            "firstname": name,
            "lastname": "1.0",
            "description": "Created by evframe sandbox",
            "salted_password": _hash_key(key),
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
            "Authentication failed: the sandbox accepts script credentials "
            "(script_name and api_key) only.",
            ERR_AUTH,
        )
    with store.lock:
        script = None
        for eid, rec in store.table("ApiUser").items():
            if rec.get("firstname") == name and not store.is_retired("ApiUser", eid):
                if _key_matches(rec.get("salted_password"), key):
                    script = {"type": "ApiUser", "id": eid, "name": name}
                break
        if script is None:
            raise ApiError("Authentication failed: bad script name or api key.", ERR_AUTH)
        session = auth.get("session_uuid")
        session = session if isinstance(session, str) else None
        sudo = auth.get("sudo_as_login")
        if sudo:
            for eid, rec in store.table("HumanUser").items():
                if rec.get("login") == sudo and not store.is_retired("HumanUser", eid):
                    user = {"type": "HumanUser", "id": eid, "name": rec.get("name")}
                    return Actor(user, str(rec.get("name")), session, script)
            raise ApiError(f"sudo_as_login: no active HumanUser with login {sudo!r}.", ERR_AUTH)
        return Actor(script, f"Script {name}", session)
