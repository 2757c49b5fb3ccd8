"""Clearing the "open for writing" flags an interrupted writer leaves in an HDF5 superblock.

Dataset files are written in SWMR mode, which keeps the file consistent on disk at every instant,
so a writer killed mid-run leaves a good file -- but with the superblock's *file consistency flags*
still saying "open for write", and HDF5 then refuses to open it (what the ``h5clear`` tool fixes).
This module does the same from Python, following the HDF5 file format specification (superblock
versions 2 and 3): the flags are byte 11, and the superblock ends with a Jenkins lookup3 checksum
of the bytes before it, which is recomputed.
"""

from __future__ import annotations

import struct

from opl.errors import DatasetFileError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_MASK = 0xFFFFFFFF


def clear_write_flags(path: str) -> bool:
    """Zero the superblock's file consistency flags of ``path``; True if they were set.

    Only call this when no process has the file open (the dataset writer holds a lock for that).
    """
    with open(path, "r+b") as fh:
        head = fh.read(64)
        if head[:8] != HDF5_SIGNATURE:
            raise DatasetFileError(f"{path}: not an HDF5 file (no HDF5 signature at offset 0)")
        version, offset_size = head[8], head[9]
        if version not in (2, 3):
            return False  # superblocks 0 and 1 have no consistency flags
        size = 12 + 4 * offset_size
        (stored,) = struct.unpack("<I", head[size : size + 4])
        if lookup3(head[:size]) != stored:
            raise DatasetFileError(f"{path}: HDF5 superblock checksum mismatch (corrupt file)")
        if head[11] == 0:
            return False
        cleared = head[:11] + b"\x00" + head[12:size]
        fh.seek(0)
        fh.write(cleared + struct.pack("<I", lookup3(cleared)))
        return True


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle``, the checksum of HDF5 metadata."""
    length = len(data)
    a = b = c = (0xDEADBEEF + length + initval) & _MASK
    pos = 0
    while length - pos > 12:
        a = (a + int.from_bytes(data[pos : pos + 4], "little")) & _MASK
        b = (b + int.from_bytes(data[pos + 4 : pos + 8], "little")) & _MASK
        c = (c + int.from_bytes(data[pos + 8 : pos + 12], "little")) & _MASK
        a, b, c = _mix(a, b, c)
        pos += 12
    if pos == length:
        return c
    tail = data[pos:] + bytes(12 - (length - pos))
    a = (a + int.from_bytes(tail[0:4], "little")) & _MASK
    b = (b + int.from_bytes(tail[4:8], "little")) & _MASK
    c = (c + int.from_bytes(tail[8:12], "little")) & _MASK
    return _final(a, b, c)


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _MASK


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = ((a - c) & _MASK) ^ _rot(c, 4)
    c = (c + b) & _MASK
    b = ((b - a) & _MASK) ^ _rot(a, 6)
    a = (a + c) & _MASK
    c = ((c - b) & _MASK) ^ _rot(b, 8)
    b = (b + a) & _MASK
    a = ((a - c) & _MASK) ^ _rot(c, 16)
    c = (c + b) & _MASK
    b = ((b - a) & _MASK) ^ _rot(a, 19)
    a = (a + c) & _MASK
    c = ((c - b) & _MASK) ^ _rot(b, 4)
    b = (b + a) & _MASK
    return a, b, c


def _final(a: int, b: int, c: int) -> int:
    for r1, r2, r3 in ((14, 11, 25), (16, 4, 14)):
        c ^= b
        c = (c - _rot(b, r1)) & _MASK
        a ^= c
        a = (a - _rot(c, r2)) & _MASK
        b ^= a
        b = (b - _rot(a, r3)) & _MASK
    c ^= b
    c = (c - _rot(b, 24)) & _MASK
    return c
