"""The records of a W&B offline run (``run-*.wandb``), read as ``wandb sync`` reads them.

W&B writes each run's records to a LevelDB-style log: a 7-byte header (":W&B", magic, version),
then 32 KiB blocks of chunks, each with a 7-byte header (CRC-32, length, type: whole, first,
middle or last piece of a record); each record is a ``wandb_internal_pb2.Record``.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from wandb.proto.wandb_internal_pb2 import Record

HEADER = struct.Struct("<4sHB")  # ident, magic, version
CHUNK = struct.Struct("<IHB")  # crc32, length, type
BLOCK = 32 * 1024
WHOLE, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list[Record]:
    data = path.read_bytes()
    ident, _, _ = HEADER.unpack_from(data)
    assert ident == b":W&B", f"{path} is not a W&B log"
    found, pending, at = [], b"", HEADER.size
    while at + CHUNK.size <= len(data):
        left = BLOCK - at % BLOCK
        if left < CHUNK.size:  # a block's tail too short for a chunk header: padding
            at += left
            continue
        _, length, kind = CHUNK.unpack_from(data, at)
        piece = data[at + CHUNK.size : at + CHUNK.size + length]
        at += CHUNK.size + length
        if len(piece) < length:  # cut short by a kill: what W&B could not finish writing
            break
        if kind == 0:  # zeros: the rest of the block is padding
            at += BLOCK - at % BLOCK if at % BLOCK else 0
            continue
        pending = piece if kind in (WHOLE, FIRST) else pending + piece
        if kind in (WHOLE, LAST):
            record = Record()
            record.ParseFromString(pending)
            found.append(record)
    return found


def history(run_folder: Path) -> list[dict]:
    """The rows ``wandb.log`` wrote to an offline run folder, in order (``_step`` included)."""
    rows = []
    for log in run_folder.glob("run-*.wandb"):
        for record in records(log):
            if record.WhichOneof("record_type") == "history":
                row = {
                    item.key or "/".join(item.nested_key): json.loads(item.value_json)
                    for item in record.history.item
                }
                rows.append(row)
    return rows
