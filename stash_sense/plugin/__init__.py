"""The Stash adapter only: the stdin/stdout/log protocol (``protocol``), the entry (``main``), the
operations the UI and the tasks call (``operations``, ``tasks``). ``stash_sense_plugin.py`` (the
file Stash runs) bootstraps the Python environment and then calls ``stash_sense.plugin.main.main``.
"""
