/* size_class.c - the size-class tables (generated once, kept as data so
 * the fast path reads .rodata and nothing needs initialising).
 *
 * Classes: 16..128 in steps of 16, then four per power of two
 * (2^k + j*2^(k-2), j = 1..4) up to 1 MiB: at most 20% of a block is
 * rounding waste above 128 bytes, 15/16 below.  size_class_units is the
 * slab size in 64 KiB units: one unit up to 2 KiB (at least 32 blocks),
 * then enough units for about 32 blocks up to 16 KiB (2, 4 and 8 units:
 * a slab of a handful of blocks sends its thread back to the slow path
 * every handful of allocations), the fewest units for 4 blocks up to
 * 64 KiB (a long run of free units is harder to find, and a slab of
 * many such blocks holds much memory for one live block), enough units
 * for 8 blocks up to 128 KiB, and above that the unit count that leaves
 * no tail unused.  Blocks are carved a few at a time and an unused tail
 * is never touched, so a big slab costs address space, not memory. */
#include "internal.h"

#include "size_class.h"

const uint32_t size_class_bytes[SIZE_CLASS_COUNT] = {
    16,     32,     48,     64,     80,     96,     112,    128,    160,    192,    224,    256,
    320,    384,    448,    512,    640,    768,    896,    1024,   1280,   1536,   1792,   2048,
    2560,   3072,   3584,   4096,   5120,   6144,   7168,   8192,   10240,  12288,  14336,  16384,
    20480,  24576,  28672,  32768,  40960,  49152,  57344,  65536,  81920,  98304,  114688, 131072,
    163840, 196608, 229376, 262144, 327680, 393216, 458752, 524288, 655360, 786432, 917504, 1048576,
};

const uint8_t size_class_units[SIZE_CLASS_COUNT] = {
    1, 1, 1, 1, 1,  1,  1,  1,  1, 1, 1, 1, 1, 1, 1, 1, 1,  1,  1,  1,
    1, 1, 1, 1, 2,  2,  2,  2,  4, 4, 4, 4, 8, 8, 8, 8, 2,  2,  2,  2,
    3, 3, 4, 4, 10, 12, 14, 16, 5, 3, 7, 4, 5, 6, 7, 8, 10, 12, 14, 16,
};

const uint8_t size_class_tiny_index[SIZE_CLASS_TINY_MAX / MIN_ALIGN + 1] = {
    0,  0,  1,  2,  3,  4,  5,  6,  7,  8,  8,  9,  9,  10, 10, 11, 11, 12, 12, 12, 12, 13,
    13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15, 16, 16, 16, 16, 16, 16, 16, 16, 17, 17, 17,
    17, 17, 17, 17, 17, 18, 18, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19, 19,
};
