"""What Stash Sense does to a library, as use cases over the library and service layers.

One runner for bulk runs (``runner``) with two item kinds, ``galleries`` and ``scenes``; around it,
one concern per module: ``options`` (what a run does), ``sampling`` and ``gallery_reads`` (which
items and images, batched Stash reads), ``cache`` (embeddings per file), ``ledger`` (what a run
finished, for skip and resume), ``analysis`` and ``scene_frames`` (cache first, engine for the
misses), ``decide`` (persons -> add / review / nothing), ``review`` (stored suggestions),
``prefetched_performers`` (one read of all performers per run). The one-target jobs behind the
buttons: ``identify_target`` (gallery/image) and ``identify_scene``; ``enroll`` builds the local
reference.
"""
