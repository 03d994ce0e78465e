"""mixscope's numerical core: plain numpy/scipy, no torch or web imports.

Shared by the trainer, the API, the CLI and notebooks. See docs/maths.md for a tour.

- :mod:`.simplex`: projection of a class triple onto the 2-D simplex picture.
- :mod:`.collapse`: classifier/ETF metrics, NC1-NC3, alignment and channel radius.
- :mod:`.calibration`: ECE, MCE and reliability-diagram data.
- :mod:`.spectra`: per-class and all-class singular values.
- :mod:`.ufm`: the unconstrained features model optimum (Theorem 3.1 with errata).
- :mod:`.mixup_optimal`: Lemma 2.3's mixup-optimal classifier and the Assumption 2.9 check.
- :mod:`.gradient_split`: the usual/cross split of the manifold-mixup gradient.
"""

from backend.maths.calibration import (
    Reliability,
    bin_index,
    ece,
    mce,
    reliability,
    reliability_from_probs,
)
from backend.maths.collapse import (
    CHANNEL_LAMBDAS,
    KIND_CLEAN,
    KIND_DIFFERENT,
    KIND_SAME,
    alignment,
    channel_radius,
    class_means,
    classifier_etf_distance,
    cosine_std,
    nc1,
    nc2,
    nc3,
    neural_collapse,
    norm_cv,
    papyan_collapse,
    projection_metrics,
    projection_metrics_epochs,
    rows_the_metrics_read,
    vertex_geometry,
)
from backend.maths.gradient_split import (
    GradientSplit,
    float32_residual_bound,
    gradient_split,
    split_residual,
)
from backend.maths.mixup_optimal import (
    MixupOptimal,
    alternating_line,
    grid_2d,
    mixup_optimal,
    mixup_optimal_limit,
    other_class_distances,
    reference_to_mix_distances,
)
from backend.maths.simplex import (
    TripleProjection,
    class_mean_rows,
    lambda_on_lower_class,
    orthonormal_frame,
    project_scores_epochs,
    project_triple,
    project_triple_scores,
    triangle_vertices,
)
from backend.maths.spectra import class_spectra, mean_first_singular
from backend.maths.ufm import (
    ParameterError,
    UFMSolution,
    amplification,
    etf,
    etf_triple_rows,
    loss_from_coefs,
    mean_loss_triple,
    minimise_point,
    minimise_ufm,
    optimal_features,
    point_loss_and_grad,
    solve_K_same,
    solve_ufm,
    ufm_projection,
    ufm_summary,
)

__all__ = [
    "CHANNEL_LAMBDAS", "KIND_CLEAN", "KIND_DIFFERENT", "KIND_SAME", "ParameterError",
    "GradientSplit", "MixupOptimal", "Reliability", "TripleProjection", "UFMSolution",
    "alignment", "alternating_line", "amplification", "bin_index", "channel_radius",
    "class_mean_rows", "class_means", "class_spectra", "cosine_std", "ece", "etf", "etf_triple_rows", "gradient_split", "grid_2d", "lambda_on_lower_class",
    "float32_residual_bound", "split_residual",
    "loss_from_coefs", "mce", "mean_first_singular", "mean_loss_triple", "minimise_point",
    "minimise_ufm",
    "mixup_optimal", "mixup_optimal_limit", "reference_to_mix_distances",
    "papyan_collapse", "classifier_etf_distance", "nc1", "nc2", "nc3", "neural_collapse",
    "norm_cv", "optimal_features",
    "orthonormal_frame", "other_class_distances", "point_loss_and_grad", "project_triple",
    "project_scores_epochs", "project_triple_scores",
    "projection_metrics", "projection_metrics_epochs", "rows_the_metrics_read", "reliability", "reliability_from_probs", "solve_K_same",
    "solve_ufm", "triangle_vertices", "ufm_projection", "ufm_summary", "vertex_geometry",
]
