"""Changes to a user's Stash library: the journal (owns all its SQL), journalled ADD-only write-back,
undo, scene markers, performer lookup/creation, and reading images and video from Stash."""
