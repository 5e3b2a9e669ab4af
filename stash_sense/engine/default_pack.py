"""The model pack used when none is chosen, in a module of its own so that the plugin's light
paths (service client, settings) can name it without importing the engine's heavy modules."""

DEFAULT_PACK = "stash-sense-v1"
