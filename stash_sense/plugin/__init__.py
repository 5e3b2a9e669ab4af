"""The Stash plugin: protocol, settings, image access, identify/apply operations, journal and undo.

Thin layers over the engine; ``stash_sense_plugin.py`` (the file Stash runs) bootstraps the Python
environment and then calls ``stash_sense.plugin.main.main``.
"""
