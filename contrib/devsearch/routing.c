/*
 * routing.c — which shard a document lives in (devsearch).
 *
 * Owns the shard-routing part of store.h: the routing hash OpenSearch and
 * Elasticsearch use (Murmur3 over the UTF-16 code units of the routing value or
 * the id), routing partitions of number_of_routing_shards, the routing value an
 * alias imposes, and whether an index requires one.  Invariant: the same id and
 * routing always give the same shard, so a GET or DELETE with another routing
 * misses the document exactly as on a real cluster.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devsearch.h"
#include "store.h"

static inline uint32_t
rotl32(uint32_t x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/* MurmurHash3 x86 32-bit, seed 0 (Austin Appleby's public-domain algorithm) */
static uint32_t
murmur3_32(const uint8_t *p, size_t len)
{
	const uint32_t c1 = 0xcc9e2d51,
				c2 = 0x1b873593;
	uint32_t	h = 0,
				k;
	size_t		i,
				nblocks = len / 4;

	for (i = 0; i < nblocks; i++)
	{
		k = (uint32_t) p[4 * i] | (uint32_t) p[4 * i + 1] << 8 |
			(uint32_t) p[4 * i + 2] << 16 | (uint32_t) p[4 * i + 3] << 24;
		k *= c1;
		k = rotl32(k, 15);
		k *= c2;
		h ^= k;
		h = rotl32(h, 13);
		h = h * 5 + 0xe6546b64;
	}
	k = 0;
	p += nblocks * 4;
	switch (len & 3)
	{
		case 3:
			k ^= (uint32_t) p[2] << 16;
			/* fall through */
		case 2:
			k ^= (uint32_t) p[1] << 8;
			/* fall through */
		case 1:
			k ^= p[0];
			k *= c1;
			k = rotl32(k, 15);
			k *= c2;
			h ^= k;
	}
	h ^= (uint32_t) len;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/* append one UTF-16 code unit, little endian */
static size_t
put_u16(uint8_t *out, size_t o, uint32_t u)
{
	out[o] = (uint8_t) (u & 0xff);
	out[o + 1] = (uint8_t) (u >> 8);
	return o + 2;
}

/*
 * The hash of a Java String: its UTF-16 code units as little-endian byte
 * pairs.  Invalid UTF-8 becomes U+FFFD, as Java's decoder does.
 */
uint32_t
routing_hash(const char *s, size_t len)
{
	uint8_t		stackbuf[1024];
	uint8_t    *buf = len * 2 <= sizeof(stackbuf) ? stackbuf : malloc(len * 2);
	const unsigned char *p = (const unsigned char *) s,
			   *end = p + len;
	size_t		o = 0;
	uint32_t	h;

	if (buf == NULL)
		abort();
	while (p < end)
	{
		uint32_t	cp;
		int			n,
					i;

		if (*p < 0x80)
		{
			o = put_u16(buf, o, *p++);
			continue;
		}
		if ((*p & 0xe0) == 0xc0)
			n = 1, cp = *p & 0x1f;
		else if ((*p & 0xf0) == 0xe0)
			n = 2, cp = *p & 0x0f;
		else if ((*p & 0xf8) == 0xf0)
			n = 3, cp = *p & 0x07;
		else
		{
			o = put_u16(buf, o, 0xfffd);
			p++;
			continue;
		}
		if (end - p <= n)
			n = -1;
		for (i = 1; n > 0 && i <= n; i++)
		{
			if ((p[i] & 0xc0) != 0x80)
				n = -1;
			else
				cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (n < 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		{
			o = put_u16(buf, o, 0xfffd);
			p++;
			continue;
		}
		p += n + 1;
		if (cp >= 0x10000)
		{
			cp -= 0x10000;
			o = put_u16(buf, o, 0xd800 + (cp >> 10));
			o = put_u16(buf, o, 0xdc00 + (cp & 0x3ff));
		}
		else
			o = put_u16(buf, o, cp);
	}
	h = murmur3_32(buf, o);
	if (buf != stackbuf)
		free(buf);
	return h;
}

bool
index_routing_required(const Index *ix)
{
	json_t	   *r = json_object_get(ix->mappings, "_routing");

	return json_is_true(json_object_get(r, "required"));
}

int
index_resolve_routing(const Index *ix, const char *name, const char *given,
					  const char *id, size_t id_len, const char **out, EsError *err)
{
	*out = given;
	if (name && strcmp(name, ix->name) != 0)
	{
		Alias	   *a = index_find_alias((Index *) ix, name);
		const char *ir = a ? json_string_value(json_object_get(a->props, "index_routing")) : NULL;

		if (ir)
		{
			if (given && strcmp(given, ir) != 0)
			{
				es_error_illegal_argument(err,
										  "Alias [%s] has index routing associated with it [%s], and was provided with routing value [%s], rejecting operation",
										  name, ir, given);
				return -1;
			}
			*out = ir;
		}
	}
	if (*out == NULL && index_routing_required(ix))
	{
		es_error_set(err, 400, "routing_missing_exception",
					 "routing is required for [%s]/[%.*s]", ix->name,
					 (int) (id_len > 512 ? 512 : id_len), id);
		es_error_meta(err, "index_uuid", ix->uuid);
		es_error_meta(err, "index", ix->name);
		return -1;
	}
	return 0;
}

int
index_shard_for(const Index *ix, const char *routing, const char *id, size_t id_len)
{
	int64_t		nrouting,
				factor,
				h;

	if (ix->number_of_shards <= 1)
		return 0;
	nrouting = ix->routing_num_shards;
	if (nrouting == 0)
	{
		/* MetadataCreateIndexService.calculateNumRoutingShards */
		int			log2shards = 0,
					splits;

		while ((1 << log2shards) < ix->number_of_shards)
			log2shards++;
		splits = 10 - log2shards;
		if (splits < 1)
			splits = 1;
		nrouting = (int64_t) ix->number_of_shards << splits;
	}
	factor = nrouting / ix->number_of_shards;
	h = (int32_t) (routing ? routing_hash(routing, strlen(routing)) : routing_hash(id, id_len));
	h %= nrouting;
	if (h < 0)
		h += nrouting;
	return (int) (h / factor);
}
