"""Click options more than one command shares: one definition each, so a flag is spelled,
typed and explained the same way everywhere."""

from __future__ import annotations

import click
from click.core import ParameterSource

STORE_HELP = ("Store folder (database, artifacts, broker); default: MIXSCOPE_STORE or the "
              "per-user data folder.")

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
_ALIAS = "mixscope.log_level_alias"


def store_option(f=None, *, help: str = STORE_HELP):
    """``--store PATH`` (parameter ``store_path``): ``@store_option`` or, where the folder
    means something more, ``@store_option(help=...)``."""
    opt = click.option("--store", "store_path", type=click.Path(file_okay=False),
                       default=None, help=help)
    return opt(f) if f is not None else opt


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT,
                                                 ParameterSource.DEFAULT_MAP)


def _log_level(ctx: click.Context, param: click.Parameter, value: str) -> str:
    alias = ctx.meta.get(_ALIAS)
    return alias if alias is not None and not _given(ctx, param.name) else value


def _log_level_alias(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    ctx.meta[_ALIAS] = value
    if "log_level" in ctx.params and not _given(ctx, "log_level"):  # processed before us
        ctx.params["log_level"] = value


def log_level_option(default: str = "info"):
    """``--log-level LEVEL`` (parameter ``log_level``, lower case), the one spelling users
    see; ``--loglevel`` (Celery's spelling, which ``mixscope worker`` used) is a hidden
    alias so scripts that use it keep working."""
    choice = click.Choice(LOG_LEVELS, case_sensitive=False)

    def decorate(f):
        f = click.option("--loglevel", type=choice, default=None, hidden=True,
                         expose_value=False, callback=_log_level_alias,
                         help="Alias of --log-level.")(f)
        return click.option("--log-level", "log_level", type=choice, default=default,
                            show_default=True, callback=_log_level,
                            help="Logging level.")(f)

    return decorate
