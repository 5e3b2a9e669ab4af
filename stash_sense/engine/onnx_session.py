"""One place that creates onnxruntime sessions: thread settings and the execution provider (the
device) apply to every model.

``--device`` / ``STASH_SENSE_DEVICE``: ``auto`` (default) takes the best provider this onnxruntime
build reports as available (CUDA, ROCm, DirectML, CoreML, OpenVINO, in that order) and falls back to
the CPU with a log line saying why; a named device that is not available, or whose session cannot
be created (missing CUDA libraries, an unsupported operator), falls back to the CPU the same way.
What was asked for and what runs is kept in ``last_choice`` for ``identify --json``, the bench JSON,
``info`` and the modal's footer.

Memory (issue 16): onnxruntime keeps each run's buffers in a CPU memory arena that only grows. By
default every session on this process draws from ONE shared arena that grows by exactly what a run
asks for (``kSameAsRequested``), so the arena holds what the engine's threads run at once rather
than the doubling growth of one arena per model (two embedders and the detector, each grown to its
own worst run). In low-memory mode (``engine.memory``) sessions have no arena at all: buffers go
back to the system after every run, so the engine's size between runs is its models, at the cost
of fresh pages on every run (measured in the README, issue 16).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import onnxruntime as ort

from stash_sense.engine.memory import low_memory

log = logging.getLogger(__name__)
CPU = "CPUExecutionProvider"
DEVICES = {
    "cpu": (CPU,),
    "cuda": ("CUDAExecutionProvider",),
    "rocm": ("ROCMExecutionProvider", "MIGraphXExecutionProvider"),
    "directml": ("DmlExecutionProvider",),
    "coreml": ("CoreMLExecutionProvider",),
    "openvino": ("OpenVINOExecutionProvider",),
}
AUTO_ORDER = ("cuda", "rocm", "directml", "coreml", "openvino")
GPU_PROVIDERS = frozenset(p for name in AUTO_ORDER for p in DEVICES[name])


@dataclass
class ProviderChoice:
    device: str  # what was asked for: auto, cpu, cuda, ...
    provider: str  # what the session actually runs on (its first provider)
    reason: str = ""  # why it is not what was asked for, when it is not

    def to_dict(self) -> dict:
        return asdict(self)


last_choice = ProviderChoice("cpu", CPU)


def requested_device(device: str | None = None) -> str:
    value = (device or os.environ.get("STASH_SENSE_DEVICE") or "auto").strip().lower()
    if value != "auto" and value not in DEVICES:
        raise ValueError(f"unknown device {value!r}: use auto, {', '.join(DEVICES)}")
    return value


def choose_provider(device: str, available: list[str]) -> tuple[str, str]:
    """(provider, reason it differs from the request, or ""): pure, so it is tested without a GPU."""
    if device == "cpu":
        return CPU, ""
    if device == "auto":
        for name in AUTO_ORDER:
            for provider in DEVICES[name]:
                if provider in available:
                    return provider, ""
        return CPU, f"no GPU execution provider in this onnxruntime build (available: {', '.join(available)})"
    for provider in DEVICES[device]:
        if provider in available:
            return provider, ""
    return CPU, (f"{device} requested but this onnxruntime build has no {' or '.join(DEVICES[device])} "
                 f"(available: {', '.join(available)}); install the matching onnxruntime build")


def create_session(model_path: str | Path, threads: int = 0, device: str | None = None) -> ort.InferenceSession:
    """A session on the chosen provider; ``threads`` = intra-op threads (0 lets onnxruntime use every core)."""
    global last_choice
    asked = requested_device(device)
    provider, reason = choose_provider(asked, ort.get_available_providers())
    options = session_options(threads)
    session = None
    if provider != CPU:
        try:
            session = ort.InferenceSession(str(model_path), sess_options=options, providers=[provider, CPU])
        except Exception as exc:  # the provider is listed but cannot run this model here
            reason = f"{provider} failed to create a session for {Path(model_path).name} ({exc})"
    if session is None:
        session = ort.InferenceSession(str(model_path), sess_options=options, providers=[CPU])
    used = session.get_providers()[0]
    if used != provider and not reason:
        reason = f"{provider} was requested but onnxruntime runs {used}"
    if reason:  # auto on a machine without a GPU is normal (info); a named device that fails is not
        log.log(logging.INFO if asked == "auto" else logging.WARNING, "execution provider: using the CPU: %s", reason)
    last_choice = ProviderChoice(asked, used, reason)
    return session


def session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    if low_memory():
        options.enable_cpu_mem_arena = False
    else:
        _register_shared_arena()
        options.add_session_config_entry(USE_ENV_ALLOCATORS, "1")
    return options


USE_ENV_ALLOCATORS = "session.use_env_allocators"  # the session takes the process's shared CPU arena
SAME_AS_REQUESTED = 1  # onnxruntime ArenaExtendStrategy::kSameAsRequested (0 is kNextPowerOfTwo)
_shared_arena_registered = False
_shared_arena_lock = threading.Lock()


def _register_shared_arena() -> None:
    """Register the process-wide CPU arena every session shares (once: onnxruntime refuses a second)."""
    global _shared_arena_registered
    with _shared_arena_lock:
        if _shared_arena_registered:
            return
        memory = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(memory, ort.OrtArenaCfg({"arena_extend_strategy": SAME_AS_REQUESTED}))
        _shared_arena_registered = True


def on_gpu(session: ort.InferenceSession) -> bool:
    return session.get_providers()[0] in GPU_PROVIDERS
