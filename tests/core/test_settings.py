import pytest

from hotline.settings import SettingsError, load_settings, parse_bool, parse_duration


def test_defaults_are_valid_for_development(monkeypatch):
    s = load_settings()
    assert s.mode == "development"
    assert s.ami.port == 5038
    assert s.database.url.startswith("sqlite+aiosqlite")


@pytest.mark.parametrize("raw,expected", [("true", True), ("FALSE", False), ("yes", True), ("off", False), ("1", True), ("0", False)])
def test_strict_booleans(raw, expected):
    assert parse_bool(raw) is expected


@pytest.mark.parametrize("raw", ["", "maybe", "tru", "2", "yes please"])
def test_bad_booleans_are_errors(raw):
    with pytest.raises(ValueError, match="not a boolean"):
        parse_bool(raw)


@pytest.mark.parametrize("raw,seconds", [("30", 30.0), ("250ms", 0.25), ("2m", 120.0), ("1h", 3600.0), (5, 5.0), ("1.5s", 1.5)])
def test_durations(raw, seconds):
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize("raw", ["-1", "5 minutes", "", "1y", True])
def test_bad_durations(raw):
    with pytest.raises(ValueError):
        parse_duration(raw)


def test_env_false_string_is_false(monkeypatch):
    monkeypatch.setenv("HOTLINE_LOG_JSON", "false")
    assert load_settings().log_json is False


def test_bad_ami_port_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("HOTLINE_AMI__PORT", "70000")
    with pytest.raises(SettingsError) as exc:
        load_settings()
    msg = str(exc.value)
    assert "\n" not in msg
    assert "ami.port" in msg and "HOTLINE_AMI__PORT" in msg


def test_bad_ami_host(monkeypatch):
    monkeypatch.setenv("HOTLINE_AMI__HOST", "pbx host;rm")
    with pytest.raises(SettingsError, match="ami.host: not a host name or address"):
        load_settings()


@pytest.mark.parametrize(
    "url,needle",
    [
        ("mysql://x/y", "unsupported database 'mysql'"),
        ("sqlite:///x.db", "must use the async driver"),
        ("postgresql://u@h/db", "must use the async driver"),
        ("::::", "not a database URL"),
    ],
)
def test_bad_database_url(monkeypatch, url, needle):
    monkeypatch.setenv("HOTLINE_DATABASE__URL", url)
    with pytest.raises(SettingsError, match=needle):
        load_settings()


def test_unreadable_model_path(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTLINE_ASR__REQUIRE_MODEL", "true")
    monkeypatch.setenv("HOTLINE_ASR__MODEL_PATH", str(tmp_path / "missing"))
    with pytest.raises(SettingsError, match="is not a readable directory"):
        load_settings()


def test_production_refuses_default_secrets(monkeypatch):
    monkeypatch.setenv("HOTLINE_MODE", "production")
    with pytest.raises(SettingsError, match="secret_key"):
        load_settings()
    monkeypatch.setenv("HOTLINE_SECRET_KEY", "x" * 40)
    with pytest.raises(SettingsError, match="ami.secret"):
        load_settings()
    monkeypatch.setenv("HOTLINE_AMI__SECRET", "a-real-secret")
    assert load_settings().mode == "production"


def test_yaml_config_file(tmp_path, monkeypatch):
    cfg = tmp_path / "hotline.yaml"
    cfg.write_text("ami:\n  host: pbx.example\n  port: 5039\nrouter:\n  ring_timeout: 20s\n", encoding="utf-8")
    monkeypatch.setenv("HOTLINE_CONFIG", str(cfg))
    s = load_settings()
    assert (s.ami.host, s.ami.port, s.router.ring_timeout) == ("pbx.example", 5039, 20.0)
    # environment beats the file
    monkeypatch.setenv("HOTLINE_AMI__PORT", "6000")
    assert load_settings().ami.port == 6000


def test_unknown_setting_is_rejected(monkeypatch):
    with pytest.raises(SettingsError, match="colour"):
        load_settings(colour="blue")


def test_cli_reports_bad_setting_as_one_line(monkeypatch):
    from typer.testing import CliRunner

    from hotline.cli import app

    monkeypatch.setenv("HOTLINE_AMI__PORT", "nope")
    result = CliRunner().invoke(app, ["config"])
    assert result.exit_code == 2
    assert "ami.port" in result.output
    assert "Traceback" not in result.output
