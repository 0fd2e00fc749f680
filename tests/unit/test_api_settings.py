"""Write API settings: keys required outside dev, parsed from a comma list, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.settings import describe_invalid
from tests.fixtures.api import CodeOnlyApiSettings, api_settings

pytestmark = pytest.mark.unit


def test_settings_refuse_no_keys_outside_dev() -> None:
    expected = r"SCOREBOARD_API_KEYS must be set outside dev mode \(SCOREBOARD_ENV=dev\)"
    with pytest.raises(ValidationError, match=expected):
        api_settings(env="prod", api_keys=())


def test_settings_refuse_keys_that_are_only_commas_and_blanks_outside_dev() -> None:
    with pytest.raises(ValidationError, match="SCOREBOARD_API_KEYS must be set"):
        api_settings(env="prod", api_keys=" , ,, ")


def test_dev_mode_allows_no_keys() -> None:
    assert api_settings(env="dev", api_keys="").api_keys == ()


def test_keys_from_a_dotenv_file_are_split_stripped_and_empties_dropped(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SCOREBOARD_ENV=prod\nSCOREBOARD_API_KEYS= k-one-0123456789 , a:k-two-0123456789,,  ,\n"
                        f"SCOREBOARD_EVENT_ID_SECRET={'e' * 32}\n")
    settings = CodeOnlyApiSettings(_env_file=env_file)
    assert [k.get_secret_value() for k in settings.api_keys] == ["k-one-0123456789", "a:k-two-0123456789"]


@pytest.mark.parametrize(("line", "expected"), [
    ("SCOREBOARD_BOARDS_FILE=\n", None), ("SCOREBOARD_BOARDS_FILE=  \n", None), ("", None),
    ("SCOREBOARD_BOARDS_FILE=/etc/scoreboard/boards.yaml\n", Path("/etc/scoreboard/boards.yaml")),
])
def test_an_empty_boards_file_setting_means_unset(tmp_path: Path, line: str, expected: Path | None) -> None:
    """``${SCOREBOARD_BOARDS_FILE:-}`` in a compose file gives an empty string: the default boards, not ``.``."""
    env_file = tmp_path / ".env"
    env_file.write_text(f"SCOREBOARD_ENV=dev\n{line}")
    assert CodeOnlyApiSettings(_env_file=env_file).boards_file == expected
    assert api_settings(boards_file="").boards_file is None


def test_defaults_match_the_contract() -> None:
    settings = api_settings()
    assert (settings.api_host, settings.api_port) == ("127.0.0.1", 8000)
    assert settings.reply_timeout_ms == 2000
    assert settings.max_body_bytes == 16384


def test_keys_never_appear_in_repr_str_or_dump() -> None:
    settings = api_settings(api_keys="very-secret-key-1,very-secret-key-2")
    for shown in (repr(settings), str(settings), settings.model_dump_json(), repr(settings.api_keys)):
        assert "very-secret-key" not in shown


@pytest.mark.parametrize("spec", ["fast", "10/fortnight", "-1/second"])
def test_a_rate_limit_that_is_no_rate_limit_is_refused_at_start(spec: str) -> None:
    with pytest.raises(ValidationError, match="SCOREBOARD_RATE_LIMIT"):
        api_settings(rate_limit=spec)


LONG = "0123456789abcdef"  # 16 characters: the shortest key accepted outside dev
SECRET = "e" * 32


def test_outside_dev_a_short_key_is_refused_naming_its_id_never_the_key() -> None:
    with pytest.raises(ValidationError, match="id acme are shorter than 16 characters") as err:
        api_settings(env="prod", api_keys=f"acme:short-key,{LONG}", event_id_secret=SECRET)
    assert "short-key" not in str(err.value)
    assert api_settings(env="prod", api_keys=f"acme:{LONG}", event_id_secret=SECRET).api_keys
    assert api_settings(env="dev", api_keys="acme:short").api_keys  # dev mode allows it


def test_outside_dev_the_event_id_secret_is_required_and_long() -> None:
    for secret in (None, "x" * 31):
        with pytest.raises(ValidationError, match="SCOREBOARD_EVENT_ID_SECRET must be set to at least 32"):
            api_settings(env="prod", api_keys=LONG, event_id_secret=secret)
    settings = api_settings(env="prod", api_keys=LONG, event_id_secret=SECRET)
    assert settings.event_ids_secret.get_secret_value() == SECRET
    assert SECRET not in repr(settings)


def test_dev_mode_uses_a_fixed_dev_event_id_secret_so_restarts_keep_ids() -> None:
    assert api_settings(env="dev").event_ids_secret == api_settings(env="dev").event_ids_secret


def test_one_key_listed_twice_is_refused() -> None:
    for keys in (f"a:{LONG},b:{LONG}", f"{LONG},{LONG}", f"a:{LONG},a:{LONG}"):
        with pytest.raises(ValidationError, match="lists one key twice"):
            api_settings(env="dev", api_keys=keys)


def test_admin_keys_are_parsed_like_api_keys_and_never_shown() -> None:
    settings = api_settings(env="prod", api_keys=("acme:write-key-0123456789",), event_id_secret="s" * 32,
                            admin_keys=" ops:admin-key-0123456789 , admin-key-abcdefghijkl ,,")
    assert len(settings.admin_keys) == 2 and settings.effective_admin_keys == settings.admin_keys
    assert "admin-key-0123456789" not in repr(settings) and "admin-key-0123456789" not in str(settings)


def test_an_admin_key_may_not_be_an_api_key_even_in_dev() -> None:
    with pytest.raises(ValidationError, match="with id ops are API keys too") as refused:
        api_settings(env="dev", api_keys=("acme:same-key-0123456789",), admin_keys=("ops:same-key-0123456789",))
    assert "same-key" not in describe_invalid(refused.value)  # what python -m producer_api prints


def test_short_or_repeated_admin_keys_are_refused_outside_dev() -> None:
    prod: dict[str, object] = {"env": "prod", "api_keys": ("write-key-0123456789",), "event_id_secret": "s" * 32}
    with pytest.raises(ValidationError, match="SCOREBOARD_ADMIN_KEYS: the key.s. with id ops are shorter than 16"):
        api_settings(**prod, admin_keys=("ops:short",))
    with pytest.raises(ValidationError, match="SCOREBOARD_ADMIN_KEYS lists one key twice"):
        api_settings(**prod, admin_keys=("a:admin-key-0123456789", "b:admin-key-0123456789"))
    assert api_settings(env="dev", admin_keys=("ops:short",)).admin_keys  # dev: any length


def test_no_admin_keys_means_the_dev_key_in_dev_and_none_in_prod() -> None:
    from producer_api.settings import DEV_ADMIN_KEY

    assert [k.get_secret_value() for k in api_settings(env="dev").effective_admin_keys] == [DEV_ADMIN_KEY]
    prod = api_settings(env="prod", api_keys=("write-key-0123456789",), event_id_secret="s" * 32)
    assert prod.effective_admin_keys == ()


def test_admin_rate_limit_and_moderation_settings() -> None:
    settings = api_settings()
    assert (settings.admin_rate_limit, settings.moderation_timeout_ms, settings.revert_days) == (
        "10/second;600/minute", 5000, 90)
    with pytest.raises(ValidationError, match="SCOREBOARD_ADMIN_RATE_LIMIT"):
        api_settings(admin_rate_limit="lots")
    with pytest.raises(ValidationError):
        api_settings(revert_days=-1)
    assert api_settings(revert_days=0).revert_days == 0  # reverts off


@pytest.mark.parametrize(("keys", "message"), [
    (f"acme corp:{LONG}", "entry 1: the part before ':' must be a key id"),
    (f"{LONG},:{LONG}", "entry 2: the part before ':' must be a key id"),
    (f"acme@eu:{LONG}", "a bare key cannot contain ':'"),
    ("acme:", "entry 1 (id acme): the key after ':' is empty"),
    (f"acme:  {LONG}", "entry 1 (id acme): the key after ':' begins or ends with blanks"),
    (f"k-0123456789ab:{LONG}", "ids beginning with 'k-' are the hashed ids of bare keys"),
])
def test_an_entry_with_a_colon_must_be_id_and_key_and_the_message_names_no_key(keys: str, message: str) -> None:
    for env in ("dev", "prod"):
        with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
            api_settings(env=env, api_keys=keys, event_id_secret=SECRET)
        assert LONG not in str(err.value)
    with pytest.raises(ValidationError, match="SCOREBOARD_ADMIN_KEYS: entry 1"):
        api_settings(env="dev", admin_keys=f"bad id:{LONG}")
