"""The new-content queue: one task at a time, nothing stranded when ids arrive while it works."""

from __future__ import annotations

from stash_sense.jobs.new_content import NewContentQueue, process


def test_ids_queued_during_a_round_get_their_own_round_and_the_marker_is_released(tmp_path):
    queue = NewContentQueue(tmp_path)
    queue.add("gallery", "1")
    assert queue.claim() and not queue.claim()  # the hook that queued first starts the one task
    seen = []

    def identify(taken):
        seen.append({k: v for k, v in taken.items() if v})
        if len(seen) == 1:  # a hook fires while the first round works: it must not start a task
            queue.add("image", "7")
            assert not queue.claim()
        return {"round": len(seen)}

    assert process(queue, identify, quiet_s=0) == [{"round": 1}, {"round": 2}]
    assert seen == [{"gallery": ["1"]}, {"image": ["7"]}]
    assert queue.snapshot() == {"gallery": [], "scene": [], "image": []}
    assert queue.claim()  # released: the next burst starts a new task
    queue.close()


def test_an_unknown_kind_is_refused(tmp_path):
    queue = NewContentQueue(tmp_path)
    try:
        queue.add("performer", "3")
    except ValueError as exc:
        assert "performer" in str(exc)
    else:
        raise AssertionError("a performer was queued")
    finally:
        queue.close()
