"""The library's own faces (issue 20) in Stash's REAL web UI: the Stash Sense page's "Unknown people"
tab and the performer page's "Find everywhere" button.

The demo library has people who are in no database (LFW identities never enrolled) spread over
several galleries beside the enrolled demo performers. A bulk run analyses it (as a user's would),
filling the library face index; everything after that is done in the browser: the grouping task
started from the page, a group named as a new performer (the galleries get them; Undo takes it
back), another named as an existing performer through the search box, a third hidden; on Tony
Blair's page, "Find everywhere" lists the galleries that show him without having him, "Add
selected" adds one (Undo removes it), "Add all above auto threshold" the confident ones.
Screenshots go to tests/artifacts/library-*.png.
"""

from __future__ import annotations

import json
import re

import pytest
from plugin_env import install_reference, reference_db, run_plugin  # noqa: F401  (fixture)
from test_browser_ui import MIN_CONTRAST, UI, serve_ui

from devtools.demo import scenario as demo

EXTRA = demo.RECURRING_GALLERIES
BERLUSCONI = ["Berlusconi one", "Berlusconi and Koizumi", "Putin and Berlusconi"]
KOIZUMI = ["Berlusconi and Koizumi", "Koizumi two"]
PUTIN = ["Putin one", "Putin and Berlusconi"]
BLAIR_GALLERIES = {"Blair solo", "Blair again", "Blair and Powell"}
LABEL = re.compile(r"^Unknown person (\d+): (\d+) faces in (.+)$")


@pytest.fixture
def library_ui(tmp_path, monkeypatch, isolated_data_dir, reference_db):  # noqa: F811
    """The demo Stash with the unknown people's galleries, the reference database installed."""
    monkeypatch.setenv("STASH_SENSE_PACK", "test-mbf128")
    install_reference(reference_db)
    yield from serve_ui(tmp_path, galleries=demo.GALLERIES + EXTRA)


def op(ui: UI, args: dict) -> dict:
    run = run_plugin(ui.server.server_connection(), args)
    assert run.result.get("error") is None, (run.result, run.logs("e"))
    return run.result["output"]


def performer_id(ui: UI, name: str) -> str | None:
    found = ui.server.query('query($n: String!) { findPerformers(performer_filter: {name: {value: $n, '
                            'modifier: EQUALS}}) { performers { id } } }', {"n": name})["findPerformers"]["performers"]
    return found[0]["id"] if found else None


def galleries_of(group: dict) -> set[str]:
    return {i["id"] for i in group["items"] if i["type"] == "gallery"}


def test_unknown_people_grouped_named_undone_and_hidden_on_the_page(library_ui):
    ui = library_ui
    bulk = op(ui, {"mode": "bulk_galleries"})
    assert bulk["processed"] == len(demo.GALLERIES + EXTRA), bulk
    koizumi_id = ui.server.query('mutation { performerCreate(input: {name: "Junichiro Koizumi"}) { id } }'
                                 )["performerCreate"]["id"]
    ids = {title: ui.gallery(title) for title in BERLUSCONI + KOIZUMI + PUTIN}

    out = ui.browse("unknownPeople", "library-unknown", newName="Silvio Berlusconi",
                    newGalleries=[ids[t] for t in BERLUSCONI], thisIsGalleries=[ids[t] for t in KOIZUMI],
                    thisIsSearch="koizu", thisIsName="Junichiro Koizumi", hideGalleries=[ids[t] for t in PUTIN])

    assert "No recurring unknown people" in out["emptyText"]  # before the grouping task ran
    groups = {frozenset(galleries_of(g)): g for g in out["groups"]}
    berlusconi = groups[frozenset(ids[t] for t in BERLUSCONI)]
    m = LABEL.match(berlusconi["label"])
    assert m and m.group(3) == "3 galleries" and int(m.group(2)) >= 6, berlusconi["label"]
    assert {i["text"] for i in berlusconi["items"]} == set(BERLUSCONI)
    assert all(i["href"] == f"/stash/galleries/{i['id']}" for i in berlusconi["items"])
    for group in out["groups"]:  # every group shows its best faces, cut by the plugin (data URLs), all loaded
        assert group["crops"] and all(c["data"] and c["loaded"] for c in group["crops"]), group
    titles = {i["text"] for g in out["groups"] for i in g["items"]}
    assert not {"Blair again", "Blair solo", "Rumsfeld and Chirac", "Schroeder zip"} & titles, titles  # recognised

    # "New performer named …": on its three galleries (seen through Stash's GraphQL), then undone
    named = f"Unknown person {berlusconi['id']} is Silvio Berlusconi: added to 3 galleries"
    assert out["nameMessage"].startswith(named), out["nameMessage"]
    assert all("Silvio Berlusconi" in names for names in out["afterName"].values()), out["afterName"]
    assert str(berlusconi["id"]) not in {g["id"] for g in out["groupsAfterName"]}
    assert all("Silvio Berlusconi" not in names for names in out["afterUndo"].values()), out["afterUndo"]
    assert performer_id(ui, "Silvio Berlusconi") is None  # the performer the naming created is gone
    assert frozenset(ids[t] for t in BERLUSCONI) in {frozenset(galleries_of(g)) for g in out["groupsAfterUndo"]}

    # "This is…" an existing performer found by the search box; "Not interesting" hides a group
    assert out["options"] == ["Junichiro Koizumi"]
    assert "is Junichiro Koizumi: added to 2 galleries" in out["thisIsMessage"]
    for title in KOIZUMI:
        assert "Junichiro Koizumi" in ui.gallery_performers(title)
    for title in BERLUSCONI:
        assert "Silvio Berlusconi" not in ui.gallery_performers(title)
    local = json.loads((ui.tmp / "data" / "local_db" / "performers.json").read_text())
    assert any(r.get("local_id") == koizumi_id for r in local.values())  # enrolled: future runs know him
    assert not any(r.get("name") == "Silvio Berlusconi" for r in local.values())  # undone: not enrolled
    assert out["hiddenId"] not in {g["id"] for g in out["groupsEnd"]}
    hidden = op(ui, {"mode": "unknown_people_list", "status": "hidden", "crops": "false"})["people"]
    assert [str(p["id"]) for p in hidden] == [out["hiddenId"]]

    low = [c for c in out["contrast"] if c["ratio"] < MIN_CONTRAST]
    assert low == [], low


def test_find_everywhere_on_the_performer_page_adds_selected_and_auto(library_ui):
    ui = library_ui
    op(ui, {"mode": "bulk_galleries", "dry_run": "true"})  # analysed and indexed, nothing added
    blair = performer_id(ui, "Tony Blair")
    titles = {gallery_id: title for title, gallery_id in ui.ids["galleries"].items()}
    chosen = ui.gallery("Blair again")

    out = ui.browse("findEverywhere", "library-find", performerId=blair, select=chosen)

    assert out["buttonText"] == "Find everywhere" and out["buttonRow"][0] == "Edit"
    assert out["buttonRow"].index("Find everywhere") == out["buttonRow"].index("Delete") - 1
    assert out["title"] == "Find Tony Blair everywhere"
    listed = out["itemsBefore"]
    assert {titles[i["key"].split(":")[1]] for i in listed if i["key"].startswith("gallery:")} == BLAIR_GALLERIES
    assert all(i["title"] == titles[i["key"].split(":")[1]] for i in listed)
    assert all(i["thumbs"] and all(t["loaded"] and t["src"].startswith("/stash/image/") for t in i["thumbs"])
               for i in listed)
    confidences = [float(i["confidence"].rstrip("%")) for i in listed]
    assert confidences == sorted(confidences, reverse=True)
    auto = {i["key"].split(":")[1] for i in listed if i["band"] == "auto-apply"}
    assert out["autoText"] == f"Add all above auto threshold ({len(auto)})"

    assert out["selectedText"] == "Add selected (1)"
    assert out["addMessage"].startswith("Added Tony Blair to 1 item")
    assert out["afterAdd"] == {chosen: ["Tony Blair"]}
    assert f"gallery:{chosen}" not in {i["key"] for i in out["itemsAfterAdd"]}  # it has him now
    assert out["afterUndo"] == {chosen: []} and f"gallery:{chosen}" in {i["key"] for i in out["itemsAfterUndo"]}
    assert out["autoMessage"].startswith(f"Added Tony Blair to {len(auto)} item")
    having = {titles[g] for g in ui.ids["galleries"].values() if "Tony Blair" in ui.performers_of("Gallery", g)}
    assert having == {titles[g] for g in auto}
    assert {i["key"].split(":")[1] for i in out["itemsEnd"]} == {i["key"].split(":")[1] for i in listed} - auto

    low = [c for c in out["contrast"] if c["ratio"] < MIN_CONTRAST]
    assert low == [], low
