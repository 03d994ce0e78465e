"""The ``mixscope`` command. Each command group lives in its own module and is imported
only when used, so ``mixscope theory`` starts without importing torch or the web stack."""

from __future__ import annotations

import importlib

import click

from mixscope import __version__

# command name -> (module, attribute)
COMMANDS = {
    "theory": ("mixscope.cmd_theory", "theory"),
    "train": ("mixscope.cmd_train", "train"),
    "runs": ("mixscope.cmd_runs", "runs"),
    "up": ("mixscope.cmd_serve", "up"),
    "api": ("mixscope.cmd_serve", "api"),
    "worker": ("mixscope.cmd_serve", "worker"),
    "dashboard": ("mixscope.cmd_serve", "dashboard"),
    "lab": ("mixscope.cmd_lab", "lab"),
    "eval": ("mixscope.cmd_eval", "eval_group"),
    "gc": ("mixscope.cmd_gc", "gc"),
    "reproduce": ("mixscope.cmd_reproduce", "reproduce"),
    "import": ("mixscope.cmd_import", "import_cmd"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in COMMANDS if self._load(n) is not None)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._load(name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name]
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            if exc.name == module:  # that command is not built yet
                return None
            raise


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="mixscope")
def main() -> None:
    """Explore the geometry that mixup training gives a neural network's activations."""


if __name__ == "__main__":
    main()
