"""The API constants agree with each other (one is spelt out for the type checker's sake)."""

from tiergate_api.constants import API_VERSION, GROUP, VERSION


def test_api_version_is_group_slash_version() -> None:
    assert f"{GROUP}/{VERSION}" == API_VERSION
