"""Record any PyTorch training into mixscope (issue 11).

``from mixscope import Recorder``: see :class:`mixscope.recorder.core.Recorder`.
"""

from mixscope.recorder.core import Recorder

__all__ = ["Recorder"]
