"""Record any PyTorch training into mixscope (issue 11).

``from mixscope import Recorder``: see :class:`mixscope.recorder.core.Recorder`.
"""

from mixscope.recorder.core import Recorder
from mixscope.recorder.manifold import ManifoldMix

__all__ = ["ManifoldMix", "Recorder"]
