"""The new-content queue: one task at a time, nothing stranded when ids arrive while it works."""

from __future__ import annotations

from stash_sense.jobs.new_content import NewContentQueue, process, queue_created


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


def test_a_burst_of_hooks_starts_one_task_and_a_failed_start_lets_the_next_hook_retry(tmp_path):
    started = []
    assert queue_created("gallery", "1", lambda: started.append(1), tmp_path) == {"queued": True,
                                                                                   "task_started": True}
    assert [queue_created("image", str(i), lambda i=i: started.append(i), tmp_path)["task_started"]
            for i in range(2, 20)] == [False] * 18
    assert started == [1]
    NewContentQueue.release_in(tmp_path)  # the task ended

    def refused():
        raise ConnectionError("Stash did not answer")

    try:
        queue_created("gallery", "30", refused, tmp_path)
    except ConnectionError:
        pass
    else:
        raise AssertionError("the failure to start the task was swallowed")
    assert queue_created("gallery", "31", lambda: started.append(31), tmp_path)["task_started"]  # not stuck
    queue = NewContentQueue(tmp_path)
    assert queue.snapshot()["gallery"] == ["1", "30", "31"]  # nothing lost
    queue.close()
