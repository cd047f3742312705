"""Frame counts promised by WAV, RF64, AIFF and AU headers (to detect truncated files)."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

#: libsndfile reports 2**63 - 1 frames for a stream of unknown length (e.g. a FLAC whose
#: header says 0 samples).
UNKNOWN_FRAMES = 1 << 48


def header_counts(path: Path, size: int) -> tuple[int, int] | None:
    """Samples per channel a WAV, AIFF or AU header promises, and how many the file holds.

    libsndfile silently shortens such a file when it is cut; comparing the data size the header
    states with the bytes present catches that. ``None`` for other formats, unparsable headers
    and the placeholder sizes (0, 0xFFFFFFFF) of streaming writers.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12:
                return None
            if head[:4] in (b"RIFF", b"RIFX", b"RF64", b"BW64") and head[8:12] == b"WAVE":
                return _wav_counts(f, head[:4], size)
            if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
                return _aiff_counts(f, head[8:12] == b"AIFC", size)
            if head[:4] == b".snd":
                f.seek(0)
                return _au_counts(f.read(24), size)
    except (OSError, struct.error):
        return None
    return None


def _chunks(f: BinaryIO, order: str, size: int) -> Iterator[tuple[bytes, int, int]]:
    """``(id, length, body offset)`` of the RIFF/IFF chunks after the 12-byte file header."""
    position = 12
    while position + 8 <= size:
        f.seek(position)
        header = f.read(8)
        chunk, length = header[:4], struct.unpack(order + "I", header[4:])[0]
        yield chunk, length, position + 8
        position += 8 + length + (length & 1)


def _wav_counts(f: BinaryIO, magic: bytes, size: int) -> tuple[int, int] | None:
    block_align, data_start, data_size = _wav_data_chunk(f, magic, size)
    if not block_align or data_start is None or not data_size:
        return None
    return data_size // block_align, max(size - data_start, 0) // block_align


def _wav_data_chunk(f: BinaryIO, magic: bytes,
                    size: int) -> tuple[int | None, int | None, int | None]:
    """``(block align, offset of the samples, their size in bytes)`` of a WAV file.

    The block align is ``None`` for compressed data (a block holds many samples), the size is
    ``None`` for a streaming writer's placeholder and 0 if the header says 0.
    """
    order = ">" if magic == b"RIFX" else "<"
    block_align = data_size = data_start = ds64_size = None
    compressed = False
    for chunk, length, body in _chunks(f, order, size):
        if chunk == b"ds64":  # RF64/BW64: the real sizes, as 64-bit numbers
            fields = f.read(16)
            if len(fields) == 16:
                ds64_size = struct.unpack("<Q", fields[8:])[0]
        elif chunk == b"fmt ":
            fields = f.read(min(length, 26))
            if len(fields) < 14:
                return None, None, None
            tag = struct.unpack(order + "H", fields[:2])[0]
            block_align = struct.unpack(order + "H", fields[12:14])[0]
            if tag == 0xFFFE and len(fields) == 26:  # WAVE_FORMAT_EXTENSIBLE: the real tag
                tag = struct.unpack(order + "H", fields[24:26])[0]
            compressed = tag not in _WAV_PCM_TAGS
        elif chunk == b"data":
            data_start = body
            if length == 0xFFFFFFFF and ds64_size is not None:
                data_size = ds64_size
            elif length < _STREAMING_SIZE:
                data_size = length
            if block_align is not None:
                break
    return (None if compressed else block_align), data_start, data_size


def zero_length_wav(path: Path, size: int) -> io.BytesIO | None:
    """A WAV whose data chunk says 0 bytes but has samples, in memory with the real size.

    Streaming writers leave the size 0 when they cannot seek back; libsndfile would read such a
    file as empty. ``None`` for every other file.
    """
    try:
        with open(path, "rb") as f:
            magic = f.read(12)
            if magic[:4] not in (b"RIFF", b"RIFX") or magic[8:12] != b"WAVE":
                return None
            _, data_start, data_size = _wav_data_chunk(f, magic[:4], size)
    except (OSError, struct.error):
        return None
    if data_start is None or data_size != 0 or size <= data_start:
        return None
    order = ">" if magic[:4] == b"RIFX" else "<"
    data = bytearray(path.read_bytes())
    data[4:8] = struct.pack(order + "I", min(size - 8, 0xFFFFFFFF))
    data[data_start - 4:data_start] = struct.pack(order + "I", min(size - data_start, 0xFFFFFFFF))
    return io.BytesIO(bytes(data))


#: PCM, IEEE float, A-law and mu-law: a block is one sample of every channel.
_WAV_PCM_TAGS = (1, 3, 6, 7)
#: 32-bit data sizes from here up are placeholders of streaming writers (0xFFFFFFFF; SoX
#: writes 0x7FFFF000), not lengths.
_STREAMING_SIZE = 0x7FFFF000


_AIFC_PCM = (b"NONE", b"sowt", b"twos", b"raw ", b"fl32", b"FL32", b"fl64", b"FL64", b"in24",
             b"in32", b"42ni", b"23ni")


def _aiff_counts(f: BinaryIO, aifc: bool, size: int) -> tuple[int, int] | None:
    frames = frame_bytes = data_start = None
    for chunk, _, body in _chunks(f, ">", size):
        if chunk == b"COMM":
            fields = f.read(22)
            if len(fields) < 8:
                return None
            channels, frames, bits = struct.unpack(">hIh", fields[:8])
            if aifc and (len(fields) < 22 or fields[18:22] not in _AIFC_PCM):
                return None  # compressed: no fixed bytes per frame
            frame_bytes = channels * ((bits + 7) // 8)
        elif chunk == b"SSND":
            offset = struct.unpack(">I", f.read(4))[0]
            data_start = body + 8 + offset
        if frame_bytes is not None and data_start is not None:
            break
    if not frames or not frame_bytes or frame_bytes < 0 or data_start is None:
        return None
    return frames, max(size - data_start, 0) // frame_bytes


#: Bytes per sample of the AU encodings libsndfile reads (mu-law, 8-32 bit PCM, float, A-law).
_AU_BYTES = {1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 8, 27: 1}


def _au_counts(header: bytes, size: int) -> tuple[int, int] | None:
    if len(header) < 24:
        return None
    offset, data_size, encoding, _, channels = struct.unpack(">IIIII", header[4:24])
    frame_bytes = _AU_BYTES.get(encoding, 0) * channels
    if not frame_bytes or data_size in (0, 0xFFFFFFFF):
        return None
    return data_size // frame_bytes, max(size - offset, 0) // frame_bytes
