/*
 * walnut's own native addon: the two byte loops the interpreter (--jitless) is too slow for, written to fill buffers
 * the caller owns, so nothing is allocated per call: an LZ4 block compressor and PostgreSQL's data page checksum.
 *
 * Built by scripts/build-native.mjs with the system C compiler against Node's N-API headers; shipped in the SEA as
 * an asset like the other addons. Single-threaded use only (the hash table is static), as walnut calls it from the
 * JavaScript thread.
 */

#include <node_api.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- LZ4 block format (https://github.com/lz4/lz4/blob/dev/doc/lz4_Block_format.md) ---------------------------- */

#define MIN_MATCH 4
#define LAST_LITERALS 5  /* the last 5 bytes are always literals */
#define MATCH_FIND_LIMIT 12 /* the last match starts at least 12 bytes before the end */
#define MAX_OFFSET 65535
#define HASH_BITS 16
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

static uint32_t hash_u32(uint32_t value) { return (value * 2654435761u) >> (32 - HASH_BITS); }

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
      uint32_t hash = hash_u32(read_u32(ip));
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
      if (ip < find_limit) positions[hash_u32(read_u32(ip - 2))] = (uint32_t)(ip - 2 - src);
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

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"lz4CompressBlock", NULL, lz4_compress_block, NULL, NULL, NULL, napi_default, NULL},
      {"pageChecksum", NULL, page_checksum_js, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
