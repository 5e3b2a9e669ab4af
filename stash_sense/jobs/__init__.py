"""Bulk identification of galleries (issue 7): the job behind the "Identify performers in all
galleries" tasks and ``python -m stash_sense bulk``.

Modules, one concern each: ``options`` (what a run does), ``sampling`` (which galleries and images),
``fetch`` (batched Stash reads), ``cache`` (embeddings per image file), ``ledger`` (which galleries a
run finished, for skip and resume), ``analysis`` (cache first, engine for the misses), ``decide``
(persons -> add / review / nothing), ``report`` (log lines, progress, summary), ``job`` (the loop).
"""
