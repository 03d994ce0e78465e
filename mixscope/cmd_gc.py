"""``mixscope gc``: remove the files deleted runs and interrupted writes left behind."""

from __future__ import annotations

import json

import click

from mixscope.options import store_option


@click.command("gc")
@store_option
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@click.option("--min-age", "min_age_s", type=click.FloatRange(min=0), default=3600.0,
              show_default=True, help="Leave files younger than this many seconds (a write "
              "whose index row may be about to land).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def gc(store_path: str | None, dry_run: bool, min_age_s: float, as_json: bool) -> None:
    """Remove files no run owns: folders of deleted runs, unindexed and part files."""
    from backend.store import Store
    from backend.store.footprint import human_bytes
    from backend.store.gc import collect_garbage

    store = Store.open(store_path)
    try:
        result = collect_garbage(store, dry_run=dry_run, min_age_s=min_age_s)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    verb = "would remove" if dry_run else "removed"
    for rel in result["removed"]:
        click.echo(f"{verb} {rel}")
    click.echo(f"{verb} {len(result['removed'])} files, {human_bytes(result['bytes'])}")
