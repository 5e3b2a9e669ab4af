"""Persons across a gallery: clustering, identification, open set, calibration — on real LFW faces."""

from __future__ import annotations

import math

import pytest
from conftest import DEEPFACE, LFW

from bench.hard_set import degrade
from stash_sense.engine.builder import build_database
from stash_sense.engine.calibration import FEATURES, load_calibration
from stash_sense.engine.database import load_database
from stash_sense.engine.identify import Identifier

MAIN, SECOND = "Tony_Blair", "Serena_Williams"
# Enrolled too, so the main identity has look-alike competition in the database.
OTHERS = ["Colin_Powell", "Jacques_Chirac", "Gerhard_Schroeder", "Laura_Bush", "Nicole_Kidman", "Hugo_Chavez"]
NOT_ENROLLED = ["Donald_Rumsfeld", "Winona_Ryder", "Vladimir_Putin", "Tiger_Woods", "Amelie_Mauresmo"]


def _images(name: str) -> list:
    return sorted((LFW / name).glob("*.jpg"))


@pytest.fixture(scope="module")
def identifier(engine, tmp_path_factory):
    enrolled = {f"local:{name}": _images(name)[:2] for name in [MAIN, SECOND, *OTHERS]}
    path = tmp_path_factory.mktemp("persons") / "db"
    build_database(engine, enrolled, {uid: {"name": uid.split(":")[1].replace("_", " ")} for uid in enrolled}, path)
    return Identifier(engine, [load_database(path, engine.pack)])


@pytest.fixture(scope="module")
def gallery_2139(identifier):
    """One person across 15 images with a second person mixed in: the seed's failing case."""
    main, second = _images(MAIN)[2:17], _images(SECOND)[2:7]
    images = [p for pair in zip(main[:5], second, strict=True) for p in pair] + main[5:]
    return identifier.identify(images, names=[str(p) for p in images]), main, second


def _person_of(result, image) -> list:
    return [p for p in result.persons if str(image) in p.images]


def test_one_person_across_a_gallery_stays_one_person(gallery_2139):
    result, main, _ = gallery_2139
    main_persons = {id(p) for image in main for p in _person_of(result, image)
                    if p.identified and p.identified.universal_id == f"local:{MAIN}"}
    assert len(main_persons) == 1, "the main identity must come out as one person"
    person = next(p for p in result.persons if id(p) in main_persons)
    assert len(person.images) >= len(main) - 1  # at most one image's face left out of the person


def test_gallery_persons_are_identified_with_high_confidence(gallery_2139, identifier):
    result, _, _ = gallery_2139
    tagged = {p.identified.universal_id for p in result.identified}
    assert tagged == {f"local:{MAIN}", f"local:{SECOND}"}
    top = max(result.persons, key=lambda p: len(p.faces))
    assert top.identified.universal_id == f"local:{MAIN}"
    assert top.identified.confidence >= identifier.calibration.auto_threshold


def test_each_performer_goes_to_one_person_only(gallery_2139):
    result, _, _ = gallery_2139
    ids = [p.identified.universal_id for p in result.persons if p.identified]
    assert len(ids) == len(set(ids))


def test_faces_of_one_image_are_never_one_person(identifier):
    group = [DEEPFACE / "_unlabelled" / "selfie-many-people.jpg"]
    result = identifier.identify(group, names=[str(p) for p in group])
    assert len(result.persons) >= 3
    assert all(len(p.faces) == 1 for p in result.persons)


def test_gallery_of_people_not_in_the_database_gets_no_tags(identifier):
    images = [p for name in NOT_ENROLLED for p in _images(name)[:4]]
    result = identifier.identify(images, names=[str(p) for p in images])
    assert len(result.persons) >= len(NOT_ENROLLED)
    assert result.identified == []


def test_identification_is_deterministic(identifier):
    images = _images(MAIN)[2:8] + _images(SECOND)[2:5] + _images(NOT_ENROLLED[0])[:3]
    first = identifier.identify(images, names=[str(p) for p in images]).to_dict()
    second = identifier.identify(images, names=[str(p) for p in images]).to_dict()
    assert first == second


@pytest.mark.parametrize("feature", FEATURES)
def test_confidence_is_monotonic_in_evidence(engine, feature):
    calibration = load_calibration(engine.pack)
    base = {"similarity": 0.45, "margin": 0.1, "faces": 3, "images": 3, "votes": 0.5, "quality": 0.3,
            "size": 20.0, "det_score": 0.6, "sharpness": 1.2, "frontal": 0.6, "best_similarity": 0.5}
    step = {"similarity": ("similarity", 0.05), "margin": ("margin", 0.05), "log_faces": ("faces", 2),
            "log_images": ("images", 2), "votes": ("votes", 0.25), "quality": ("quality", 0.1),
            "log_size": ("size", 12.0), "det_score": ("det_score", 0.07), "sharpness": ("sharpness", 0.3),
            "frontal": ("frontal", 0.08), "best_similarity": ("best_similarity", 0.05),
            "log_agreeing": ("votes", 0.1)}[feature]
    values = []
    for i in range(6):
        evidence = dict(base)
        evidence[step[0]] = base[step[0]] + i * step[1]
        values.append(calibration.confidence(**evidence))
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    assert not math.isnan(values[-1])


def test_shipped_calibration_is_fitted_and_sane(engine):
    calibration = load_calibration(engine.pack)
    assert not calibration.fitted_on.get("uncalibrated")
    assert 0.5 <= calibration.review_threshold <= calibration.auto_threshold < 1.0
    assert 0.2 < calibration.cluster_threshold < 0.7


def test_a_one_image_bystander_is_offered_for_review_not_tagged(identifier):
    """Seen once beside a gallery's subject: reviewed, never auto-tagged; alone, it is tagged."""
    bystander = _images(SECOND)[2]
    images = _images(MAIN)[2:7] + [bystander]
    result = identifier.identify(images, names=[str(p) for p in images])
    person = _person_of(result, bystander)[0]
    assert person.incidental and person.identified.universal_id == f"local:{SECOND}"
    assert person not in result.identified
    entry = result.to_dict()["persons"][result.persons.index(person)]
    assert entry["incidental"] and entry["identified"]["band"] == "review"
    alone = identifier.identify([bystander], names=[str(bystander)])
    assert [p.identified.universal_id for p in alone.identified] == [f"local:{SECOND}"]


def _thumbnails(name: str, folder, count: int = 6) -> list:
    """``count`` of the person's photos (after the two enrolled) as re-compressed gallery thumbnails
    (72-120 px wide, JPEG 15-35: bench/hard_set.py's ``thumbnail`` kind, seeded, the same each run)."""
    out = []
    for source in _images(name)[2:2 + count]:
        target = folder / f"thumbnail__{source.name}"
        degrade(source, "thumbnail", target)
        out.append(target)
    return out


def test_poor_faces_that_agree_on_the_performer_are_one_person(identifier, tmp_path):
    """Thumbnails of one enrolled person are too unlike each other for the strict cluster threshold
    (it is set so two different people almost never merge): they came out as several persons, the
    one lone face taken for a bystander. Every one of them names the same performer first, so they
    are one person, and that person is the one the performer is given to."""
    images = _thumbnails("Jacques_Chirac", tmp_path)
    result = identifier.identify(images, names=[str(p) for p in images])
    naming = [p for p in result.persons if p.candidates and p.candidates[0].universal_id == "local:Jacques_Chirac"]
    assert len(naming) == 1, [(len(p.faces), p.candidates[0].universal_id) for p in result.persons]
    assert naming[0].identified.universal_id == "local:Jacques_Chirac"
    assert len(naming[0].images) >= 4


def _small_in_large(name: str, folder) -> list:
    """Six of the person's photos shrunk to a 22-40 px face in a 1280x720 or 1920x1080 frame
    (bench/hard_set.py's ``small_in_large`` kind, seeded)."""
    out = []
    for source in _images(name)[2:8]:
        target = folder / f"small_in_large__{source.name}"
        degrade(source, "small_in_large", target)
        out.append(target)
    return out


def test_a_gallery_of_poor_photos_is_tagged_where_its_photos_alone_mostly_are_not(identifier, tmp_path):
    """Six far-away shots of an enrolled person: alone, most of them are not enough to tag her
    (one was, before small faces had their landmarks refined and queries were adapted; two now). In
    one gallery the faces that name her join one person, whose one clearer face is no longer left
    as a one-image bystander beside the rest, and the gallery is tagged (it was not)."""
    images = _small_in_large("Nicole_Kidman", tmp_path)
    uid = "local:Nicole_Kidman"
    alone = [uid in {p.identified.universal_id for p in identifier.identify([image], names=[str(image)]).identified}
             for image in images]
    assert sum(alone) <= len(images) // 2, alone
    gallery = identifier.identify(images, names=[str(p) for p in images])
    assert [p.identified.universal_id for p in gallery.identified] == [uid]
    assert len(gallery.identified[0].images) >= 4
