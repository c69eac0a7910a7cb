"""Assembling one run from settings: checks, source, model, outputs, pipeline, summary.

Knows no frontend: a window or a web page adds itself through ``Frontend``
(``stream.runtime.frontend``). ``run`` (``stream.runtime.run``) is the one entry point.
"""
