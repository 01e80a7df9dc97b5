"""The checks constructors make of their numeric settings, with one wording for every class."""

from __future__ import annotations

from stratus.exceptions import ConfigError

__all__ = ["non_negative", "positive"]


def positive(**settings: float | None) -> None:
    """Refuse (`ConfigError`, naming the setting) the first of `settings` that is not above 0; None passes
    (it means "no limit" wherever a setting may be None)."""
    for name, value in settings.items():
        if value is not None and not value > 0:
            raise ConfigError(f"{name} must be > 0, not {value!r}")


def non_negative(**settings: int) -> None:
    """Refuse (`ConfigError`, naming the setting) the first of `settings` that is below 0."""
    for name, value in settings.items():
        if value < 0:
            raise ConfigError(f"{name} must be >= 0, not {value!r}")
