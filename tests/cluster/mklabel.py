#!/usr/bin/env python3
"""Write a sanfs device label (blockdev/bdev.h, block 0) on an image file:
mklabel.py IMAGE LABEL SIZE. For the cluster tests, which need labelled
devices before `sanctl mkfs` exists."""
import os, struct, sys, time

def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF

path, label, size = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
blk = bytearray(4096)
blk[0:8] = b"SANFSLBL"
struct.pack_into("<II", blk, 8, 1, 0)
blk[16:32] = os.urandom(16)
blk[32:32 + len(label)] = label
struct.pack_into("<QQ", blk, 96, size, time.time_ns())
struct.pack_into("<I", blk, 4092, crc32c(bytes(blk[:4092])))
with open(path, "wb") as f:
    f.write(blk)
    f.truncate(size)
