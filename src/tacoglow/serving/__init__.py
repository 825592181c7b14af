"""An OpenAI-compatible HTTP speech server (``tacoglow serve``; needs the ``serve`` extra).

>>> from tacoglow.inference.synthesizer import Synthesizer   # doctest: +SKIP
>>> app = create_app(Synthesizer())                          # doctest: +SKIP
>>> uvicorn.run(app, host="127.0.0.1", port=8000)            # doctest: +SKIP
"""

from tacoglow.serving.app import MODEL_NAMES, SPEED_RANGE, ServerSettings, create_app

__all__ = ["MODEL_NAMES", "SPEED_RANGE", "ServerSettings", "create_app"]
