"""Tests for evframe.config: defaults, env overrides, validation messages, secrets."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from types import MappingProxyType

import pytest

from evframe.config import (
    Config,
    ConfigError,
    DaemonConfig,
    HandlerConfig,
    LoggingConfig,
    SiteConfig,
    handler_api_key_env,
    load_config,
    reference_tables,
)

SITE = """
[site]
url = "https://studio.shotgrid.autodesk.com"
script_name = "evframe"
api_key_env = "STUDIO_KEY"
"""
SITE_ENV = {"STUDIO_KEY": "s3cret-site-key"}


def write(tmp_path: Path, text: str, name: str = "evframe.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Config:
    return load_config(write(tmp_path, text), env or {})


def error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, env)
    return info.value


# --------------------------------------------------------------------------- defaults


def test_defaults_without_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None, {})
    assert cfg.path is None
    assert cfg.site == SiteConfig()
    assert cfg.site.url is None
    assert cfg.daemon == dataclasses.replace(
        DaemonConfig(), state=str(tmp_path / "evframe-state.db")
    )
    assert cfg.daemon.batch_size == 500
    assert cfg.daemon.poll_interval == 1.0
    assert cfg.daemon.active_poll_interval == 0.05
    assert cfg.daemon.start == "latest"
    assert cfg.daemon.group == "evframe.handlers"
    assert cfg.logging == LoggingConfig()
    assert dict(cfg.handlers) == {}
    assert cfg.secrets() == []


def test_none_path_uses_evframe_toml_in_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "[daemon]\nbatch_size = 7\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None, {})
    assert cfg.path == tmp_path / "evframe.toml"
    assert cfg.daemon.batch_size == 7


def test_missing_file_gives_defaults_unless_required(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert load_config(missing, {}).path is None
    with pytest.raises(ConfigError) as info:
        load_config(missing, {}, required=True)
    assert "config file not found" in str(info.value)
    assert str(missing) in str(info.value)


def test_env_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVFRAME_SITE_URL", "https://env.example.com")
    monkeypatch.setenv("EVFRAME_SCRIPT_NAME", "envscript")
    monkeypatch.setenv("EVFRAME_API_KEY", "envkey")
    cfg = load_config(write(tmp_path, ""))
    assert cfg.site.url == "https://env.example.com"
    assert cfg.site.api_key == "envkey"


def test_full_file(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        SITE
        + """
timeout = 12
http_proxy = "proxy.studio:3128"
ca_certs = "certs/ca.pem"

[daemon]
state = "state/ev.db"
group = "studio.handlers"
batch_size = 5000
poll_interval = 2
active_poll_interval = 0.01
start = 1234
gap_timeout = 0
max_gap = 0
commit_interval = 0.5
reload_interval = 0
site_error_after = 60
max_followups = 1

[logging]
level = "debug"
file = "logs/evframe.log"
max_bytes = 0
backup_count = 0
json = true

[logging.handlers]
shot_rollup = "warning"

[handlers.shot_rollup]
enabled = false
on_error = "retry"
retry_attempts = 5
retry_backoff = 2
retry_max_backoff = 10
retry_fallback = "skip"

[handlers.shot_rollup.config]
fields = ["sg_status_list", "code"]
nested = { a = { b = [1, 2] } }
""",
        SITE_ENV,
    )
    assert cfg.site.timeout == 12.0
    assert isinstance(cfg.site.timeout, float)
    assert cfg.site.http_proxy == "proxy.studio:3128"
    assert cfg.site.ca_certs == str(tmp_path / "certs" / "ca.pem")
    d = cfg.daemon
    assert d.state == str(tmp_path / "state" / "ev.db")
    assert (d.group, d.batch_size, d.poll_interval, d.active_poll_interval) == (
        "studio.handlers",
        5000,
        2.0,
        0.01,
    )
    assert (d.start, d.gap_timeout, d.max_gap, d.commit_interval) == (1234, 0.0, 0, 0.5)
    assert (d.reload_interval, d.site_error_after, d.max_followups) == (0.0, 60.0, 1)
    lg = cfg.logging
    assert lg.level == "DEBUG"
    assert lg.file == str(tmp_path / "logs" / "evframe.log")
    assert (lg.max_bytes, lg.backup_count, lg.json) == (0, 0, True)
    assert dict(lg.handlers) == {"shot_rollup": "WARNING"}
    h = cfg.handler("shot_rollup")
    assert h == HandlerConfig(
        name="shot_rollup",
        enabled=False,
        on_error="retry",
        retry_attempts=5,
        retry_backoff=2.0,
        retry_max_backoff=10.0,
        retry_fallback="skip",
        config=h.config,
    )
    assert h.config["fields"] == ("sg_status_list", "code")
    assert isinstance(h.config, MappingProxyType)
    assert isinstance(h.config["nested"], MappingProxyType)
    assert h.config["nested"]["a"]["b"] == (1, 2)
    with pytest.raises(TypeError):
        h.config["new"] = 1  # type: ignore[index]


def test_unconfigured_handler_gets_defaults(tmp_path: Path) -> None:
    cfg = load(tmp_path, "")
    assert cfg.handler("anything") == HandlerConfig("anything")
    assert dict(cfg.handler("anything").config) == {}


def test_config_objects_are_frozen(tmp_path: Path) -> None:
    cfg = load(tmp_path, "")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.daemon.batch_size = 1  # type: ignore[misc]


def test_absolute_and_home_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cfg = load(
        tmp_path,
        f'[daemon]\nstate = "{tmp_path / "abs.db"}"\n[logging]\nfile = "~/ev.log"\n',
    )
    assert cfg.daemon.state == str(tmp_path / "abs.db")
    assert cfg.logging.file == str(tmp_path / "home" / "ev.log")


def test_relative_paths_follow_config_dir_not_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    confdir = tmp_path / "etc"
    confdir.mkdir()
    elsewhere = tmp_path / "run"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(write(confdir, '[daemon]\nstate = "x.db"\n'), {})
    assert cfg.daemon.state == str(confdir / "x.db")


def test_relative_config_path_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "")
    monkeypatch.chdir(tmp_path)
    cfg = load_config("evframe.toml", {})
    assert cfg.path is not None and cfg.path.is_absolute()


# --------------------------------------------------------------------------- environment


def test_env_overrides_site(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        SITE,
        {
            **SITE_ENV,
            "EVFRAME_SITE_URL": "http://127.0.0.1:8080",
            "EVFRAME_SCRIPT_NAME": "other",
            "EVFRAME_API_KEY": "direct-key",
        },
    )
    assert cfg.site.url == "http://127.0.0.1:8080"
    assert cfg.site.script_name == "other"
    assert cfg.site.api_key == "direct-key"


def test_site_from_env_only(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        "",
        {
            "EVFRAME_SITE_URL": "https://a.example.com",
            "EVFRAME_SCRIPT_NAME": "s",
            "EVFRAME_API_KEY": "k",
        },
    )
    assert (cfg.site.url, cfg.site.script_name, cfg.site.api_key) == (
        "https://a.example.com",
        "s",
        "k",
    )


def test_empty_env_var_counts_as_unset(tmp_path: Path) -> None:
    cfg = load(tmp_path, "", {"EVFRAME_SITE_URL": ""})
    assert cfg.site.url is None


def test_indirect_api_key(tmp_path: Path) -> None:
    cfg = load(tmp_path, SITE, SITE_ENV)
    assert cfg.site.api_key == "s3cret-site-key"


def test_indirect_api_key_variable_not_set(tmp_path: Path) -> None:
    err = error(tmp_path, SITE, {})
    assert err.key == "site.api_key_env"
    assert "environment variable STUDIO_KEY is not set" in str(err)


def test_literal_api_key_is_allowed(tmp_path: Path) -> None:
    cfg = load(tmp_path, '[site]\nurl = "https://a.b"\nscript_name = "s"\napi_key = "lit"\n')
    assert cfg.site.api_key == "lit"


def test_api_key_and_api_key_env_together(tmp_path: Path) -> None:
    err = error(tmp_path, SITE + 'api_key = "lit"\n', SITE_ENV)
    assert str(err).startswith("site.api_key: set either api_key or api_key_env, not both")


def test_env_site_url_validated_and_named(tmp_path: Path) -> None:
    err = error(tmp_path, "", {"EVFRAME_SITE_URL": "studio.shotgrid.autodesk.com"})
    assert err.key == "EVFRAME_SITE_URL"
    assert "EVFRAME_SITE_URL" in str(err)
    assert 'expected a URL starting with http:// or https://, got "studio.shotgrid' in str(err)


def test_file_site_url_validated(tmp_path: Path) -> None:
    err = error(tmp_path, '[site]\nurl = "ftp://x"\n')
    assert err.key == "site.url"
    assert str(err).startswith(
        'site.url: expected a URL starting with http:// or https://, got "ftp://x"'
    )


def test_url_requires_script_name_and_key(tmp_path: Path) -> None:
    err = error(tmp_path, '[site]\nurl = "https://a.b"\n')
    assert err.key == "site.script_name"
    assert "EVFRAME_SCRIPT_NAME" in str(err)
    err = error(tmp_path, '[site]\nurl = "https://a.b"\nscript_name = "s"\n')
    assert err.key == "site.api_key"
    assert "EVFRAME_API_KEY" in str(err)


def test_handler_credentials_from_env(tmp_path: Path) -> None:
    assert handler_api_key_env("shot-rollup.v2") == "EVFRAME_HANDLER_SHOT_ROLLUP_V2_API_KEY"
    cfg = load(
        tmp_path,
        '[handlers.shot-rollup]\nscript_name = "rollup"\n',
        {"EVFRAME_HANDLER_SHOT_ROLLUP_API_KEY": "hkey"},
    )
    h = cfg.handler("shot-rollup")
    assert (h.script_name, h.api_key) == ("rollup", "hkey")


def test_handler_credentials_indirect(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        '[handlers.a]\nscript_name = "a"\napi_key_env = "A_KEY"\n',
        {"A_KEY": "akey"},
    )
    assert cfg.handler("a").api_key == "akey"


def test_handler_script_name_needs_key(tmp_path: Path) -> None:
    err = error(tmp_path, '[handlers.a]\nscript_name = "a"\n')
    assert err.key == "handlers.a.api_key"
    assert "EVFRAME_HANDLER_A_API_KEY" in str(err)


def test_handler_key_needs_script_name(tmp_path: Path) -> None:
    err = error(tmp_path, '[handlers.a]\napi_key_env = "K"\n', {"K": "v"})
    assert err.key == "handlers.a.script_name"


def test_smtp_password_sources(tmp_path: Path) -> None:
    email = """
[logging.email]
host = "smtp.studio"
from = "evframe@studio"
to = "pipeline@studio"
username = "bot"
"""
    cfg = load(tmp_path, email, {"EVFRAME_SMTP_PASSWORD": "mailpw"})
    assert cfg.logging.email is not None
    assert cfg.logging.email.password == "mailpw"
    assert cfg.logging.email.to == ("pipeline@studio",)
    cfg = load(tmp_path, email + 'password_env = "PW"\n', {"PW": "other"})
    assert cfg.logging.email is not None
    assert cfg.logging.email.password == "other"
    err = error(tmp_path, email)
    assert err.key == "logging.email.password"
    assert "EVFRAME_SMTP_PASSWORD" in str(err)


def test_email_full(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        """
[logging.email]
host = "smtp.studio"
port = 465
ssl = true
from = "evframe@studio"
to = ["a@studio", "b@studio"]
subject = "evframe trouble"
timeout = 3
""",
    )
    e = cfg.logging.email
    assert e is not None
    assert (e.host, e.port, e.ssl, e.tls, e.sender, e.to) == (
        "smtp.studio",
        465,
        True,
        False,
        "evframe@studio",
        ("a@studio", "b@studio"),
    )
    assert (e.subject, e.timeout, e.username, e.password) == ("evframe trouble", 3.0, None, None)


@pytest.mark.parametrize(
    ("body", "key", "text"),
    [
        ('from = "a"\nto = ["b"]', "logging.email.host", "required"),
        ('host = "h"\nto = ["b"]', "logging.email.from", "required"),
        ('host = "h"\nfrom = "a"', "logging.email.to", "required"),
        (
            'host = "h"\nfrom = "a"\nto = []',
            "logging.email.to",
            "expected a non-empty array of address strings, got an array",
        ),
        (
            'host = "h"\nfrom = "a"\nto = ["b"]\ntls = true\nssl = true',
            "logging.email.ssl",
            "not both",
        ),
        (
            'host = "h"\nfrom = "a"\nto = ["b"]\nport = 0',
            "logging.email.port",
            "expected an integer between 1 and 65535, got 0",
        ),
        (
            'host = "h"\nfrom = "a"\nto = ["b"]\npassword = "pw"',
            "logging.email.username",
            "required when a password is set",
        ),
    ],
)
def test_email_errors(tmp_path: Path, body: str, key: str, text: str) -> None:
    err = error(tmp_path, "[logging.email]\n" + body + "\n")
    assert err.key == key
    assert text in str(err)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[daemon]\nbatch_size = "abc"',
            'daemon.batch_size: expected an integer between 1 and 5000, got "abc"',
        ),
        (
            "[daemon]\nbatch_size = true",
            "daemon.batch_size: expected an integer between 1 and 5000, got true",
        ),
        (
            "[daemon]\nbatch_size = 5001",
            "daemon.batch_size: expected an integer between 1 and 5000, got 5001",
        ),
        (
            "[daemon]\nbatch_size = 1.5",
            "daemon.batch_size: expected an integer between 1 and 5000, got 1.5",
        ),
        (
            "[daemon]\npoll_interval = 0.001",
            "daemon.poll_interval: expected a number >= 0.01 (seconds), got 0.001",
        ),
        (
            "[daemon]\npoll_interval = false",
            "daemon.poll_interval: expected a number >= 0.01 (seconds), got false",
        ),
        (
            "[daemon]\npoll_interval = nan",
            "daemon.poll_interval: expected a number >= 0.01 (seconds), got nan",
        ),
        (
            "[daemon]\npoll_interval = 0.5\nactive_poll_interval = 1",
            "daemon.active_poll_interval: expected a number >= 0.01 and <= 0.5 (seconds), got 1",
        ),
        (
            '[daemon]\nstart = "newest"',
            'daemon.start: expected "latest" or "earliest", got "newest"',
        ),
        (
            "[daemon]\nstart = -1",
            'daemon.start: expected "latest", "earliest" or an event id >= 0, got -1',
        ),
        ("[daemon]\nstart = true", "or an event id >= 0, got true"),
        ("[daemon]\nstart = 1.5", "or an event id >= 0, got 1.5"),
        ("[daemon]\ngap_timeout = -1", "daemon.gap_timeout: expected a number >= 0 (seconds)"),
        ("[daemon]\nmax_gap = -1", "daemon.max_gap: expected an integer >= 0, got -1"),
        ("[daemon]\ncommit_interval = 0", "daemon.commit_interval: expected a number > 0"),
        ("[daemon]\nreload_interval = -1", "daemon.reload_interval: expected a number >= 0"),
        ("[daemon]\nmax_followups = 0", "daemon.max_followups: expected an integer >= 1, got 0"),
        ('[daemon]\nstate = ""', 'daemon.state: expected a non-empty string, got ""'),
        ("[daemon]\ngroup = 3", "daemon.group: expected a non-empty string, got 3"),
        ("[site]\ntimeout = 0", "site.timeout: expected a number > 0 (seconds), got 0"),
        ("[site]\nca_certs = [1]", "site.ca_certs: expected a non-empty string, got an array"),
        ('[logging]\nlevel = "LOUD"', 'logging.level: expected "DEBUG" or "INFO" or'),
        ('[logging]\nlevel = "warn"', "did you mean 'WARNING'?"),
        ('[logging]\njson = "yes"', 'logging.json: expected true or false, got "yes"'),
        ("[logging]\nmax_bytes = -1", "logging.max_bytes: expected an integer >= 0, got -1"),
        (
            '[logging.handlers]\nshot_rollup = "chatty"',
            'logging.handlers.shot_rollup: expected "DEBUG"',
        ),
        ("[logging.handlers]\nx = 1", "logging.handlers.x: expected a log level"),
        (
            '[handlers.h]\non_error = "retyr"',
            'handlers.h.on_error: expected "stop" or "skip" or "retry", got "retyr"; '
            "did you mean 'retry'?",
        ),
        (
            "[handlers.h]\nretry_attempts = 0",
            "handlers.h.retry_attempts: expected an integer >= 1, got 0",
        ),
        (
            "[handlers.h]\nretry_backoff = 5\nretry_max_backoff = 1",
            "handlers.h.retry_max_backoff: expected a number >= 5 (seconds), got 1",
        ),
        (
            '[handlers.h]\nretry_fallback = "retry"',
            'handlers.h.retry_fallback: expected "stop" or "skip", got "retry"',
        ),
        ('[handlers.h]\nenabled = "no"', 'handlers.h.enabled: expected true or false, got "no"'),
        ("[handlers.h]\nconfig = 3", "handlers.h.config: expected a table, got 3"),
        ("[handlers]\nh = 3", "handlers.h: expected a table ([handlers.h]), got 3"),
        ('site = "x"', 'site: expected a table, got "x"'),
    ],
)
def test_type_errors_name_key_expectation_and_value(
    tmp_path: Path, toml: str, message: str
) -> None:
    err = error(tmp_path, toml + "\n")
    assert message in str(err)
    assert str(tmp_path / "evframe.toml") in str(err)


def test_error_attributes(tmp_path: Path) -> None:
    err = error(tmp_path, '[daemon]\nbatch_size = "abc"\n')
    assert err.key == "daemon.batch_size"
    assert err.path == tmp_path / "evframe.toml"
    assert err.detail == 'expected an integer between 1 and 5000, got "abc"'
    assert str(err) == (
        'daemon.batch_size: expected an integer between 1 and 5000, got "abc" '
        f"(in {tmp_path / 'evframe.toml'})"
    )


def test_ints_accepted_for_floats(tmp_path: Path) -> None:
    cfg = load(tmp_path, "[daemon]\ngap_timeout = 10\n")
    assert cfg.daemon.gap_timeout == 10.0
    assert isinstance(cfg.daemon.gap_timeout, float)


def test_fast_poll_interval_lowers_default_active_interval(tmp_path: Path) -> None:
    cfg = load(tmp_path, "[daemon]\npoll_interval = 0.02\n")
    assert cfg.daemon.active_poll_interval == 0.02


def test_large_backoff_raises_default_max_backoff(tmp_path: Path) -> None:
    cfg = load(tmp_path, "[handlers.h]\nretry_backoff = 120\n")
    assert cfg.handler("h").retry_max_backoff == 120.0


def test_start_keywords(tmp_path: Path) -> None:
    assert load(tmp_path, '[daemon]\nstart = "earliest"\n').daemon.start == "earliest"
    assert load(tmp_path, "[daemon]\nstart = 0\n").daemon.start == 0


def test_unknown_key_with_suggestion(tmp_path: Path) -> None:
    err = error(tmp_path, "[daemon]\nbatch_sise = 3\n")
    assert err.key == "daemon.batch_sise"
    assert str(err).startswith("daemon.batch_sise: unknown key; did you mean 'batch_size'?")
    assert "allowed in [daemon]: state, group, batch_size, poll_interval" in str(err)


def test_unknown_key_in_other_tables(tmp_path: Path) -> None:
    assert error(tmp_path, "[deamon]\n").key == "deamon"
    assert "did you mean 'daemon'?" in str(error(tmp_path, "[deamon]\n"))
    assert error(tmp_path, "[site]\nurll = 1\n").key == "site.urll"
    assert error(tmp_path, "[logging]\nlvl = 1\n").key == "logging.lvl"
    assert error(tmp_path, "[logging.email]\nhots = 1\n").key == "logging.email.hots"
    err = error(tmp_path, "[handlers.h]\nonerror = 1\n")
    assert err.key == "handlers.h.onerror"
    assert "did you mean 'on_error'?" in str(err)


def test_misplaced_key_says_where_it_belongs(tmp_path: Path) -> None:
    err = error(tmp_path, "[site]\nmax_followups = 3\n")
    assert "it belongs in [daemon]" in str(err)


def test_handler_config_table_is_free_form(tmp_path: Path) -> None:
    cfg = load(tmp_path, '[handlers.h.config]\nwhatever = 1\nbatch_sise = "x"\n')
    assert dict(cfg.handler("h").config) == {"whatever": 1, "batch_sise": "x"}


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    err = error(tmp_path, "[daemon]\nbatch_size = = 3\n")
    assert err.key is None
    assert "invalid TOML" in str(err)
    assert "line 2" in str(err)
    assert str(tmp_path / "evframe.toml") in str(err)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "evframe.toml"
    path.write_bytes(b"[site]\nurl = '\xff'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path, {})


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX non-root")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    path.chmod(0)
    try:
        with pytest.raises(ConfigError, match="cannot read config file"):
            load_config(path, {})
    finally:
        path.chmod(0o600)


# --------------------------------------------------------------------------- secrets


SECRETS_TOML = """
[site]
url = "https://a.b"
script_name = "s"
http_proxy = "user:proxypass@proxy:3128"

[handlers.h]
script_name = "h"
api_key_env = "H_KEY"

[logging.email]
host = "smtp"
from = "a@b"
to = ["c@d"]
username = "u"
"""
SECRETS_ENV = {
    "EVFRAME_API_KEY": "site-key-123",
    "H_KEY": "handler-key-456",
    "EVFRAME_SMTP_PASSWORD": "smtp-pw-789",
}
SECRET_VALUES = ("site-key-123", "handler-key-456", "smtp-pw-789", "proxypass")


def test_secrets_never_in_repr_or_str(tmp_path: Path) -> None:
    cfg = load(tmp_path, SECRETS_TOML, SECRETS_ENV)
    assert sorted(cfg.secrets()) == sorted(SECRET_VALUES)
    assert cfg.site.api_key == "site-key-123"
    for obj in (cfg, cfg.site, cfg.handler("h"), cfg.logging, cfg.logging.email):
        for text in (repr(obj), str(obj)):
            for secret in SECRET_VALUES:
                assert secret not in text
    assert "proxy:3128" in repr(cfg.site)


@pytest.mark.parametrize(
    "toml",
    [
        "[site]\napi_key = 12345678",
        "[site]\napi_key = ''",
        "[handlers.h]\napi_key = 98765",
        '[logging.email]\nhost = "h"\nfrom = "a"\nto = "b"\npassword = 4242',
    ],
)
def test_secret_values_hidden_in_errors(tmp_path: Path, toml: str) -> None:
    err = error(tmp_path, toml + "\n")
    assert "<hidden>" in str(err)
    for digits in ("12345678", "98765", "4242"):
        assert digits not in str(err)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    (tmp_path / "conf.toml").mkdir()
    with pytest.raises(ConfigError, match="cannot read config file") as info:
        load_config(tmp_path / "conf.toml", {})
    assert info.value.path == tmp_path / "conf.toml"


# --------------------------------------------------------------------------- reference


DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


@pytest.mark.parametrize(("heading", "table"), sorted(reference_tables().items()))
def test_docs_reference_tables_match_the_keys(heading: str, table: str) -> None:
    # docs/configuration.md carries each table as reference_tables() renders it, so every
    # key's type, default and meaning in the docs are the loader's own.  On a failure, paste
    # the table printed below under the section's heading.
    assert table in DOCS.read_text(encoding="utf-8"), f"{heading}:\n{table}"


def test_reference_tables_give_every_key_and_its_default() -> None:
    tables = reference_tables()
    assert "| `batch_size` | integer 1..5000 | `500` |" in tables["[daemon]"]
    assert '| `state` | path | `"evframe-state.db"` |' in tables["[daemon]"]
    assert "| `api_key_env` | string | none |" in tables["[site]"]
    assert "| `from` | string | required |" in tables["[logging.email]"]
    assert "`60` (or `retry_backoff` if larger)" in tables["[handlers.NAME]"]
    for heading, cls in [
        ("[site]", SiteConfig),
        ("[daemon]", DaemonConfig),
        ("[handlers.NAME]", HandlerConfig),
        ("[logging]", LoggingConfig),
    ]:
        for f in dataclasses.fields(cls):
            if f.name not in ("name", "email", "handlers"):
                assert f"| `{f.name}` |" in tables[heading]


def test_config_error_exit_code() -> None:
    assert ConfigError.exit_code == 3
    assert ConfigError("x").exit_code == 3
