"""Query and path parameter types the routers share (``Annotated`` aliases): one definition
of each parameter's bounds and description, so the same name means the same thing on every
route and no router imports another for them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

RunId = Annotated[str, Path(description="run id", min_length=1, max_length=64,
                            examples=["3f2a9c1d"])]
JobId = Annotated[str, Path(min_length=1, max_length=64)]
EpochPath = Annotated[int, Path(ge=0, le=1_000_000, description="the recorded epoch")]

Epoch = Annotated[int | None, Query(ge=0, le=1_000_000,
                                    description="recorded epoch (default: the latest)")]
Layer = Annotated[str | None, Query(max_length=200, description="layer (default penultimate)")]
ClassesQ = Annotated[str | None, Query(max_length=100, pattern=r"^[0-9, ]*$",
                                       description="three distinct class indices a,b,c "
                                       "(default: the run's default triple); a on top",
                                       examples=["0,1,2"])]
Kinds = Annotated[str, Query(max_length=100, description="comma list of clean, same, "
                             "different", examples=["same,different"])]
LamMin = Annotated[float, Query(ge=0, le=1, description="smallest λ of pairs shown")]
LamMax = Annotated[float, Query(ge=0, le=1, description="largest λ of pairs shown")]
MaxPoints = Annotated[int | None, Query(ge=1, le=1_000_000,
                                        description="cap on points (random subsample)")]
Seed = Annotated[int, Query(ge=0, le=2**32 - 1, description="seed of the subsample")]
Centre = Annotated[bool, Query(description="subtract the mean of all clean probe features")]
