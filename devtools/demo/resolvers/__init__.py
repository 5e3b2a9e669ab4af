"""The demo Stash's root value: one resolver group per object type, one method per root field."""

from __future__ import annotations

from .galleries import GalleryResolvers
from .images import ImageResolvers
from .performers import PerformerResolvers
from .scenes import SceneResolvers
from .system import SystemResolvers
from .tags import TagResolvers
from .ui import UIResolvers


class Root(
    SystemResolvers, GalleryResolvers, ImageResolvers, SceneResolvers, PerformerResolvers, TagResolvers, UIResolvers
):
    """Root value for Query and Mutation (graphql-core looks fields up as attributes)."""


__all__ = ["Root"]
