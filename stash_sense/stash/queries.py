"""Every GraphQL document the plugin sends to Stash.

Kept as module-level constants so tests can validate each one against the real Stash schema
(../shared/stash-schema) without a server: a field that does not exist in Stash fails CI, not a user.
Only the fields we use are selected, so responses stay small and Stash does little work.
"""

from __future__ import annotations

# The oldest Stash whose schema every document here validates against (tests check each supported
# version's schema in ../shared/stash-schema/versions/).
# stashapi's constructor reads ``version`` itself; the client checks it against this once.
MIN_STASH_VERSION = (0, 28, 0)

# --- files / images / galleries ----------------------------------------------------------------

# An image with everything needed to read its bytes (disk path or zip member) and to cache it by
# fingerprint. `visual_files` replaces the deprecated `files`. `zip_file_id` (not `zip_file`, which
# Stash has only from v0.29): whether a file is a zip member is all we need to know, and every
# supported Stash version has it (see MIN_STASH_VERSION).
IMAGE_FIELDS = """
  id
  title
  visual_files {
    ... on ImageFile {
      id path basename size mod_time width height
      zip_file_id
      fingerprints { type value }
    }
    ... on VideoFile {
      id path basename size mod_time width height
      zip_file_id
      fingerprints { type value }
    }
  }
  paths { image thumbnail }
  performers { id }
"""

FIND_GALLERY = """
query StashSenseFindGallery($id: ID!) {
  findGallery(id: $id) {
    id
    title
    image_count
    files { id path zip_file_id }
    folder { id path }
    performers { id name }
    tags { id name }
  }
}
"""

# One page of a gallery's images. `filter` carries page / per_page / sort.
FIND_GALLERY_IMAGES = (
    """
query StashSenseGalleryImages($gallery_id: ID!, $filter: FindFilterType) {
  findImages(
    image_filter: { galleries: { value: [$gallery_id], modifier: INCLUDES } }
    filter: $filter
  ) {
    count
    images {"""
    + IMAGE_FIELDS
    + """    }
  }
}
"""
)

FIND_IMAGE = (
    """
query StashSenseFindImage($id: ID!) {
  findImage(id: $id) {"""
    + IMAGE_FIELDS
    + """  }
}
"""
)

# Gallery listing. `gallery_filter` is built by the client (all / no performers / has tag).
FIND_GALLERIES = """
query StashSenseFindGalleries($gallery_filter: GalleryFilterType, $filter: FindFilterType) {
  findGalleries(gallery_filter: $gallery_filter, filter: $filter) {
    count
    galleries { id title image_count performers { id } }
  }
}
"""

FIND_SCENE = """
query StashSenseFindScene($id: ID!) {
  findScene(id: $id) {
    id
    title
    files { id path size mod_time duration width height fingerprints { type value } }
    paths { screenshot stream }
    performers { id name }
  }
}
"""

SCENE_FIELDS = """
    id
    title
    files { id path size mod_time duration width height fingerprints { type value } }
    paths { screenshot stream }
    performers { id name }
"""

# One page of scenes (the bulk scenes task reads them all before processing any).
FIND_SCENES_PAGE = (
    """
query StashSenseScenes($filter: FindFilterType) {
  findScenes(filter: $filter) {
    count
    scenes {"""
    + SCENE_FIELDS
    + """    }
  }
}
"""
)

SCENE_MARKER_CREATE = """
mutation StashSenseSceneMarkerCreate($input: SceneMarkerCreateInput!) {
  sceneMarkerCreate(input: $input) { id title seconds }
}
"""

SCENE_MARKERS_DESTROY = """
mutation StashSenseSceneMarkersDestroy($ids: [ID!]!) { sceneMarkersDestroy(ids: $ids) }
"""

PERFORMER_USAGE = """
query StashSensePerformerUsage($id: ID!) { findPerformer(id: $id) { id scene_count image_count gallery_count } }
"""

PERFORMER_DESTROY = """
mutation StashSensePerformerDestroy($input: PerformerDestroyInput!) { performerDestroy(input: $input) }
"""

SCENE_MARKERS = """
query StashSenseSceneMarkers($id: ID!) {
  findScene(id: $id) { id scene_markers { id title seconds } }
}
"""

# --- performers ---------------------------------------------------------------------------------

PERFORMER_FIELDS = "id name disambiguation alias_list country stash_ids { endpoint stash_id updated_at }"

FIND_PERFORMER = f"""
query StashSenseFindPerformer($id: ID!) {{
  findPerformer(id: $id) {{ {PERFORMER_FIELDS} }}
}}
"""

# The local performer that already carries a stash-box ID (so we never create a duplicate).
FIND_PERFORMERS_BY_STASH_ID = f"""
query StashSenseFindPerformersByStashId($endpoint: String!, $stash_id: String!) {{
  findPerformers(
    performer_filter: {{ stash_id_endpoint: {{ endpoint: $endpoint, stash_id: $stash_id, modifier: EQUALS }} }}
    filter: {{ per_page: -1 }}
  ) {{
    count
    performers {{ {PERFORMER_FIELDS} }}
  }}
}}
"""

# Performers carrying a stash-box ID, with when they were created (reconciling a lost performerCreate).
PERFORMERS_CREATED_WITH_STASH_ID = """
query StashSensePerformersCreatedWithStashId($endpoint: String!, $stash_id: String!) {
  findPerformers(
    performer_filter: { stash_id_endpoint: { endpoint: $endpoint, stash_id: $stash_id, modifier: EQUALS } }
    filter: { per_page: -1 }
  ) { performers { id name created_at } }
}
"""

# The cheapest answer Stash gives: is it there at all?
VERSION = """
query StashSenseVersion { version { version } }
"""

# Exact name match; more than one result means the name is ambiguous.
FIND_PERFORMERS_BY_NAME = f"""
query StashSenseFindPerformersByName($name: String!) {{
  findPerformers(performer_filter: {{ name: {{ value: $name, modifier: EQUALS }} }}, filter: {{ per_page: -1 }}) {{
    count
    performers {{ {PERFORMER_FIELDS} }}
  }}
}}
"""

PERFORMER_CREATE = f"""
mutation StashSensePerformerCreate($input: PerformerCreateInput!) {{
  performerCreate(input: $input) {{ {PERFORMER_FIELDS} }}
}}
"""

PERFORMER_UPDATE = f"""
mutation StashSensePerformerUpdate($input: PerformerUpdateInput!) {{
  performerUpdate(input: $input) {{ {PERFORMER_FIELDS} }}
}}
"""

# --- tags ---------------------------------------------------------------------------------------

FIND_TAGS_BY_NAME = """
query StashSenseFindTagsByName($name: String!) {
  findTags(tag_filter: { name: { value: $name, modifier: EQUALS } }, filter: { per_page: -1 }) {
    count
    tags { id name }
  }
}
"""

TAG_CREATE = """
mutation StashSenseTagCreate($input: TagCreateInput!) {
  tagCreate(input: $input) { id name }
}
"""

# --- bulk updates (performer_ids / tag_ids with mode ADD; REMOVE only for undo) ------------------

BULK_GALLERY_UPDATE = """
mutation StashSenseBulkGalleryUpdate($input: BulkGalleryUpdateInput!) {
  bulkGalleryUpdate(input: $input) { id performers { id } tags { id } }
}
"""

BULK_IMAGE_UPDATE = """
mutation StashSenseBulkImageUpdate($input: BulkImageUpdateInput!) {
  bulkImageUpdate(input: $input) { id performers { id } tags { id } }
}
"""

BULK_SCENE_UPDATE = """
mutation StashSenseBulkSceneUpdate($input: BulkSceneUpdateInput!) {
  bulkSceneUpdate(input: $input) { id performers { id } tags { id } }
}
"""

# --- current links (the "before" state the journal records; undo reads them again) --------------

GALLERY_LINKS = """
query StashSenseGalleryLinks($ids: [ID!]) {
  findGalleries(ids: $ids, filter: { per_page: -1 }) { galleries { id updated_at performers { id } tags { id } } }
}
"""

IMAGE_LINKS = """
query StashSenseImageLinks($ids: [ID!]) {
  findImages(ids: $ids, filter: { per_page: -1 }) { images { id updated_at performers { id } tags { id } } }
}
"""

SCENE_LINKS = """
query StashSenseSceneLinks($id: ID!) {
  findScene(id: $id) { id updated_at performers { id } tags { id } }
}
"""

# --- local enrollment: performers, and their solo images / galleries ----------------------------

FIND_PERFORMERS_PAGE = """
query StashSensePerformersPage($filter: FindFilterType) {
  findPerformers(filter: $filter) {
    count
    performers { id name disambiguation country image_path stash_ids { endpoint stash_id } }
  }
}
"""

# Only this one performer: whose face such an image or gallery shows is not in doubt.
SOLO_PERFORMER_FILTER = """{
      performers: { value: [$performer_id], modifier: INCLUDES }
      performer_count: { value: 1, modifier: EQUALS }
    }"""

FIND_SOLO_IMAGES = (
    """
query StashSenseSoloImages($performer_id: ID!, $filter: FindFilterType) {
  findImages(
    image_filter: """
    + SOLO_PERFORMER_FILTER
    + """
    filter: $filter
  ) {
    count
    images {"""
    + IMAGE_FIELDS
    + """    }
  }
}
"""
)

FIND_SOLO_GALLERIES = (
    """
query StashSenseSoloGalleries($performer_id: ID!, $filter: FindFilterType) {
  findGalleries(
    gallery_filter: """
    + SOLO_PERFORMER_FILTER
    + """
    filter: $filter
  ) {
    count
    galleries { id }
  }
}
"""
)

# --- stash-box ----------------------------------------------------------------------------------

STASHBOX_ENDPOINTS = """
query StashSenseStashBoxes {
  configuration { general { stashBoxes { endpoint name } } }
}
"""

# With a stash-box source, a UUID `query` makes stash-box return exactly that performer
# (stash-box SearchPerformer parses the term as a UUID first). `performer_id` would instead search
# by the *local* performer's name, which is not what we want for a stash_id lookup.
SCRAPE_STASHBOX_PERFORMER = """
query StashSenseScrapePerformer($source: ScraperSourceInput!, $input: ScrapeSinglePerformerInput!) {
  scrapeSinglePerformer(source: $source, input: $input) {
    remote_site_id
    name
    disambiguation
    gender
    country
    aliases
    urls
    images
  }
}
"""

# --- plugin -------------------------------------------------------------------------------------

PLUGIN_CONFIG = """
query StashSensePluginConfig($ids: [ID!]) {
  configuration { plugins(include: $ids) }
}
"""

RUN_PLUGIN_OPERATION = """
mutation StashSenseRunOperation($plugin_id: ID!, $args: Map) {
  runPluginOperation(plugin_id: $plugin_id, args: $args)
}
"""

RUN_PLUGIN_TASK = """
mutation StashSenseRunTask($plugin_id: ID!, $task_name: String, $description: String, $args_map: Map) {
  runPluginTask(plugin_id: $plugin_id, task_name: $task_name, description: $description, args_map: $args_map)
}
"""

FIND_JOB = """
query StashSenseFindJob($id: ID!) {
  findJob(input: { id: $id }) { id status description progress error }
}
"""


IMAGE_GALLERIES = "query StashSenseImageGalleries($id: ID!) { findImage(id: $id) { galleries { id } } }"


def all_documents() -> dict[str, str]:
    """Every executable document defined here (name -> text), for schema validation in tests."""
    return {
        name: value
        for name, value in globals().items()
        if name.isupper() and isinstance(value, str) and value.lstrip().startswith(("query", "mutation"))
    }
