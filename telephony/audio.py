"""Audio the hub and its simulator serve, made with the stdlib: the hold music callers hear, and
recording media as a WAV of tones as long as the call (one party per channel, taking turns, so a
two-channel file shows both parties)."""

from __future__ import annotations

import io
import math
import struct
import wave
from functools import lru_cache

RATE = 8000


# Recording media: 8-bit PCM at 4 kHz (tones need no more), 4 kB a second a channel, so an hour of
# a two-channel call is under 29 MB and the demo's 30-second calls about 240 kB each. Longer
# simulated calls are cut at MAX_RECORDING_SECONDS to bound the memory one answer takes.
RECORDING_RATE = 4000
RECORDING_BYTES_PER_SECOND = RECORDING_RATE  # a channel, one byte a sample
MAX_RECORDING_SECONDS = 3600
TURN_SECONDS = 3  # each party "speaks" this long, then the other


@lru_cache(maxsize=4)
def _conversation(channels: int) -> bytes:
    """One exchange (the caller, then the agent, TURN_SECONDS each) as interleaved 8-bit frames:
    a tone shaped into syllables on the speaker's channel, silence (128) on the other's."""
    pitches = (440.0, 660.0)
    frames = bytearray()
    turn = RECORDING_RATE * TURN_SECONDS
    for speaker in range(2):
        for i in range(turn):
            syllable = 0.5 - 0.5 * math.cos(2 * math.pi * (i % (RECORDING_RATE // 4)) / (RECORDING_RATE // 4))
            fade = min(1.0, i / 200, (turn - i) / 200)
            value = 128 + int(90 * syllable * fade * math.sin(2 * math.pi * pitches[speaker] * i / RECORDING_RATE))
            for ch in range(channels):
                frames.append(value if channels == 1 or ch == speaker else 128)
    return bytes(frames)


def recording_media(channels: int, seconds: int) -> bytes:
    """A WAV as long as the recording (at least a second, at most MAX_RECORDING_SECONDS): the
    exchange repeated, so memory and time grow with the length only by copying bytes."""
    channels = max(1, min(channels, 2))
    seconds = max(1, min(seconds, MAX_RECORDING_SECONDS))
    pattern = _conversation(channels)
    wanted = seconds * RECORDING_RATE * channels
    repeats = -(-wanted // len(pattern))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(1)
        out.setframerate(RECORDING_RATE)
        out.writeframes((pattern * repeats)[:wanted])
    return buffer.getvalue()


@lru_cache(maxsize=1)
def hold_music() -> bytes:
    """A gentle arpeggio, mono, 15 seconds; the simulator counts a `<Play>` of it as 15 s."""
    notes = (261.63, 329.63, 392.0, 523.25)
    frames_per_note = RATE // 2
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        samples = bytearray()
        for n in range(30):
            pitch = notes[n % len(notes)]
            for i in range(frames_per_note):
                fade = min(1.0, i / 400, (frames_per_note - i) / 400)
                samples += struct.pack("<h", int(5000 * fade * math.sin(2 * math.pi * pitch * i / RATE)))
        out.writeframes(bytes(samples))
    return buffer.getvalue()


HOLD_MUSIC_SECONDS = 15
