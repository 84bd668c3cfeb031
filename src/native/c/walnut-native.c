/*
 * walnut's own native addon: the byte loops the interpreter (--jitless) is too slow for, written to fill buffers
 * the caller owns, so nothing is allocated per call (LZ4 blocks both ways, xxHash32, PostgreSQL's data page
 * checksum), and two process memory controls glibc and the kernel offer only to native code.
 *
 * Built by scripts/build-native.mjs with the system C compiler against Node's N-API headers; shipped in the SEA as
 * an asset like the other addons. Single-threaded use only (the hash table is static), as walnut calls it from the
 * JavaScript thread.
 */

#include <node_api.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- LZ4 block format (https://github.com/lz4/lz4/blob/dev/doc/lz4_Block_format.md) ---------------------------- */

#define MIN_MATCH 4
#define LAST_LITERALS 5  /* the last 5 bytes are always literals */
#define MATCH_FIND_LIMIT 12 /* the last match starts at least 12 bytes before the end */
#define MAX_OFFSET 65535
/*
 * 2^13 match positions (32 KiB, within L1) hashed from 5 bytes. Measured on pgbench WAL segments and on binaries
 * (docs/PERFORMANCE.md, session 5): against 2^16 positions from 4 bytes (256 KiB) it compresses 40-60% faster for
 * 4-7% more output, still 7-10% less than `lz4 -1`.
 */
#define HASH_BITS 13
#define SKIP_TRIGGER 6 /* after 2^6 misses in a row, step further: incompressible data goes by quickly */

static uint32_t positions[1u << HASH_BITS];

static uint32_t read_u32(const uint8_t *at) {
  uint32_t value;
  memcpy(&value, at, sizeof value);
  return value;
}

static uint64_t read_u64(const uint8_t *at) {
  uint64_t value;
  memcpy(&value, at, sizeof value);
  return value;
}

/* The table slot of the 5 bytes at `at` (read as 8; callers stay 12 bytes before the end). */
static uint32_t hash_at(const uint8_t *at) { return (uint32_t)(((read_u64(at) << 24) * 889523592379ull) >> (64 - HASH_BITS)); }

/* A length field's continuation bytes (255, 255, ..., rest) after a token nibble of 15. */
static uint8_t *write_length(uint8_t *out, size_t length) {
  while (length >= 255) {
    *out++ = 255;
    length -= 255;
  }
  *out++ = (uint8_t)length;
  return out;
}

/* Worst case bytes for `literals` literals and a token: token, length bytes, the literals. */
static size_t literal_bound(size_t literals) { return 1 + (literals >= 15 ? (literals - 15) / 255 + 1 : 0) + literals; }

/*
 * Compresses src[0..length) into out[0..capacity) as one LZ4 block; returns the compressed size, or 0 when it does
 * not fit (the caller then stores the block raw, as the frame format allows).
 */
static size_t compress_block(const uint8_t *src, size_t length, uint8_t *out, size_t capacity) {
  const uint8_t *const end = src + length;
  const uint8_t *anchor = src;
  uint8_t *op = out;
  uint8_t *const out_end = out + capacity;

  if (length > MATCH_FIND_LIMIT) {
    const uint8_t *const find_limit = end - MATCH_FIND_LIMIT;
    const uint8_t *const match_limit = end - LAST_LITERALS;
    const uint8_t *ip = src + 1;
    unsigned misses = 1u << SKIP_TRIGGER;
    memset(positions, 0, sizeof positions);
    while (ip < find_limit) {
      uint32_t hash = hash_at(ip);
      const uint8_t *candidate = src + positions[hash];
      positions[hash] = (uint32_t)(ip - src);
      if (candidate >= ip || ip - candidate > MAX_OFFSET || read_u32(candidate) != read_u32(ip)) {
        ip += misses++ >> SKIP_TRIGGER;
        continue;
      }
      misses = 1u << SKIP_TRIGGER;
      while (ip > anchor && candidate > src && ip[-1] == candidate[-1]) {
        ip--;
        candidate--;
      }
      const uint8_t *match_end = ip + MIN_MATCH;
      const uint8_t *candidate_end = candidate + MIN_MATCH;
      /* Eight bytes at a time while they agree; the first differing byte from the lowest set bit (little endian). */
      while (match_end + 8 <= match_limit) {
        uint64_t difference = read_u64(match_end) ^ read_u64(candidate_end);
        if (difference != 0) {
          match_end += __builtin_ctzll(difference) >> 3;
          goto match_found;
        }
        match_end += 8;
        candidate_end += 8;
      }
      while (match_end < match_limit && *match_end == *candidate_end) {
        match_end++;
        candidate_end++;
      }
    match_found:;
      size_t literals = (size_t)(ip - anchor);
      size_t extra = (size_t)(match_end - ip) - MIN_MATCH;
      size_t need = literal_bound(literals) + 2 + (extra >= 15 ? (extra - 15) / 255 + 1 : 0);
      if ((size_t)(out_end - op) < need) return 0;
      uint8_t *token = op++;
      if (literals >= 15) {
        *token = 15 << 4;
        op = write_length(op, literals - 15);
      } else {
        *token = (uint8_t)(literals << 4);
      }
      memcpy(op, anchor, literals);
      op += literals;
      uint32_t offset = (uint32_t)(ip - candidate);
      *op++ = (uint8_t)(offset & 0xff);
      *op++ = (uint8_t)(offset >> 8);
      if (extra >= 15) {
        *token |= 15;
        op = write_length(op, extra - 15);
      } else {
        *token |= (uint8_t)extra;
      }
      ip = match_end;
      anchor = ip;
      if (ip < find_limit) positions[hash_at(ip - 2)] = (uint32_t)(ip - 2 - src);
    }
  }
  size_t literals = (size_t)(end - anchor);
  if ((size_t)(out_end - op) < literal_bound(literals)) return 0;
  if (literals >= 15) {
    *op++ = 15 << 4;
    op = write_length(op, literals - 15);
  } else {
    *op++ = (uint8_t)(literals << 4);
  }
  memcpy(op, anchor, literals);
  op += literals;
  return (size_t)(op - out);
}

/* ---- PostgreSQL's page checksum (storage/checksum_impl.h: FNV-1a-like, 32 lanes, block number mixed in) ------- */

#define CHECKSUM_LANES 32
#define FNV_PRIME 16777619u

static const uint32_t lane_seeds[CHECKSUM_LANES] = {
    0x5b1f36e9, 0xb8525960, 0x02ab50aa, 0x1de66d2a, 0x79ff467a, 0x9bb9f8a3, 0x217e7cd2, 0x83e13d2c,
    0xf8d4474f, 0xe39eb970, 0x42c6ae16, 0x993216fa, 0x7b093b5d, 0x98daff3c, 0xf718902a, 0x0b1c9cdb,
    0xe58f764b, 0x187636bc, 0x5d7b3bb1, 0xe73de7de, 0x92bec979, 0xcca6c0b2, 0x304a0979, 0x85aa43d4,
    0x783125bb, 0x6ca8eaa2, 0xe407eac6, 0x4b5cfc3e, 0x9fbf8c76, 0x15ca20be, 0xf2ca9fd3, 0x959bd756,
};

#define MIX(lane, word)                          \
  do {                                           \
    uint32_t mixed_ = (lane) ^ (word);           \
    (lane) = mixed_ * FNV_PRIME ^ (mixed_ >> 17); \
  } while (0)

/* pd_checksum of a page of `size` bytes (a multiple of 128); the stored checksum field counts as zero. */
static uint16_t page_checksum(const uint8_t *page, size_t size, uint32_t block_number) {
  uint32_t lanes[CHECKSUM_LANES];
  memcpy(lanes, lane_seeds, sizeof lanes);
  size_t rows = size / (sizeof(uint32_t) * CHECKSUM_LANES);
  for (size_t row = 0; row < rows; row++) {
    for (int lane = 0; lane < CHECKSUM_LANES; lane++) {
      uint32_t word = read_u32(page + (row * CHECKSUM_LANES + (size_t)lane) * sizeof(uint32_t));
      if (row == 0 && lane == 2) word &= 0xffff0000u; /* pd_checksum: bytes 8-9, the low half on little endian */
      MIX(lanes[lane], word);
    }
  }
  for (int round = 0; round < 2; round++)
    for (int lane = 0; lane < CHECKSUM_LANES; lane++) MIX(lanes[lane], 0);
  uint32_t result = 0;
  for (int lane = 0; lane < CHECKSUM_LANES; lane++) result ^= lanes[lane];
  result ^= block_number;
  return (uint16_t)((result % 65535) + 1);
}

/* ---- N-API glue --------------------------------------------------------------------------------------------- */

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static int typed_array_bytes(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return 0;
  napi_typedarray_type type;
  size_t count;
  void *raw;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, value, &type, &count, &raw, &buffer, &offset) != napi_ok) return 0;
  if (type != napi_uint8_array) return 0;
  *data = (uint8_t *)raw;
  *length = count;
  return 1;
}

/* lz4CompressBlock(source: Uint8Array, destination: Uint8Array): number — 0 when it does not fit. */
static napi_value lz4_compress_block(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return throw_error(env, "lz4CompressBlock(source, destination): two Uint8Arrays expected");
  uint8_t *source, *destination;
  size_t source_length, capacity;
  if (!typed_array_bytes(env, argv[0], &source, &source_length) || !typed_array_bytes(env, argv[1], &destination, &capacity)) {
    return throw_error(env, "lz4CompressBlock(source, destination): two Uint8Arrays expected");
  }
  if (source_length > 0x7e000000u) return throw_error(env, "lz4CompressBlock: block too large");
  napi_value result;
  napi_create_uint32(env, (uint32_t)compress_block(source, source_length, destination, capacity), &result);
  return result;
}

/* pageChecksum(page: Uint8Array, blockNumber: number): number — over the whole array (one page). */
static napi_value page_checksum_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return throw_error(env, "pageChecksum(page, blockNumber): arguments expected");
  uint8_t *page;
  size_t size;
  if (!typed_array_bytes(env, argv[0], &page, &size) || size == 0 || size % (sizeof(uint32_t) * CHECKSUM_LANES) != 0) {
    return throw_error(env, "pageChecksum(page, blockNumber): page must be a Uint8Array of a multiple of 128 bytes");
  }
  uint32_t block_number;
  if (napi_get_value_uint32(env, argv[1], &block_number) != napi_ok) return throw_error(env, "pageChecksum: blockNumber must be a number");
  napi_value result;
  napi_create_uint32(env, page_checksum(page, size, block_number), &result);
  return result;
}

/*
 * LZ4 block decoding into a buffer the caller owns. The destination's first `prefix` bytes are history (the end of
 * the previous block of a linked frame): matches may reach back into them, never before them. Every read and write is
 * bounds-checked, so corrupt or hostile input gives -1, never memory outside the two buffers.
 */
static int64_t decompress_block(const uint8_t *source, size_t source_length, uint8_t *destination, size_t prefix, size_t capacity) {
  const uint8_t *in = source;
  const uint8_t *const in_end = source + source_length;
  uint8_t *out = destination + prefix;
  uint8_t *const out_end = destination + capacity;
  if (source_length == 0) return -1;
  for (;;) {
    if (in >= in_end) return -1;
    const unsigned token = *in++;
    size_t literals = token >> 4;
    if (literals == 15) {
      unsigned byte;
      do {
        if (in >= in_end) return -1;
        byte = *in++;
        literals += byte;
      } while (byte == 255);
    }
    if ((size_t)(in_end - in) < literals || (size_t)(out_end - out) < literals) return -1;
    if (literals <= 16 && in_end - in >= 16 && out_end - out >= 16) {
      memcpy(out, in, 16); /* the usual short run: one fixed copy, the bytes past it are overwritten later */
    } else {
      memcpy(out, in, literals);
    }
    out += literals;
    in += literals;
    if (in == in_end) break; /* the last sequence is literals only */
    if (in_end - in < 2) return -1;
    const size_t offset = (size_t)in[0] | ((size_t)in[1] << 8);
    in += 2;
    if (offset == 0 || offset > (size_t)(out - destination)) return -1;
    size_t match_length = token & 15;
    if (match_length == 15) {
      unsigned byte;
      do {
        if (in >= in_end) return -1;
        byte = *in++;
        match_length += byte;
      } while (byte == 255);
    }
    match_length += MIN_MATCH;
    if ((size_t)(out_end - out) < match_length) return -1;
    const uint8_t *const pattern = out - offset;
    if (offset >= 16 && (size_t)(out_end - out) >= match_length + 16) {
      /* 16 bytes at a time, possibly past the match (room was checked): each copy reads only bytes written before. */
      uint8_t *const stop = out + match_length;
      const uint8_t *from = pattern;
      do {
        memcpy(out, from, 16);
        out += 16;
        from += 16;
      } while (out < stop);
      out = stop;
      continue;
    }
    /* Copies never overlap: each takes at most the distance already written, which doubles every round. */
    while (match_length > 0) {
      size_t step = (size_t)(out - pattern);
      if (step > match_length) step = match_length;
      memcpy(out, pattern, step);
      out += step;
      match_length -= step;
    }
  }
  return (int64_t)(out - destination - prefix);
}

/* lz4DecompressBlock(source, destination, prefix): decoded length written after `prefix`, or -1 (corrupt or too long). */
static napi_value lz4_decompress_block(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) return throw_error(env, "lz4DecompressBlock(source, destination, prefix): three arguments expected");
  uint8_t *source, *destination;
  size_t source_length, capacity;
  uint32_t prefix;
  if (!typed_array_bytes(env, argv[0], &source, &source_length) || !typed_array_bytes(env, argv[1], &destination, &capacity) ||
      napi_get_value_uint32(env, argv[2], &prefix) != napi_ok || prefix > capacity) {
    return throw_error(env, "lz4DecompressBlock(source, destination, prefix): two Uint8Arrays and a prefix within the destination expected");
  }
  napi_value result;
  napi_create_double(env, (double)decompress_block(source, source_length, destination, prefix, capacity), &result);
  return result;
}

/* ---- xxHash32 (https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md), the LZ4 frame checksum --------- */

#define XXH_PRIME1 0x9E3779B1u
#define XXH_PRIME2 0x85EBCA77u
#define XXH_PRIME3 0xC2B2AE3Du
#define XXH_PRIME4 0x27D4EB2Fu
#define XXH_PRIME5 0x165667B1u

/* The streaming state lives in a Uint8Array the caller owns (XXH32_STATE_SIZE bytes), so nothing is allocated here. */
typedef struct {
  uint64_t total;
  uint32_t lanes[4];
  uint32_t seed;
  uint32_t buffered;
  uint8_t buffer[16];
} xxh32_state;
#define XXH32_STATE_SIZE 48
_Static_assert(sizeof(xxh32_state) <= XXH32_STATE_SIZE, "xxh32 state size");

static uint32_t rotl32(uint32_t value, int bits) { return (value << bits) | (value >> (32 - bits)); }
static uint32_t xxh32_round(uint32_t lane, uint32_t input) { return rotl32(lane + input * XXH_PRIME2, 13) * XXH_PRIME1; }

static void xxh32_reset(xxh32_state *state, uint32_t seed) {
  memset(state, 0, sizeof *state);
  state->seed = seed;
  state->lanes[0] = seed + XXH_PRIME1 + XXH_PRIME2;
  state->lanes[1] = seed + XXH_PRIME2;
  state->lanes[2] = seed;
  state->lanes[3] = seed - XXH_PRIME1;
}

/*
 * Scalar on purpose: the four lanes fit one SSE register, but SSE2 has no 32-bit multiply and GCC's vectorized loop
 * emulated it with a chain of shifts at ~1.6 GB/s; scalar imul runs several times faster.
 */
__attribute__((optimize("no-tree-vectorize"))) static void xxh32_stripes(xxh32_state *state, const uint8_t *data, size_t stripes) {
  uint32_t a = state->lanes[0], b = state->lanes[1], c = state->lanes[2], d = state->lanes[3];
  for (size_t i = 0; i < stripes; i++, data += 16) {
    a = xxh32_round(a, read_u32(data));
    b = xxh32_round(b, read_u32(data + 4));
    c = xxh32_round(c, read_u32(data + 8));
    d = xxh32_round(d, read_u32(data + 12));
  }
  state->lanes[0] = a, state->lanes[1] = b, state->lanes[2] = c, state->lanes[3] = d;
}

static void xxh32_update(xxh32_state *state, const uint8_t *data, size_t length) {
  state->total += length;
  if (state->buffered > 0) {
    size_t take = 16 - state->buffered;
    if (take > length) take = length;
    memcpy(state->buffer + state->buffered, data, take);
    state->buffered += (uint32_t)take;
    data += take;
    length -= take;
    if (state->buffered < 16) return;
    xxh32_stripes(state, state->buffer, 1);
    state->buffered = 0;
  }
  xxh32_stripes(state, data, length / 16);
  data += length / 16 * 16;
  length %= 16;
  memcpy(state->buffer, data, length);
  state->buffered = (uint32_t)length;
}

static uint32_t xxh32_digest(const xxh32_state *state) {
  uint32_t hash = state->total >= 16
                      ? rotl32(state->lanes[0], 1) + rotl32(state->lanes[1], 7) + rotl32(state->lanes[2], 12) + rotl32(state->lanes[3], 18)
                      : state->seed + XXH_PRIME5;
  hash += (uint32_t)state->total;
  const uint8_t *at = state->buffer;
  uint32_t left = state->buffered;
  for (; left >= 4; left -= 4, at += 4) hash = rotl32(hash + read_u32(at) * XXH_PRIME3, 17) * XXH_PRIME4;
  for (; left > 0; left--, at++) hash = rotl32(hash + *at * XXH_PRIME5, 11) * XXH_PRIME1;
  hash ^= hash >> 15;
  hash *= XXH_PRIME2;
  hash ^= hash >> 13;
  hash *= XXH_PRIME3;
  hash ^= hash >> 16;
  return hash;
}

static int state_argument(napi_env env, napi_value value, xxh32_state *state) {
  uint8_t *bytes;
  size_t length;
  if (!typed_array_bytes(env, value, &bytes, &length) || length != XXH32_STATE_SIZE) return 0;
  memcpy(state, bytes, sizeof *state);
  return 1;
}

/* xxh32Reset(state, seed), xxh32Update(state, data), xxh32Digest(state): streaming over a caller-owned state. */
static napi_value xxh32_reset_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint8_t *bytes;
  size_t length;
  uint32_t seed = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !typed_array_bytes(env, argv[0], &bytes, &length) ||
      length != XXH32_STATE_SIZE || (argc > 1 && napi_get_value_uint32(env, argv[1], &seed) != napi_ok)) {
    return throw_error(env, "xxh32Reset(state, seed): a 48-byte Uint8Array state expected");
  }
  xxh32_state state;
  xxh32_reset(&state, seed);
  memcpy(bytes, &state, sizeof state);
  return NULL;
}

static napi_value xxh32_update_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint8_t *bytes, *data;
  size_t length, data_length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || !typed_array_bytes(env, argv[0], &bytes, &length) ||
      length != XXH32_STATE_SIZE || !typed_array_bytes(env, argv[1], &data, &data_length)) {
    return throw_error(env, "xxh32Update(state, data): a 48-byte state and a Uint8Array expected");
  }
  xxh32_state state;
  memcpy(&state, bytes, sizeof state);
  xxh32_update(&state, data, data_length);
  memcpy(bytes, &state, sizeof state);
  return NULL;
}

static napi_value xxh32_digest_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  xxh32_state state;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !state_argument(env, argv[0], &state)) {
    return throw_error(env, "xxh32Digest(state): a 48-byte Uint8Array state expected");
  }
  napi_value result;
  napi_create_uint32(env, xxh32_digest(&state), &result);
  return result;
}

/* xxh32(data, seed): the one-shot hash. */
static napi_value xxh32_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint8_t *data;
  size_t length;
  uint32_t seed = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !typed_array_bytes(env, argv[0], &data, &length) ||
      (argc > 1 && napi_get_value_uint32(env, argv[1], &seed) != napi_ok)) {
    return throw_error(env, "xxh32(data, seed): a Uint8Array expected");
  }
  xxh32_state state;
  xxh32_reset(&state, seed);
  xxh32_update(&state, data, length);
  napi_value result;
  napi_create_uint32(env, xxh32_digest(&state), &result);
  return result;
}

/* ---- process memory ------------------------------------------------------------------------------------------ */

/*
 * limitMallocArenas(count): glibc gives every thread that allocates its own arena (64 MiB of address space each,
 * 128 MiB at the moment it is made); threads started after this call share `count` arenas.
 */
static napi_value limit_malloc_arenas(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t count = 1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_uint32(env, argv[0], &count) != napi_ok || count == 0) {
    return throw_error(env, "limitMallocArenas(count): a positive count expected");
  }
  napi_value result;
  napi_get_boolean(env, mallopt(M_ARENA_MAX, (int)count) == 1, &result);
  return result;
}

/*
 * hugePageBuffers(count, size): `count` ArrayBuffers of `size` bytes each, cut from one mapping aligned to 2 MiB
 * and marked MADV_HUGEPAGE, so the kernel can back them with huge pages: a first write faults in 2 MiB at once
 * instead of 4 KiB (measured on this project's VMs: 16 MiB of fresh 4 KiB pages costs 70-90 ms of faults, of huge
 * pages 1-20 ms). For buffers that live long and are filled whole (chunk pools, codec blocks). The mapping is
 * unmapped when the last of the buffers is collected. Where huge pages are off, they are ordinary pages.
 */
#define HUGE_PAGE (2u << 20)
typedef struct {
  void *base;
  size_t length;
  int views;
} huge_slab;

static void release_slab_view(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  huge_slab *slab = hint;
  if (__atomic_sub_fetch(&slab->views, 1, __ATOMIC_ACQ_REL) == 0) {
    munmap(slab->base, slab->length);
    free(slab);
  }
}

static napi_value huge_page_buffers(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint32_t count = 0, size = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || napi_get_value_uint32(env, argv[0], &count) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &size) != napi_ok || count == 0 || size == 0 || (uint64_t)count * size > (1ull << 31)) {
    return throw_error(env, "hugePageBuffers(count, size): a positive count and size (at most 2 GiB in all) expected");
  }
  size_t length = ((size_t)count * size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
  /* Map one huge page more than needed and trim to an aligned start, so every 2 MiB of the buffers can be huge. */
  uint8_t *mapped = mmap(NULL, length + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) return throw_error(env, "hugePageBuffers: out of memory");
  uint8_t *base = (uint8_t *)(((uintptr_t)mapped + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
  if (base > mapped) munmap(mapped, (size_t)(base - mapped));
  if (mapped + length + HUGE_PAGE > base + length) munmap(base + length, (size_t)(mapped + length + HUGE_PAGE - (base + length)));
  madvise(base, length, MADV_HUGEPAGE);
  huge_slab *slab = malloc(sizeof *slab);
  napi_value result;
  if (slab == NULL || napi_create_array_with_length(env, count, &result) != napi_ok) {
    free(slab);
    munmap(base, length);
    return throw_error(env, "hugePageBuffers: out of memory");
  }
  slab->base = base;
  slab->length = length;
  slab->views = (int)count;
  for (uint32_t i = 0; i < count; i++) {
    napi_value buffer;
    if (napi_create_external_arraybuffer(env, base + (size_t)i * size, size, release_slab_view, slab, &buffer) != napi_ok) {
      /* The views made so far are released by their finalizers; the ones never made are released here. */
      if (__atomic_sub_fetch(&slab->views, (int)(count - i), __ATOMIC_ACQ_REL) == 0) {
        munmap(base, length);
        free(slab);
      }
      return throw_error(env, "hugePageBuffers: this Node.js does not allow external buffers");
    }
    napi_set_element(env, result, i, buffer);
  }
  return result;
}

/*
 * releaseExecutablePages(): drops this process's mappings of its own executable's read-only pages (code, constant
 * data, the SEA blob) that hold no private copy, so what only start-up touched (V8's snapshot, the bundled script,
 * the code cache) no longer counts in its resident set. Pages touched again come back from the page cache, a minor
 * fault each. Mappings with private (copy-on-write) pages, such as relocated data, are left alone. Returns the bytes
 * of address range released.
 */
#define MAX_RELEASED_RANGES 64
static napi_value release_executable_pages(napi_env env, napi_callback_info info) {
  (void)info;
  char exe[4096];
  ssize_t exe_length = readlink("/proc/self/exe", exe, sizeof exe - 1);
  double released = 0;
  napi_value result;
  FILE *smaps = exe_length > 0 ? fopen("/proc/self/smaps", "re") : NULL;
  if (smaps == NULL) {
    napi_create_double(env, 0, &result);
    return result;
  }
  exe[exe_length] = 0;
  uintptr_t starts[MAX_RELEASED_RANGES], ends[MAX_RELEASED_RANGES];
  int count = 0, candidate = 0;
  uintptr_t start = 0, end = 0;
  char line[4608];
  while (fgets(line, sizeof line, smaps) != NULL) {
    unsigned long from, to, anonymous;
    char perms[8];
    int path_at = 0;
    if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &from, &to, perms, &path_at) == 3 && path_at > 0) {
      char *path = line + path_at;
      path[strcspn(path, "\n")] = 0;
      candidate = perms[1] == '-' && perms[3] == 'p' && strcmp(path, exe) == 0;
      start = from;
      end = to;
    } else if (candidate && sscanf(line, "Anonymous: %lu kB", &anonymous) == 1) {
      if (anonymous == 0 && count < MAX_RELEASED_RANGES) {
        starts[count] = start;
        ends[count] = end;
        count++;
      }
      candidate = 0;
    }
  }
  fclose(smaps);
  for (int i = 0; i < count; i++) {
    if (madvise((void *)starts[i], ends[i] - starts[i], MADV_DONTNEED) == 0) released += (double)(ends[i] - starts[i]);
  }
  napi_create_double(env, released, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"lz4CompressBlock", NULL, lz4_compress_block, NULL, NULL, NULL, napi_default, NULL},
      {"pageChecksum", NULL, page_checksum_js, NULL, NULL, NULL, napi_default, NULL},
      {"lz4DecompressBlock", NULL, lz4_decompress_block, NULL, NULL, NULL, napi_default, NULL},
      {"xxh32", NULL, xxh32_js, NULL, NULL, NULL, napi_default, NULL},
      {"xxh32Reset", NULL, xxh32_reset_js, NULL, NULL, NULL, napi_default, NULL},
      {"xxh32Update", NULL, xxh32_update_js, NULL, NULL, NULL, napi_default, NULL},
      {"xxh32Digest", NULL, xxh32_digest_js, NULL, NULL, NULL, napi_default, NULL},
      {"limitMallocArenas", NULL, limit_malloc_arenas, NULL, NULL, NULL, napi_default, NULL},
      {"hugePageBuffers", NULL, huge_page_buffers, NULL, NULL, NULL, napi_default, NULL},
      {"releaseExecutablePages", NULL, release_executable_pages, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
