"""Audio the hub and its simulator serve, made with the stdlib: the hold music callers hear, and
recording media as a WAV of tones (one per channel, so a two-channel file shows both parties)."""

from __future__ import annotations

import io
import math
import struct
import wave
from functools import lru_cache

RATE = 8000


def tones_wav(*, channels: int = 2, seconds: float = 3.0, pitches: tuple[float, ...] = (440.0, 660.0)) -> bytes:
    """16-bit PCM at 8 kHz; channel n plays pitches[n], channel 2 only in the second half."""
    frames = int(RATE * seconds)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(RATE)
        samples = bytearray()
        for i in range(frames):
            for ch in range(channels):
                pitch = pitches[ch % len(pitches)]
                on = ch == 0 or i >= frames // 2
                value = int(8000 * math.sin(2 * math.pi * pitch * i / RATE)) if on else 0
                samples += struct.pack("<h", value)
        out.writeframes(bytes(samples))
    return buffer.getvalue()


@lru_cache(maxsize=16)
def recording_media(channels: int, seconds: int) -> bytes:
    # A few seconds of audio whatever the call's length: enough to play, small to copy.
    return tones_wav(channels=channels, seconds=max(1, min(seconds, 4)))


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
