"""``mixscope lab``: the data-dependency experiments of seed 002 from the command line.

- ``mixscope lab alternating-line --points 3 --classes 2 --alpha 32 --runs 10 --epochs 5000
  --seed 0 --json`` prints exactly ``{"points", "labels", "mixup": {"prob_mean", "prob_std",
  "train_error"}, "erm": {...}}`` (classes and labels numbered 1..k as in the paper);
- ``mixscope lab two-moons ...`` the same fields, each method with a ``decision`` summary
  of its decision region averaged over the runs;
- ``mixscope lab assumption-check --dataset NAME`` Table 2's ε estimate for a dataset.

``--store PATH`` also records the result as succeeded runs (see ``trainer.lab.save_to_store``)
so the API and the dashboard can serve it.
"""

from __future__ import annotations

import json

import click

from mixscope.options import store_option

STORE_HELP = ("Also save the result as run-like records in this store folder "
              "(database + artifacts).")
POS_FLOAT = click.FloatRange(min=0, min_open=True)


def _settings(alpha: float, runs: int, epochs: int, seed: int, hidden: int, lr: float,
              loop: str = "correct", optimizer_state: str = "per-run"):
    from trainer.lab import LabSettings

    try:
        return LabSettings(alpha=alpha, runs=runs, epochs=epochs, seed=seed, hidden=hidden,
                           lr=lr, loop=loop, optimizer_state=optimizer_state)
    except ValueError as err:  # bounds are checked by click; this names anything left
        raise click.UsageError(str(err)) from None


def _save(store_path: str | None, experiment: str, result: dict, settings,
          dataset_args: dict) -> list[str]:
    if store_path is None:
        return []
    from backend.store import Store
    from trainer.lab import save_to_store

    store = Store.open(store_path)
    try:
        return save_to_store(store, experiment, result, settings, dataset_args)
    finally:
        store.close()


def _fmt_row(cells: list) -> str:
    return "  ".join(f"{c:>10}" if not isinstance(c, float) else f"{c:>10.3f}" for c in cells)


def _print_table(result: dict) -> None:
    """A readable table: p(class c) mean ± std at each point, per method."""
    k = len(result["mixup" if "mixup" in result else "erm"]["prob_mean"][0])
    for method in ("mixup", "erm"):
        m = result[method]
        click.echo(f"{method}: final training error {m['train_error']:.3f} "
                   f"({m.get('seconds', 0):.1f} s)")
        click.echo(_fmt_row(["point", "label"] + [f"p(class {c + 1})" for c in range(k)]))
        for i, (pt, lab) in enumerate(zip(result["points"], result["labels"])):
            pt_s = f"{pt:g}" if not isinstance(pt, list) else ",".join(f"{v:.2f}" for v in pt)
            cells = [f"{mu:.3f}±{sd:.3f}" for mu, sd in zip(m["prob_mean"][i], m["prob_std"][i])]
            click.echo(_fmt_row([pt_s, str(lab)] + cells))
            if i >= 19:
                click.echo(f"... ({len(result['points'])} points)")
                break
        if "decision" in m:
            d = m["decision"]
            click.echo(f"averaged hard decision region: class-1 fraction {d['class1_fraction']:.3f}, "
                       f"linear agreement {d['linear_agreement']:.3f}, agreement with the "
                       f"mixup-optimal classifier {d['optimal_agreement']}")
        click.echo("")
    if "paper" in result:
        click.echo(f"paper (Table 1, p(class 1) at points 0,1,2): {result['paper']['class1_prob']}")


def _common(f):
    """Options shared by the two training experiments."""
    opts = [
        click.option("--alpha", type=POS_FLOAT, default=None,
                     help="Mixup λ ~ Beta(α, α), > 0."),
        click.option("--runs", type=click.IntRange(1, 1000), default=10, show_default=True,
                     help="Seeded runs averaged (run r uses seed + r)."),
        click.option("--epochs", type=click.IntRange(1, 1_000_000), default=None,
                     help="Full-batch Adam steps."),
        click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True,
                     help="First run's seed (also the dataset's)."),
        click.option("--hidden", type=click.IntRange(1, 65536), default=None,
                     help="Hidden units of the two-layer ReLU net."),
        click.option("--lr", type=POS_FLOAT, default=1e-3, show_default=True,
                     help="Adam learning rate."),
        click.option("--loop", type=click.Choice(["correct", "authors"]), default="correct",
                     show_default=True,
                     help="'authors' reproduces the authors' mixup loop, which never zeroes "
                          "the gradients (their bug); 'correct' zeroes them every step."),
        click.option("--optimizer-state", type=click.Choice(["per-run", "shared"]),
                     default="per-run", show_default=True,
                     help="'per-run': a fresh Adam per seeded run (independent runs, the "
                          "paper's text); 'shared': one Adam kept across the runs, only the "
                          "weights reset (the authors' code)."),
        store_option(help=STORE_HELP),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


@click.group()
def lab() -> None:
    """The data-dependency experiments of mixup (Chidambaram et al.): X_m^k, two moons,
    Assumption 2.9."""


@lab.command("alternating-line")
@click.option("--points", type=click.IntRange(2, 1000), default=3, show_default=True,
              help="Number of points m (0..m-1 on a line).")
@click.option("--classes", type=click.IntRange(2, 100), default=2, show_default=True,
              help="Number of classes k (point v is in class (v mod k) + 1).")
@click.option("--eps", type=POS_FLOAT, default=0.1, show_default=True,
              help="Ball radius ε of the Lemma 2.3 mixup-optimal classifier (0.1 is tuned to "
                   "track the trained nets; the ε → 0 limit is printed too).")
@_common
def alternating_line_cmd(points: int, classes: int, eps: float, alpha: float | None, runs: int,
                         epochs: int | None, seed: int, hidden: int | None, lr: float,
                         loop: str, optimizer_state: str, store_path: str | None,
                         as_json: bool) -> None:
    """X_m^k trained with mixup and ERM (paper: m=3, k=2, 512 hidden, 5000 epochs)."""
    if classes > points:
        raise click.BadParameter(f"must be at most --points ({points}), got {classes}",
                                 param_hint="'--classes'")
    from trainer.lab import alternating_line

    s = _settings(32.0 if alpha is None else alpha, runs, 5000 if epochs is None else epochs,
                  seed, 512 if hidden is None else hidden, lr, loop, optimizer_state)
    result = alternating_line(points, classes, s, eps=eps)
    run_ids = _save(store_path, "alternating-line", result, s,
                    {"points": points, "classes": classes})
    if as_json:
        keys = ("prob_mean", "prob_std", "train_error")
        click.echo(json.dumps({"points": result["points"], "labels": result["labels"],
                               **{m: {k: result[m][k] for k in keys} for m in ("mixup", "erm")}}))
        return
    _print_table(result)
    mo = result["mixup_optimal"]
    fmt = lambda ps: ", ".join("-" if p[0] is None else f"{p[0]:.3f}" for p in ps)  # noqa: E731
    click.echo(f"mixup-optimal h_ε (Lemma 2.3, {mo['eps_label']}) p(class 1) at the points: "
               + fmt(mo["at_points"]))
    click.echo("its ε → 0 limit (Proposition 2.8) p(class 1) at the points: "
               + fmt(mo["limit"]["at_points"]))
    click.echo(f"{result['settings']['loop_label']}; {result['settings']['optimizer_state_label']}")
    for rid in run_ids:
        click.echo(f"stored run {rid}")


@lab.command("two-moons")
@click.option("--samples", type=click.IntRange(10, 20_000), default=300, show_default=True,
              help="Training points.")
@click.option("--noise", type=click.FloatRange(0, 10), default=0.1, show_default=True,
              help="Gaussian noise of make_moons.")
@click.option("--separation", type=click.FloatRange(-5, 5), default=0.5, show_default=True,
              help="Class separation δ.")
@click.option("--grid", "grid_size", type=click.IntRange(5, 400), default=60, show_default=True,
              help="Decision-region grid is GRID × GRID.")
@click.option("--eps", type=POS_FLOAT, default=0.1, show_default=True,
              help="Ball radius ε of the Lemma 2.3 mixup-optimal classifier (0.1 is tuned).")
@click.option("--draw", type=click.Choice(["per-run", "fixed"]), default="per-run",
              show_default=True, help="'per-run': a fresh make_moons draw per seeded run (the "
              "authors' procedure); 'fixed': every run on the first seed's draw.")
@_common
def two_moons_cmd(samples: int, noise: float, separation: float, grid_size: int, eps: float,
                  draw: str, alpha: float | None, runs: int, epochs: int | None, seed: int,
                  hidden: int | None, lr: float, loop: str, optimizer_state: str,
                  store_path: str | None, as_json: bool) -> None:
    """Two moons trained with mixup and ERM (002 Fig. 3, Figs. 10–11: 500 hidden units;
    --epochs defaults to the paper's 1500, the authors' code uses 1000); prints the
    probabilities at the points and a summary of the averaged hard decision regions."""
    from trainer.lab import MOONS_EPOCHS_PAPER, two_moons

    s = _settings(1.0 if alpha is None else alpha, runs,
                  MOONS_EPOCHS_PAPER if epochs is None else epochs,
                  seed, 500 if hidden is None else hidden, lr, loop, optimizer_state)
    result = two_moons(samples, noise, separation, s, grid_size=grid_size, eps=eps, draw=draw)
    run_ids = _save(store_path, "two-moons", result, s,
                    {"samples": samples, "noise": noise, "separation": separation})
    if as_json:
        keys = ("prob_mean", "prob_std", "train_error")
        out = {"points": result["points"], "labels": result["labels"]}
        for m in ("mixup", "erm"):
            d = result[m]["decision"]
            out[m] = {k: result[m][k] for k in keys} | {"decision": {
                k: d[k] for k in ("class1_fraction", "linear_agreement", "optimal_agreement")}}
        click.echo(json.dumps(out))
        return
    _print_table(result)
    st = result["settings"]
    click.echo(f"{st['epochs_label']}; draw {st['draw']} ({result['points_note']} shown); "
               f"{st['loop_label']}; {st['optimizer_state_label']}")
    click.echo(f"Lemma 2.3 {result['mixup_optimal']['eps_label']}; its ε → 0 limit classifies "
               f"{result['mixup_optimal']['limit_train_accuracy']:.3f} of the training points "
               "correctly")
    for rid in run_ids:
        click.echo(f"stored run {rid}")


@lab.command("assumption-check")
@click.option("--dataset", required=True, help="Registry dataset name (e.g. digits, "
              "two-moons, alternating-line, gaussian-mixture, fashion-mnist, cifar10).")
@click.option("--alpha", type=POS_FLOAT, default=1024.0, show_default=True,
              help="Mixup λ ~ Beta(α, α) (the paper's Table 2 uses 1024).")
@click.option("--subsample", type=click.FloatRange(0, 1, min_open=True), default=0.2,
              show_default=True, help="Fraction of the training set mixed (the paper: 0.2).")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True)
@click.option("--points", type=click.IntRange(2, 10_000), default=None,
              help="alternating-line: number of points.")
@click.option("--classes", type=click.IntRange(2, 100), default=None,
              help="alternating-line / gaussian-mixture: number of classes.")
@click.option("--samples", type=click.IntRange(10, 200_000), default=None,
              help="two-moons / gaussian-mixture: training samples.")
@click.option("--procedure", type=click.Choice(["authors", "product"]), default="authors",
              show_default=True, help="'authors': the authors' code (reference points = the "
              "subsample, mean over them, partners with replacement, their CIFAR stds); "
              "'product': mixscope's variant (every mix against every train/test point).")
@store_option(help="Store folder whose data folder holds the image datasets.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def assumption_check_cmd(dataset: str, alpha: float, subsample: float, seed: int,
                         points: int | None, classes: int | None, samples: int | None,
                         procedure: str, store_path: str | None, as_json: bool) -> None:
    """Assumption 2.9 check (Table 2): min and mean distance from one epoch's mixup points to
    the nearest point of a class other than the two mixed."""
    from backend.runconfig import DATASETS
    from backend.settings import settings_for_store
    from trainer.data import DatasetNotFoundError
    from trainer.lab import assumption_check

    if dataset not in DATASETS:
        raise click.BadParameter(f"unknown dataset {dataset!r}; choose one of "
                                 f"{', '.join(DATASETS)}", param_hint="'--dataset'")
    args = {k: v for k, v in (("points", points), ("classes", classes), ("samples", samples))
            if v is not None}
    settings = settings_for_store(store_path)
    try:
        out = assumption_check(dataset, alpha=alpha, subsample=subsample, seed=seed,
                               data_dir=settings.resolved_data_dir,
                               allow_download=settings.allow_download, dataset_args=args,
                               procedure=procedure)
    except DatasetNotFoundError as err:
        raise click.ClickException(str(err)) from None
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    if as_json:
        click.echo(json.dumps(out))
        return
    click.echo(f"{dataset}: {out['num_mix']} mixup points (α={alpha:g}, subsample "
               f"{subsample:g}), dimension {out['dim']}, {out['num_classes']} classes")
    click.echo(f"  {out['procedure_label']}; normalisation: {out['normalisation']}")
    for split in ("train", "test"):
        r = out[split]
        if r is None:
            continue
        fmt = lambda v: "-" if v is None else f"{v:.4g}"
        click.echo(f"  {split:5s}: min distance {fmt(r['min'])}  mean {fmt(r['mean'])}")
    if "paper" in out:
        click.echo(f"  paper (Table 2): min distance {out['paper']['min']}")
