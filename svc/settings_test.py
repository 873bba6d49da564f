import pytest
from pydantic import ValidationError

import settings as settings_module
from settings import Settings


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
    [("POOL_MAX", "1", "POOL_MAX"), ("DATABASE_URL", "not a url", "DATABASE_URL"), ("PORT", "70000", "PORT")],
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
