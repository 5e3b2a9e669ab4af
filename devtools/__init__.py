"""Developer tools that are not shipped with the plugin (the demo Stash, ...)."""
