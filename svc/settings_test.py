import itertools
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

import settings as settings_module
from settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_defaults_work_locally_without_an_env_file(monkeypatch):
    monkeypatch.chdir("/")
    for name in ("DATABASE_URL", "POOL_MIN", "POOL_MAX", "PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert str(settings.database_url) == "postgresql://config:config@127.0.0.1:5432/config_service"
    assert settings.pool_min <= settings.pool_max
    assert settings.port == 8000


def test_environment_overrides_defaults(monkeypatch):
    monkeypatch.setenv("POOL_MAX", "32")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    settings = Settings()
    assert settings.pool_max == 32
    assert settings.log_level == "DEBUG"


def test_env_file_is_read(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("PORT=9123\n")
    monkeypatch.chdir(tmp_path)
    assert Settings().port == 9123


def test_pool_max_below_min_is_refused():
    with pytest.raises(ValidationError):
        Settings(pool_min=8, pool_max=2)


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [("POOL_MAX", "1", "POOL_MAX"), ("DATABASE_URL", "not a url", "DATABASE_URL"), ("PORT", "70000", "PORT"),
     ("FORWARDED_ALLOW_IPS", "10.0.0.1,proxy.internal", "FORWARDED_ALLOW_IPS")],
)
def test_invalid_setting_stops_start_up_with_one_line_naming_it(monkeypatch, capsys, variable, value, named):
    monkeypatch.setenv("POOL_MIN", "4")
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as stopped:
        settings_module.load()
    message = str(stopped.value.code)
    assert named in message
    assert "\n" not in message
    assert "Traceback" not in message


@pytest.mark.parametrize("scheme", ["postgresql+psycopg", "postgresql+asyncpg", "mysql"])
def test_a_database_url_libpq_would_refuse_stops_start_up_without_quoting_it(monkeypatch, scheme):
    # A driver's scheme (SQLAlchemy's form) passed PostgresDsn; libpq then refused it at start-up, quoting the URL,
    # password included, in the log.
    monkeypatch.setenv("DATABASE_URL", f"{scheme}://config:S3cretPw9@127.0.0.1:5432/config_service")
    with pytest.raises(SystemExit) as stopped:
        settings_module.load()
    message = str(stopped.value.code)
    assert message.startswith("invalid setting DATABASE_URL: must start with postgresql://"), message
    assert "S3cretPw9" not in message and "\n" not in message


@pytest.mark.parametrize(("query", "said"), [
    ("sslmode=bogus", "?sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full"),
    ("target_session_attrs=master", "?target_session_attrs must be one of any, read-write"),
    ("sslmod=require", 'libpq does not know the option "sslmod"'),
    ("application_name=%zz", "libpq cannot parse it (not quoted here: it holds the password)"),
])
def test_a_database_url_option_libpq_would_refuse_at_every_connection_stops_start_up(monkeypatch, query, said):
    # libpq checks a URL's options when it connects: the service ran, answering 503 for ever, as in an outage.
    monkeypatch.setenv("DATABASE_URL", f"postgresql://config:S3cretPw9@127.0.0.1:5432/config_service?{query}")
    with pytest.raises(SystemExit) as stopped:
        settings_module.load()
    message = str(stopped.value.code)
    assert message.startswith(f"invalid setting DATABASE_URL: {said}"), message
    assert "S3cretPw9" not in message and "\n" not in message


def test_the_database_url_options_libpq_takes_are_kept(monkeypatch):
    url = ("postgresql://config:pw@127.0.0.1:5432,127.0.0.1:5433/config_service?sslmode=verify-full"
           "&target_session_attrs=read-write&application_name=svc")
    monkeypatch.setenv("DATABASE_URL", url)
    assert str(settings_module.load().database_url) == url


def test_api_keys_are_read_and_kept_secret(monkeypatch):
    monkeypatch.setenv("API_KEYS", "ci:rw:0123456789abcdef-secret")
    settings = Settings()
    assert [k.name for k in settings.keys] == ["ci"]
    assert "0123456789abcdef-secret" not in repr(settings) and "0123456789abcdef-secret" not in str(settings)


def test_bad_api_keys_stop_start_up_naming_the_variable(monkeypatch):
    monkeypatch.setenv("API_KEYS", "ci:rw:short")
    with pytest.raises(SystemExit) as stopped:
        settings_module.load()
    assert "API_KEYS" in str(stopped.value.code) and "short" not in str(stopped.value.code)


def test_unreadable_key_file_stops_start_up(monkeypatch, tmp_path):
    monkeypatch.setenv("API_KEYS_FILE", str(tmp_path / "missing"))
    with pytest.raises(SystemExit) as stopped:
        settings_module.load()
    assert "API_KEYS_FILE" in str(stopped.value.code)


def test_trusted_proxies_are_addresses_networks_any_or_none_as_uvicorn_takes_them():
    """Each value accepted means to uvicorn's proxy headers middleware what the setting says: the peers it trusts
    are those listed, `*` trusts any; a value it would read otherwise (a network with host bits, `*` among others,
    a name) stops start-up instead of trusting no one without a word."""
    from uvicorn.middleware.proxy_headers import _TrustedHosts

    for value, normal, trusted, not_trusted in (
            ("127.0.0.1,::1", "127.0.0.1,::1", ("127.0.0.1", "::1"), ("10.0.0.1",)),
            ("10.0.0.0/8, 192.168.1.7 ,fd00::/8,", "10.0.0.0/8,192.168.1.7,fd00::/8",
             ("10.4.0.7", "192.168.1.7", "fd00::5"), ("192.168.1.8", "127.0.0.1")),
            (" * ", "*", ("10.0.0.1", "203.0.113.9"), ()),
            ("", "", (), ("127.0.0.1",))):
        taken = Settings(forwarded_allow_ips=value).forwarded_allow_ips
        hosts = _TrustedHosts(taken)
        assert taken == normal and all(peer in hosts for peer in trusted), value
        assert not any(peer in hosts for peer in not_trusted), value
    for value, said in (("proxy.internal", "not an address or a network"), ("10.0.0.0/33", "not an address"),
                        ("127.0.0.1;10.0.0.1", "not an address"), ("10.0.0.5/24", "host bits set"),
                        ("*,10.0.0.0/8", "stands alone")):
        with pytest.raises(ValueError, match=said):
            Settings(forwarded_allow_ips=value)


def test_cors_origins_are_a_comma_separated_list():
    assert Settings(cors_origins=" https://a.example , https://b.example,").origins == ["https://a.example",
                                                                                        "https://b.example"]
    assert Settings().origins == []


@pytest.mark.parametrize(("line", "hint"), [("DATABSE_URL=postgresql://x@h/db", "did you mean DATABASE_URL?"),
                                            ("PROT=9000", "did you mean PORT?"),
                                            ("FROBNICATE=1", "no setting is named like it (see .env.example)")])
def test_an_unknown_key_in_the_env_file_stops_start_up_naming_the_closest_setting(tmp_path, monkeypatch, line,
                                                                                    hint):
    (tmp_path / ".env").write_text(f"PORT=9123\n# a comment\n{line}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        settings_module.load()
    message = str(stopped.value.code)
    assert message.startswith(f"unknown setting {line.split('=')[0]} in .env: ") and message.endswith(hint)
    assert "\n" not in message


def test_every_key_of_env_example_is_known(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text((settings_module.Path(__file__).parent / ".env.example").read_text())
    monkeypatch.chdir(tmp_path)
    assert settings_module.unknown_key(settings_module.Path(".env")) is None
    assert settings_module.load().port == 8000


# What .env.example and the README's configuration table must say: every variable of `.env` (the settings, and the
# keys docker compose reads), its default as `.env` writes it (None: none), and its one description.
def documented() -> dict[str, tuple[str | None, str]]:
    def written(value) -> str | None:
        if value is None or isinstance(value, bool):
            return None if value is None else str(value).lower()
        return value.get_secret_value() if isinstance(value, settings_module.SecretStr) else str(value)

    settings = {name.upper(): (written(field.default), field.description)
                for name, field in Settings.model_fields.items()}
    return settings | settings_module.COMPOSE_KEYS


def bounds(name: str) -> str:
    """What the README's table says a variable's bounds are: those start-up enforces (empty for none)."""
    field = Settings.model_fields.get(name.lower())
    found = {type(item).__name__: getattr(item, type(item).__name__.lower())
             for item in (field.metadata if field else ()) if type(item).__name__ in ("Ge", "Gt", "Le")}
    low = f"{found['Ge']:,}" if "Ge" in found else f"over {found['Gt']:,}" if "Gt" in found else None
    high = f"{found['Le']:,}" if "Le" in found else None
    if low is None and high is None:
        return ""
    if low is not None and not low.startswith("over") and high is not None:
        return f"{low} to {high}"
    return ", ".join(part for part in (low, high and f"at most {high}") if part)


ENV_LINE = re.compile(r"^(# )?([A-Z][A-Z0-9_]*)=(.*)$")


def env_example() -> dict[str, tuple[str | None, str]]:
    """.env.example, read as: a variable's line `NAME=default` (or `# NAME=example` without a default) right
    under the `# ` comment lines that describe it; a blank line ends a comment that describes nothing."""
    found: dict[str, tuple[str | None, str]] = {}
    comment: list[str] = []
    for line in (Path(settings_module.__file__).parent / ".env.example").read_text().splitlines():
        variable = ENV_LINE.match(line)
        if variable:
            commented, name, value = variable.groups()
            assert name not in found, f"{name} twice in .env.example"
            found[name] = (None if commented else value, " ".join(comment))
            comment = []
        elif line.startswith("# "):
            comment.append(line[2:].strip())
        else:
            assert not line.strip(), f".env.example: {line!r} is neither a comment nor NAME=value"
            comment = []
    return found


def readme_table(readme: Path) -> dict[str, tuple[str | None, str]]:
    """The README's settings: the first table under the first heading that contains "Configuration" (up to the next
    heading of its level or higher). A row is `| `NAME` | default | bounds | description |`: one variable a row, named
    in backticks; its default in backticks, or `(empty)`, or `(none)` for none; its bounds (`bounds`). Returns each
    variable's (default, description), and checks its bounds."""
    fenced, lines = False, []
    for line in readme.read_text().splitlines():  # lines of code blocks are blank here: no heading is in one
        fenced ^= line.startswith("```")
        lines.append("" if fenced or line.startswith("```") else line)

    def level(line: str) -> int:
        return len(line) - len(line.lstrip("#")) if re.match(r"#+ ", line) else 0

    start = next(i for i, line in enumerate(lines) if level(line) and "Configuration" in line)
    section = itertools.takewhile(lambda line: not 0 < level(line) <= level(lines[start]), lines[start + 1:])
    table = itertools.takewhile(lambda line: line.startswith("|"),
                                itertools.dropwhile(lambda line: not line.startswith("|"), section))
    rows = list(table)[2:]  # after the header and |---|
    found: dict[str, tuple[str | None, str]] = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        assert len(cells) == 4 and re.fullmatch(r"`[A-Z][A-Z0-9_]*`", cells[0]), f"README: {row!r}"
        name, default, limits, description = cells[0].strip("`"), cells[1], cells[2], cells[3]
        assert name not in found, f"{name} twice in the README's table"
        assert limits == bounds(name), f"README: {name}'s bounds should read {bounds(name)!r}, not {limits!r}"
        found[name] = (None if default == "(none)" else "" if default == "(empty)" else default.strip("`"),
                       description)
    return found


def readme_row(name: str, default: str | None, description: str) -> str:
    shown = "(none)" if default is None else "(empty)" if default == "" else f"`{default}`"
    return f"| `{name}` | {shown} | {bounds(name)} | {description} |"


def test_env_example_lists_exactly_the_settings_each_with_its_default_and_description():
    found, expected = env_example(), documented()
    missing = "\n".join(f"# {description}\n{'# ' if default is None else ''}{name}={default or ''}"
                        for name, (default, description) in expected.items() if name not in found)
    assert not missing, f".env.example lacks (the comment may wrap over several lines):\n{missing}"
    assert set(found) <= set(expected), f".env.example names what is no setting: {set(found) - set(expected)}"
    for name, (default, description) in expected.items():
        assert found[name][1] == description, f"{name}: the comment above it should be its description:\n# {description}"
        assert found[name][0] == default, (f".env.example should say {name}={default}" if default is not None
                                           else f"{name} has no default: .env.example shows it commented out")


def test_readme_table_lists_exactly_the_settings_each_with_its_default_and_description():
    found, expected = readme_table(README), documented()
    table = "\n".join(readme_row(name, *value) for name, value in expected.items())
    assert found == expected, f"the README's configuration table should read (in any order):\n{table}"


def test_a_retired_setting_in_the_env_file_is_named_and_start_up_goes_on(tmp_path, monkeypatch, capsys):
    (tmp_path / ".env").write_text("EXECUTOR_WORKERS=8\nPORT=9123\n")
    monkeypatch.chdir(tmp_path)
    assert settings_module.load().port == 9123
    assert capsys.readouterr().err == ("EXECUTOR_WORKERS is no longer read (the pool runs one thread per connection "
                                       "(POOL_MAX)): remove it\n")


def test_log_level_is_taken_in_any_case(monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "warning")
    assert settings_module.load().log_level == "WARNING"
