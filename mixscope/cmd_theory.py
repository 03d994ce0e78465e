"""``mixscope theory``: the papers' theory from the command line (numpy/scipy only).

``mixscope theory ufm``: the closed-form optimum of the unconstrained features model for
mixup (Pushing Boundaries, Theorem 3.1 with errata), for given λ or λ ~ Beta(α, α).
"""

from __future__ import annotations

import json
import math

import click
import numpy as np

from backend.maths import ParameterError, ufm_summary


@click.group()
def theory() -> None:
    """The papers' theory: optimal features of the unconstrained features model."""


def _parse_lambdas(value: str | None) -> list[float] | None:
    if value is None:
        return None
    try:
        lams = [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter("must be comma-separated numbers, e.g. 0.1,0.5,0.9",
                                 param_hint="'--lambdas'") from None
    if not lams:
        raise click.BadParameter("must list at least one value", param_hint="'--lambdas'")
    bad = [v for v in lams if not (math.isfinite(v) and 0.0 <= v <= 1.0)]
    if bad:
        raise click.BadParameter(f"every λ must lie in [0, 1], got {bad[0]}",
                                 param_hint="'--lambdas'")
    return lams


@theory.command()
@click.option("--m", "m", type=float, default=3.0, show_default=True,
              help="ETF multiplier m (row norm of the classifier), > 0.")
@click.option("--num-classes", type=int, default=10, show_default=True,
              help="Number of classes C, >= 3.")
@click.option("--lambda-h", type=float, default=1e-6, show_default=True,
              help="Feature weight decay λ_H, > 0.")
@click.option("--lambdas", type=str, default=None,
              help="Comma-separated λ in [0, 1] (weight on class i), e.g. 0.1,0.5,0.9. "
                   "Overrides --n-lambda.")
@click.option("--n-lambda", type=int, default=5000, show_default=True,
              help="Number of λ drawn from Beta(α, α) when --lambdas is not given.")
@click.option("--alpha", type=float, default=1.0, show_default=True,
              help="Beta(α, α) parameter for sampled λ, > 0.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for sampled λ.")
@click.option("--amplify", is_flag=True, help="Report A.2's amplified features instead.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def ufm(m: float, num_classes: int, lambda_h: float, lambdas: str | None, n_lambda: int,
        alpha: float, seed: int, amplify: bool, as_json: bool) -> None:
    """Optimal UFM features for mixup: K, K_λ, logits, coefficients on w_i and w_i', losses.

    Example (Figure 6 of Pushing Boundaries):

        mixscope theory ufm --m 3 --num-classes 10 --lambda-h 1e-6 --n-lambda 5000 --json
    """
    if not (math.isfinite(m) and m > 0):
        raise click.BadParameter(f"must be > 0, got {m}", param_hint="'--m'")
    if num_classes < 3:
        raise click.BadParameter(f"must be >= 3, got {num_classes}", param_hint="'--num-classes'")
    if not (math.isfinite(lambda_h) and lambda_h > 0):
        raise click.BadParameter(f"must be > 0, got {lambda_h}", param_hint="'--lambda-h'")
    lams = _parse_lambdas(lambdas)
    if lams is None:
        if n_lambda < 1:
            raise click.BadParameter(f"must be >= 1, got {n_lambda}", param_hint="'--n-lambda'")
        if not (math.isfinite(alpha) and alpha > 0):
            raise click.BadParameter(f"must be > 0, got {alpha}", param_hint="'--alpha'")
        lams = np.random.default_rng(seed).beta(alpha, alpha, n_lambda).tolist()

    try:
        out = ufm_summary(m, num_classes, lambda_h, lams, amplify=amplify)
    except ParameterError as exc:  # the maths names the parameter (e.g. the solver's limits)
        raise click.BadParameter(str(exc), param_hint=f"'--{exc.parameter.replace('_', '-')}'")
    if as_json:
        click.echo(json.dumps(out))
        return
    _print_table(out, m, num_classes, lambda_h, amplify)


def _print_table(out: dict, m: float, num_classes: int, lambda_h: float, amplify: bool) -> None:
    dc = out["different_class"]
    n = len(out["lambdas"])
    click.echo(f"UFM optimum (Theorem 3.1): m={m:g}  C={num_classes}  λ_H={lambda_h:g}"
               + ("  [A.2 amplified]" if amplify else ""))
    click.echo(f"same class:  K = {out['K_same']:.10g}   h = {out['same_class']['coef']:.10g}·w_i"
               f"   loss = {out['same_class']['loss']:.10g}")
    click.echo(f"mean loss over the 9 ordered pairs of a triple and {n} λ: "
               f"{out['mean_loss_triple']:.10g}")
    header = f"{'λ':>10} {'K_λ':>14} {'<w_i,h>':>14} {'coef_i':>14} {'coef_j':>14} {'loss':>14}"
    click.echo(header)
    # long λ lists: show 20 evenly spread rows sorted by λ
    order = np.argsort(out["lambdas"])
    if n > 20:
        order = order[np.linspace(0, n - 1, 20).round().astype(int)]
        click.echo(f"(20 of {n} rows, sorted by λ; use --json for all)")
    for i in order:
        click.echo(f"{out['lambdas'][i]:>10.6f} {dc['K'][i]:>14.8g} {dc['logit_i'][i]:>14.8g} "
                   f"{dc['coef_i'][i]:>14.8g} {dc['coef_j'][i]:>14.8g} {dc['loss'][i]:>14.8g}")
