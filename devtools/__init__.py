"""Development tools that never ship in the plugin: the demo Stash, the evaluation harness and its CLI."""
