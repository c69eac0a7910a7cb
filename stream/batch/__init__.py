"""Batch processing of many files on Ray: ``python -m stream.batch INPUTS... --output-dir DIR``.

One input file is the unit of work (frame order, timestamps, audio and stable colours need
the whole file); Ray actors each keep one model and run the single-run code on one file at
a time. Modules, one job each: ``inputs`` (what to process), ``jobs`` (where outputs go),
``partial`` (hidden folders renamed when complete), ``manifest`` (resume), ``actor`` (the
worker), ``cluster`` (Ray start/join and sizing), ``driver`` (files to actors), ``progress``
(one bar over all frames), ``summary`` (JSON and table), ``run`` and ``cli``.
"""
