"""The URL dialog masks only the password: what is typed keeps its length, the rest stays readable."""

from lumiku_tui.tui.screens.base import mask_password


def test_only_the_password_is_masked() -> None:
    url = "postgresql://app:s3cr3t@db.example.com:5432/shop?sslmode=require"
    shown = mask_password(url)
    assert shown == "postgresql://app:••••••@db.example.com:5432/shop?sslmode=require"
    assert len(shown) == len(url)


def test_while_the_password_is_typed_everything_after_the_user_is_masked() -> None:
    assert mask_password("postgresql://app:s3c") == "postgresql://app:•••"


def test_a_password_parameter_is_masked_and_a_url_without_one_is_shown_whole() -> None:
    assert mask_password("postgresql://db/shop?user=app&password=pw1&sslmode=disable") \
        == "postgresql://db/shop?user=app&password=•••&sslmode=disable"
    assert mask_password("postgresql://app@db:5432/shop") == "postgresql://app@db:5432/shop"
