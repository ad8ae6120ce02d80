#!/usr/bin/env python3
"""Regenerate the seed corpora of the blockdev fuzz targets (committed; run
only when a format changes). Each seed is a mode byte (bit 0: recompute the
CRC) followed by a 4096-byte block, as tests/fuzz/fuzz_common.h expects.
Layouts: blockdev/bdev.h."""
import os
import struct

POLY = 0x82F63B78
TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ POLY if c & 1 else c >> 1
    TABLE.append(c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def seal(block):
    block[4092:4096] = struct.pack('<I', crc32c(bytes(block[:4092])))
    return bytes(block)


def label(name, version=1):
    b = bytearray(4096)
    b[0:8] = b'SANFSLBL'
    struct.pack_into('<II', b, 8, version, 0)
    b[16:32] = bytes(range(0x10, 0x20))
    b[32:32 + len(name)] = name
    struct.pack_into('<QQ', b, 96, 1 << 30, 1700000000 * 10**9)
    return seal(b)


def hb(state, off, host, mode=2):
    b = bytearray(4096)
    b[0:8] = b'SANFS-HB'
    struct.pack_into('<IIQ', b, 8, 1, state, off)
    b[24:40] = bytes(range(0x40, 0x50))
    struct.pack_into('<IIQQQQIII', b, 40, 3, 2, 5, 77, 1700000000 * 10**9, 12, 999, mode, 1)
    b[96:96 + len(host)] = host
    return seal(b)


def write(target, name, mode, block):
    """mode None: raw bytes (probe_foreign), else a mode byte first."""
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(block if mode is None else bytes([mode]) + block)


write('label_decode', 'valid', 0, label(b'data0'))
write('label_decode', 'valid-long', 0, label(b'x' * 63))
write('label_decode', 'newer-fixcrc', 1, label(b'v2', version=2)[:4092])
write('label_decode', 'zero', 0, bytes(64))
write('hb_decode', 'live', 0, hb(1, 65536, b'node-3'))
write('hb_decode', 'fenced', 0, hb(3, 0, b'h', mode=1))
write('hb_decode', 'badmode-fixcrc', 1, hb(2, 4096, b'n', mode=9)[:4092])
write('hb_decode', 'zero', 0, bytes(16))
# probe_foreign takes raw device bytes: an ext4-like and a GPT-like start.
ext = bytearray(2048)
ext[1024 + 56:1024 + 58] = b'\x53\xef'
write('probe_foreign', 'ext', None, bytes(ext))
gpt = bytearray(1024)
gpt[510:512] = b'\x55\xaa'
gpt[512:520] = b'EFI PART'
write('probe_foreign', 'gpt', None, bytes(gpt))
write('probe_foreign', 'label', None, label(b'p'))
# fault_parse takes a SANFS_BDEV_FAULTS value.
write('fault_parse', 'all-kinds', None,
      b'eio,off=1M,len=64K,ops=w;torn,n=3,dev=loop5;delay,us=500;eio_after,n=2,ops=rw')
write('fault_parse', 'bad', None, b'eio,off=1X')
write('fault_parse', 'filtered', None, b'torn,n=1,dev=sdz;eio,off=0,len=4K,ops=r')
# inode_decode (tests/fs/test_inode_fuzz.c): mode byte (bit 0: seal the
# header as inode 1234's; bits 1-2: 0 inode, 1 xattr block, 2 symlink
# block), then the block; only the payload after the 48-byte header counts
# when the target seals it. Layouts: fs/FORMAT-inode.md (version 2).


def xent(ns, name, value):
    return struct.pack('<BBI', ns, len(name), len(value)) + name + value


def inode(mode, size, blocks, niext=0, exts=(), xattrs=b'', symlen=0, sym=b''):
    b = bytearray(4096)
    struct.pack_into('<IIII', b, 48, mode, 1000, 100, 1)
    struct.pack_into('<QQ', b, 64, size, blocks)
    for i, off in enumerate((80, 92, 104, 116)):
        struct.pack_into('<qI', b, off, 1700000000 + i, 5 * i)
    struct.pack_into('<Q', b, 136, 0x1122334455667788)
    struct.pack_into('<HHHH', b, 176, 0, niext, symlen, len(xattrs))
    for i, (lblk, pblk, n, fl) in enumerate(exts):
        struct.pack_into('<QQII', b, 256 + 24 * i, lblk, pblk, n, fl)
    b[256:256 + len(sym)] = sym
    b[1280:1280 + len(xattrs)] = xattrs
    return bytes(b)


write('inode_decode', 'file', 1,
      inode(0o100644, 40960, 200, 2, ((0, 5000, 10, 0), (10, 9000, 5, 1)),
            xent(1, b'abc', b'XY') + xent(4, b'', b'\x02\x00\x00\x00')))
write('inode_decode', 'symlink', 1, inode(0o120777, 6, 0, symlen=6, sym=b'target'))
xb = bytearray(4096)
ents = xent(1, b'big', b'v' * 300) + xent(3, b'selinux', b'ctx')
struct.pack_into('<HHI', xb, 48, 0, 0, len(ents))
xb[64:64 + len(ents)] = ents
write('inode_decode', 'xattr-block', 2, bytes(xb))
sb = bytearray(4096)
struct.pack_into('<H', sb, 48, 4)
sb[64:68] = b'tail'
write('inode_decode', 'symlink-block', 4 + (4 << 3), bytes(sb))
