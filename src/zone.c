/* SPDX-License-Identifier: MIT
 * zone.c -- the service.local snapshot that queries are answered from.
 * Owns:    compiling a Consul service into wire-ready instances and sets
 *          (struct zsvc), indexing compiled services into one immutable
 *          snapshot (struct zone), publishing snapshots with urcu-qsbr, and
 *          name lookup.
 * Borrows: svc_record arrays from watch.c, only during zone_svc_compile().
 * Never:   I/O, JSON, c-ares, curl. A published snapshot is never modified.
 * Start reading at zone_lookup(), then zone_svc_compile().
 *
 * Incremental by construction: a change to one service recompiles that
 * service only; zone_new() then re-indexes pointers to the compiled services
 * (no record is re-encoded), so a publish costs one service's work plus an
 * index pass over the names.
 *
 * Diagnostics (the CHAOS name <svc>.services.srvshim) are compiled here
 * too: one ready TXT record per instance Consul reported, served or not,
 * with the reason, so answering them only copies bytes. */
#include "config_feat.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <urcu-qsbr.h>

#include "log.h"
#include "util.h"
#include "wire.h"
#include "zone.h"

#define TXT_MAX_PER_INSTANCE 4096 /* RDATA bytes of one instance's meta */

struct ztag {
	uint8_t label[WIRE_LABEL_MAX + 1]; /* length byte + lower-case label */
	struct zset set;
	uint8_t *txt;
	size_t txt_len;
};

/* A name a compiled service contributes to the index, relative to the apex. */
struct zname {
	const uint8_t *rel; /* wire form; in the service's name_pool (or, for
			     * an empty non-terminal, in its struct zename) */
	uint8_t rel_len;
	uint8_t kind;	/* enum zone_kind */
	int32_t tag;	/* index into tags, -1 for the whole service */
};

struct zsvc {
	unsigned refs; /* touched by the watch thread only */
	char *name;
	uint8_t label[WIRE_LABEL_MAX + 1];
	uint32_t ttl_s;
	struct zinst *inst;
	uint32_t inst_count;   /* served instances */
	uint32_t total_count;  /* instances Consul reported */
	uint32_t addr_count;   /* distinct addresses among served instances */
	struct zset all;
	struct ztag *tags;
	size_t tag_count;
	uint8_t *txt;
	size_t txt_len;
	uint8_t *diag;	       /* diagnostic TXT records (zone_svc_diag()) */
	size_t diag_len;
	uint32_t *pool;	       /* backing store of every zset's index arrays */
	struct zname *names;
	uint8_t *name_pool;    /* the names' bytes, back to back */
	size_t name_pool_used;
	size_t name_count;
};

/* The index: names -> what answers them. It is split into pages of
 * PAGE_SLOTS open-addressing slots (linear probing within the page); the
 * high bits of a name's hash pick the page. Pages are shared between
 * snapshots and copied on write, so a snapshot that differs from the
 * previous one by one service costs that service's pages, not the whole
 * index (zone_new_from()). Each page holds one reference on every object
 * its entries point to (a compiled service, or the shared name of an empty
 * non-terminal), so an object lives as long as any snapshot can reach it.
 *
 * Who frees a shared page: the snapshot that owns it (z->owned[i]), and
 * snapshots derived incrementally form a chain (parent -> child, at most
 * one child each). Freeing a snapshot hands each page it owns to its child
 * when the child still uses it, else frees it. So deriving and freeing
 * walk two pointer arrays and never touch a page that did not change: no
 * per-page reference count to write, which at 10,000 services (8,192
 * pages, one cache miss each) cost more than the change itself. */
#define PAGE_SLOTS 64	   /* a power of two */
#define PAGE_MEAN 16	   /* a full build sizes pages for this many names */
#define PAGE_FILL_MAX 40   /* an incremental insert past this rebuilds */
#define INCR_MAX_CHANGES 64 /* more changed services than this: rebuild */

/* The name of an empty non-terminal (addr, _tcp, _udp, _<tag>). */
struct zename {
	unsigned refs; /* page entries pointing here; watch thread only */
	struct zname name;
	uint8_t rel[WIRE_LABEL_MAX + 2]; /* name.rel points here */
};

struct zent {
	uint32_t hash;	  /* folded name hash; its low bits pick the slot */
	uint32_t name;	  /* service entries: index into svc->names */
	uint32_t users;	  /* ZK_EMPTY: the services implying it (addr: 1) */
	uint8_t kind;	  /* enum zone_kind */
	uint8_t rel_len;
	const void *ref;  /* NULL: a free slot; ZK_EMPTY: struct zename;
			   * else struct zsvc */
};

struct zpage {
	unsigned used;
	struct zent ents[PAGE_SLOTS];
};

struct zone {
	struct zone_cfg cfg;
	uint32_t serial;
	bool synced;
	bool stale;		/* --max-stale passed: answers SERVFAIL */
	struct zsvc **svcs;	/* as given to zone_new*(), for the next diff;
				 * served ones are kept alive by the pages,
				 * the others by collided_refs */
	size_t svc_given;
	size_t names_given;	/* their names and tags, to size the index */
	size_t svc_count;	/* served */
	size_t inst_count;
	size_t collisions;	/* names not indexed because they were taken */
	struct zsvc **collided; /* referenced services that were not served */
	size_t collided_count;
	struct zpage **pages;
	uint8_t *owned;		/* owned[i]: pages[i] is this snapshot's */
	size_t page_mask;	/* page count - 1 (a power of two) */
	struct zone *parent;	/* derived from (and sharing pages with) */
	struct zone *child;	/* derived from this one, at most one */
	bool overflow;		/* an insert found its page too full */
};

static struct zone *zone_cur;

/* ---- configuration ----------------------------------------------------- */

int
zone_cfg_init(struct zone_cfg *c, const char *apex_text)
{
	char text[ZONE_NAME_MAX + 2];
	size_t n = strlen(apex_text);
	int len;

	memset(c, 0, sizeof(*c));
	if (n == 0 || n > ZONE_NAME_MAX)
		return -SRV_EFORMAT;
	memcpy(text, apex_text, n + 1);
	if (n > 1 && text[n - 1] == '.')
		text[--n] = '\0';
	if (strcmp(text, ".") == 0)
		return -SRV_EFORMAT; /* serving the root is not what we are for */
	len = wire_name_from_text(text, c->apex);
	if (len < 0)
		return len;
	/* leave room below the apex for <hex>.addr and service names */
	if (len > ZONE_NAME_MAX - 64)
		return -SRV_ERANGE;
	c->apex_len = (size_t)len;
	for (size_t i = 0; i <= n; i++)
		c->apex_text[i] = (char)ascii_lower((uint8_t)text[i]);
	c->ttl_s = 0;
	c->neg_ttl_s = 5;
	c->weight_scale = 1;
	return 0;
}

/* ---- addresses --------------------------------------------------------- */

static const char hexdig[] = "0123456789abcdef";

size_t
zone_addr_label(int family, const uint8_t *addr, uint8_t *out)
{
	size_t n = family == 4 || family == AF_INET ? 4 : 16;
	out[0] = (uint8_t)(n * 2);
	for (size_t i = 0; i < n; i++) {
		out[1 + 2 * i] = (uint8_t)hexdig[addr[i] >> 4];
		out[2 + 2 * i] = (uint8_t)hexdig[addr[i] & 15];
	}
	return 1 + n * 2;
}

static int
hexval(uint8_t c)
{
	c = ascii_lower(c);
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
zone_addr_decode(const uint8_t *label, size_t len, uint8_t out[16])
{
	if (len != 8 && len != 32)
		return 0;
	for (size_t i = 0; i < len / 2; i++) {
		int hi = hexval(label[2 * i]), lo = hexval(label[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return 0;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return len == 8 ? 4 : 6;
}

/* ---- compiling one service --------------------------------------------- */

/* A label we can serve: 1..63 bytes of printable ASCII without '.', and not
 * starting with '_' (that form is reserved for RFC 2782 names). */
static bool
label_from(const char *s, uint8_t out[WIRE_LABEL_MAX + 1])
{
	size_t n = strlen(s);
	if (n == 0 || n > WIRE_LABEL_MAX || s[0] == '_')
		return false;
	out[0] = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		uint8_t b = (uint8_t)s[i];
		if (b <= 0x20 || b >= 0x7f || b == '.')
			return false;
		out[1 + i] = ascii_lower(b);
	}
	return true;
}

static void
warn_once(const char *what, const char *name)
{
	/* Once per name per process: a bounded list of names already warned. */
	static char seen[64][72];
	static size_t seen_count;
	char key[72];
	snprintf(key, sizeof(key), "%s/%s", what, name);
	for (size_t i = 0; i < seen_count; i++)
		if (strcmp(seen[i], key) == 0)
			return;
	if (seen_count < ARRAY_SIZE(seen))
		snprintf(seen[seen_count++], sizeof(seen[0]), "%s", key);
	log_warnx("zone: service %s, not served in DNS (%s)", name, what);
}

static bool
parse_address(const char *a, struct zinst *zi)
{
	uint8_t name[ZONE_NAME_MAX];

	if (inet_pton(AF_INET, a, zi->addr) == 1) {
		zi->family = 4;
		zi->target_len = (uint8_t)zone_addr_label(4, zi->addr, zi->hex);
		zi->target = zi->hex;
		return true;
	}
	if (inet_pton(AF_INET6, a, zi->addr) == 1) {
		zi->family = 6;
		zi->target_len = (uint8_t)zone_addr_label(6, zi->addr, zi->hex);
		zi->target = zi->hex;
		return true;
	}
	/* A host name: served as the SRV target as is, never as A/AAAA. It
	 * gets its own allocation, so the common case (an address) costs 33
	 * bytes of label per instance, not 255. */
	int n = wire_name_from_text(a, name);
	if (n <= 1)
		return false;
	uint8_t *copy = xmalloc((size_t)n);
	memcpy(copy, name, (size_t)n);
	zi->family = 0;
	zi->target_len = (uint8_t)n;
	zi->target = copy;
	return true;
}

static void
put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The instance's records as answer.c copies them (see struct zinst). */
static void
inst_images(struct zinst *zi, uint32_t ttl_s)
{
	uint8_t head[10];

	put16(head, 0xc000u | WIRE_HDR_LEN);
	put16(head + 4, WIRE_CLASS_IN);
	put16(head + 6, ttl_s >> 16);
	put16(head + 8, ttl_s);
	if (zi->family == 4 || zi->family == 6) {
		size_t alen = zi->family == 4 ? 4 : 16;
		put16(head + 2, zi->family == 4 ? WIRE_TYPE_A : WIRE_TYPE_AAAA);
		memcpy(zi->rr_addr, head, 10);
		put16(zi->rr_addr + 10, (uint32_t)alen);
		memcpy(zi->rr_addr + 12, zi->addr, alen);
		zi->rr_addr_len = (uint8_t)(12 + alen);
	}
	put16(head + 2, WIRE_TYPE_SRV);
	memcpy(zi->rr_srv, head, 10);
	put16(zi->rr_srv + 10, 0);
	put16(zi->rr_srv + 12, 1);
	put16(zi->rr_srv + 14, zi->weight);
	put16(zi->rr_srv + 16, zi->port);
}

static bool
inst_served(const struct zone_cfg *cfg, const struct svc_instance *si)
{
	if (si->health == SVC_CRITICAL)
		return false;
	return !(si->health == SVC_WARNING && cfg->only_passing);
}

/* Appends one instance's meta as one TXT RDATA (RFC 1464 key=value strings)
 * prefixed by its 2-byte length, to *buf. */
static void
txt_append(uint8_t **buf, size_t *len, size_t *cap,
	   const struct svc_instance *si)
{
	uint8_t rd[TXT_MAX_PER_INSTANCE];
	size_t rl = 0;
	for (size_t m = 0; m < si->meta_count; m++) {
		size_t kl = strlen(si->meta_keys[m]);
		size_t vl = strlen(si->meta_values[m]);
		if (kl + 1 + vl > 255 || rl + 1 + kl + 1 + vl > sizeof(rd))
			continue;
		rd[rl++] = (uint8_t)(kl + 1 + vl);
		memcpy(rd + rl, si->meta_keys[m], kl);
		rl += kl;
		rd[rl++] = '=';
		memcpy(rd + rl, si->meta_values[m], vl);
		rl += vl;
	}
	if (rl == 0)
		return;
	if (*len + 2 + rl > *cap) {
		*cap = (*len + 2 + rl) * 2;
		*buf = xrealloc(*buf, *cap);
	}
	(*buf)[(*len)++] = (uint8_t)(rl >> 8);
	(*buf)[(*len)++] = (uint8_t)rl;
	memcpy(*buf + *len, rd, rl);
	*len += rl;
}

/* ---- diagnostics ---------------------------------------------------------- */

/* A TXT record being built: RDATA in rd, then appended to a growing buffer
 * with its 2-byte length, as zone_svc_diag() returns them. */
struct diag_rec {
	uint8_t rd[16 * 256];
	size_t len;
};

/* Appends one <len><text> string (RFC 1035 3.3.14), cut at 255 bytes;
 * control characters (check output has newlines) become spaces. */
static void __attribute__((format(printf, 2, 3)))
diag_str(struct diag_rec *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	wire_txt_vprintf(r->rd, sizeof(r->rd), &r->len, fmt, ap);
	va_end(ap);
}

static void
diag_flush(struct zsvc *s, struct diag_rec *r, size_t *cap)
{
	if (s->diag_len + 2 + r->len > *cap) {
		*cap = (s->diag_len + 2 + r->len) * 2;
		s->diag = xrealloc(s->diag, *cap);
	}
	s->diag[s->diag_len++] = (uint8_t)(r->len >> 8);
	s->diag[s->diag_len++] = (uint8_t)r->len;
	memcpy(s->diag + s->diag_len, r->rd, r->len);
	s->diag_len += r->len;
	r->len = 0;
}

static const char *
health_name(enum svc_health h)
{
	return h == SVC_PASSING ? "passing"
	       : h == SVC_WARNING ? "warning"
				  : "critical";
}

/* One summary record, then one record per instance Consul reported, in
 * Consul's order: what it is, and whether it is served and if not, why. */
static void
diag_build(struct zsvc *s, const struct zone_cfg *cfg,
	   const struct svc_record *rec)
{
	struct diag_rec r;
	size_t cap = 0;

	r.len = 0;
	diag_str(&r, "service=%s", rec->name);
	diag_str(&r, "instances=%zu", rec->count);
	diag_str(&r, "served=%u", (unsigned)s->inst_count);
	diag_str(&r, "ttl=%u", (unsigned)s->ttl_s);
	diag_flush(s, &r, &cap);
	for (size_t i = 0; i < rec->count; i++) {
		const struct svc_instance *si = &rec->inst[i];
		struct zinst zi;
		char tags[256];
		size_t tl = 0;
		uint64_t w;
		const char *why = NULL;

		tags[0] = '\0';
		for (size_t t = 0; t < si->tag_count && tl < sizeof(tags); t++)
			tl += (size_t)snprintf(tags + tl, sizeof(tags) - tl,
					       "%s%s", t ? "," : "",
					       si->tags[t]);
		w = si->health == SVC_WARNING ? si->weight_warning
					      : si->weight_passing;
		w *= cfg->weight_scale ? cfg->weight_scale : 1;
		bool parsed = false;
		if (si->health == SVC_CRITICAL)
			why = "no (critical)";
		else if (!inst_served(cfg, si))
			why = "no (warning, and --only-passing)";
		else if (si->address == NULL || si->address[0] == '\0')
			why = "no (no address)";
		else if (!(parsed = parse_address(si->address, &zi)))
			why = "no (address is not an IP address or a host name)";
		else if (i >= UINT16_MAX)
			why = "no (too many instances)";
		/* parse_address() gives a host name its own copy; here only
		 * its validity was wanted */
		if (parsed && zi.family == 0)
			free((void *)(uintptr_t)zi.target);
		diag_str(&r, "id=%s", si->id ? si->id : "");
		diag_str(&r, "node=%s", si->node ? si->node : "");
		diag_str(&r, "health=%s", health_name(si->health));
		diag_str(&r, "address=%s", si->address ? si->address : "");
		diag_str(&r, "port=%u", (unsigned)si->port);
		diag_str(&r, "tags=%s", tags);
		diag_str(&r, "weight=%u", (unsigned)MIN(w, 65535u));
		diag_str(&r, "served=%s", why ? why : "yes");
		if (si->check_output != NULL && si->check_output[0] != '\0')
			diag_str(&r, "check=%s", si->check_output);
		diag_flush(s, &r, &cap);
	}
}

/* Open-addressing tables for compiling (distinct addresses, distinct
 * tags): a power of two of slots, at least twice the most keys the table
 * can get so linear probes stay short, each holding an index + 1 (0:
 * free); one allocation per table per compile. The pairwise searches they
 * replace cost seconds on the watch thread for a service of tens of
 * thousands of instances. FNV-1a is unseeded: whoever can register
 * instances could lengthen the probes, to at worst what the pairwise
 * search cost. */
static uint32_t *
slots_new(size_t keys, size_t *mask)
{
	size_t n = 16;
	while (n < 2 * keys)
		n <<= 1;
	*mask = n - 1;
	return xcalloc(n, sizeof(uint32_t));
}

static size_t
slot_hash(const uint8_t *p, size_t len)
{
	uint64_t h = hash_fnv1a(p, len);
	return (size_t)(h ^ (h >> 32));
}

/* The slot holding the first served instance with zi's address (same
 * family and target bytes), or the free slot where zi goes. */
static uint32_t *
addr_slot(const struct zsvc *s, uint32_t *slots, size_t mask,
	  const struct zinst *zi)
{
	for (size_t h = slot_hash(zi->target, zi->target_len);; h++) {
		uint32_t *sl = &slots[h & mask];
		const struct zinst *o;
		if (*sl == 0)
			return sl;
		o = &s->inst[*sl - 1];
		if (o->family == zi->family && o->target_len == zi->target_len &&
		    memcmp(o->target, zi->target, zi->target_len) == 0)
			return sl;
	}
}

/* The slot holding the tag whose label is tl, or the free slot for it. */
static uint32_t *
tag_slot(const struct zsvc *s, uint32_t *slots, size_t mask,
	 const uint8_t *tl)
{
	for (size_t h = slot_hash(tl, tl[0] + 1u);; h++) {
		uint32_t *sl = &slots[h & mask];
		if (*sl == 0 ||
		    memcmp(s->tags[*sl - 1].label, tl, tl[0] + 1u) == 0)
			return sl;
	}
}

/* Fills set from its n served instances, inst (in the pool, in Consul's
 * order), taking the A and AAAA lists from the pool at *used: the first
 * instance of each address, marked in seen[addr_id] with this set's
 * generation gen, so no set clears what the one before marked. */
static void
set_fill(struct zsvc *s, const struct svc_record *rec, const uint32_t *src_of,
	 const uint32_t *inst, uint32_t n, uint32_t *seen, uint32_t gen,
	 struct zset *set, size_t *used, uint8_t **txt, size_t *txt_len)
{
	/* an address has one family, so one generation serves both lists */
	uint32_t *v4 = s->pool + *used, n4 = 0;
	for (uint32_t k = 0; k < n; k++) {
		const struct zinst *zi = &s->inst[inst[k]];
		if (zi->family != 4 || seen[zi->addr_id] == gen)
			continue;
		seen[zi->addr_id] = gen;
		v4[n4++] = inst[k];
	}
	*used += n4;
	uint32_t *v6 = s->pool + *used, n6 = 0;
	for (uint32_t k = 0; k < n; k++) {
		const struct zinst *zi = &s->inst[inst[k]];
		if (zi->family != 6 || seen[zi->addr_id] == gen)
			continue;
		seen[zi->addr_id] = gen;
		v6[n6++] = inst[k];
	}
	*used += n6;
	*set = (struct zset){inst, n, v4, n4, v6, n6, 0};
	if (n > 0 && n4 == n)
		set->srv_hex_len = 9;
	else if (n > 0 && n6 == n)
		set->srv_hex_len = 33;

	size_t cap = 0;
	*txt = NULL;
	*txt_len = 0;
	for (uint32_t k = 0; k < n; k++)
		txt_append(txt, txt_len, &cap, &rec->inst[src_of[inst[k]]]);
}

static void
add_name(struct zsvc *s, enum zone_kind kind, int32_t tag, const uint8_t *l1,
	 const uint8_t *l2)
{
	struct zname *zn = &s->names[s->name_count++];
	uint8_t *rel = s->name_pool + s->name_pool_used;
	size_t n = 0;
	memcpy(rel, l1, (size_t)l1[0] + 1);
	n = (size_t)l1[0] + 1;
	if (l2) {
		memcpy(rel + n, l2, (size_t)l2[0] + 1);
		n += (size_t)l2[0] + 1;
	}
	s->name_pool_used += n;
	zn->rel = rel;
	zn->rel_len = (uint8_t)n;
	zn->kind = (uint8_t)kind;
	zn->tag = tag;
}

/* "_" + label: the RFC 2782 form of a label. */
static void
underscore(const uint8_t *label, uint8_t out[WIRE_LABEL_MAX + 2])
{
	size_t n = label[0];
	if (n > WIRE_LABEL_MAX - 1)
		n = WIRE_LABEL_MAX - 1;
	out[0] = (uint8_t)(n + 1);
	out[1] = '_';
	memcpy(out + 2, label + 1, n);
}

struct zsvc *
zone_svc_compile(const struct zone_cfg *cfg, const struct svc_record *rec)
{
	uint8_t label[WIRE_LABEL_MAX + 1];
	struct zsvc *s;
	uint32_t *src_of;
	size_t used = 0;

	if (!label_from(rec->name, label)) {
		warn_once("its name is not a valid DNS label", rec->name);
		return NULL;
	}
	if (label[0] == 4 && memcmp(label + 1, "addr", 4) == 0) {
		warn_once("\"addr\" is reserved for SRV target names", rec->name);
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->refs = 1;
	s->name = xstrdup(rec->name);
	memcpy(s->label, label, sizeof(label));
	s->ttl_s = cfg->ttl_s;
	for (size_t i = 0; i < cfg->svc_ttl_count; i++)
		if (strcasecmp(cfg->svc_ttls[i].name, rec->name) == 0)
			s->ttl_s = cfg->svc_ttls[i].ttl_s;
	s->total_count = (uint32_t)MIN(rec->count, UINT32_MAX);

	/* Served instances, in Consul's order; addr_id over distinct
	 * addresses, numbered in order of first appearance. */
	size_t mask;
	uint32_t *slots = slots_new(MIN(rec->count, UINT16_MAX), &mask);
	s->inst = xcalloc(rec->count ? rec->count : 1, sizeof(*s->inst));
	src_of = xcalloc(rec->count ? rec->count : 1, sizeof(*src_of));
	for (size_t i = 0; i < rec->count && i < UINT16_MAX; i++) {
		const struct svc_instance *si = &rec->inst[i];
		struct zinst *zi = &s->inst[s->inst_count];
		uint32_t *sl;
		uint64_t w;

		if (!inst_served(cfg, si) || si->address == NULL ||
		    !parse_address(si->address, zi))
			continue;
		zi->port = si->port;
		w = si->health == SVC_WARNING ? si->weight_warning
					      : si->weight_passing;
		w *= cfg->weight_scale ? cfg->weight_scale : 1;
		zi->weight = (uint16_t)MIN(w, 65535u);
		sl = addr_slot(s, slots, mask, zi);
		if (*sl != 0) {
			zi->addr_id = s->inst[*sl - 1].addr_id;
		} else {
			*sl = s->inst_count + 1;
			zi->addr_id = (uint16_t)s->addr_count++;
		}
		inst_images(zi, s->ttl_s);
		src_of[s->inst_count++] = (uint32_t)i;
	}
	free(slots);

	/* Tags: every tag any instance carries (served or not, so a tag whose
	 * instances are all down is NODATA, not NXDOMAIN), in order of first
	 * appearance, one per label (tags differing in case are one). On the
	 * way, the (tag, served instance) pairs, once per pair: an instance
	 * belongs to a tag's set when one of its tags has that label. */
	size_t tag_cap = 0;
	for (size_t i = 0; i < rec->count; i++)
		tag_cap += rec->inst[i].tag_count;
	s->tags = xcalloc(tag_cap ? tag_cap : 1, sizeof(*s->tags));
	uint32_t *pair_tag = xcalloc(tag_cap ? tag_cap : 1, sizeof(uint32_t));
	uint32_t *pair_inst = xcalloc(tag_cap ? tag_cap : 1, sizeof(uint32_t));
	uint32_t *tag_n = xcalloc(tag_cap ? tag_cap : 1, sizeof(uint32_t));
	/* tag_last[k]: 1 + the last served instance paired with tag k */
	uint32_t *tag_last = xcalloc(tag_cap ? tag_cap : 1, sizeof(uint32_t));
	size_t pairs = 0;
	uint32_t j = 0; /* the next served instance; src_of ascends */
	slots = slots_new(tag_cap, &mask);
	for (size_t i = 0; i < rec->count; i++) {
		bool served = j < s->inst_count && src_of[j] == i;
		for (size_t t = 0; t < rec->inst[i].tag_count; t++) {
			uint8_t tl[WIRE_LABEL_MAX + 1];
			uint32_t *sl, k;
			if (!label_from(rec->inst[i].tags[t], tl))
				continue;
			sl = tag_slot(s, slots, mask, tl);
			if (*sl == 0) {
				memcpy(s->tags[s->tag_count].label, tl,
				       sizeof(tl));
				*sl = (uint32_t)++s->tag_count;
			}
			k = *sl - 1;
			if (!served || tag_last[k] == j + 1)
				continue;
			tag_last[k] = j + 1;
			tag_n[k]++;
			pair_tag[pairs] = k;
			pair_inst[pairs++] = j;
		}
		if (served)
			j++;
	}
	free(slots);
	/* sized for every tag of every instance; the service keeps only its
	 * distinct tags for its lifetime (a ztag is 128 bytes) */
	s->tags = xreallocarray(s->tags, s->tag_count ? s->tag_count : 1,
				sizeof(*s->tags));

	/* The pool: every set's instances (the whole service's, then each
	 * tag's, placed by a counting sort of the pairs, which keeps Consul's
	 * order within a tag), then the A and AAAA lists set_fill() takes;
	 * those hold at most one entry per instance of their set. */
	s->pool = xcalloc(2 * (s->inst_count + pairs) + 1, sizeof(uint32_t));
	for (uint32_t i = 0; i < s->inst_count; i++)
		s->pool[i] = i;
	used = s->inst_count;
	uint32_t *tag_end = tag_last; /* done marking: now the fill cursors */
	for (size_t k = 0; k < s->tag_count; k++) {
		tag_end[k] = (uint32_t)used;
		used += tag_n[k];
	}
	for (size_t p = 0; p < pairs; p++)
		s->pool[tag_end[pair_tag[p]]++] = pair_inst[p];
	uint32_t *seen = xcalloc(s->addr_count ? s->addr_count : 1,
				 sizeof(uint32_t));
	set_fill(s, rec, src_of, s->pool, s->inst_count, seen, 1, &s->all,
		 &used, &s->txt, &s->txt_len);
	for (size_t k = 0; k < s->tag_count; k++)
		set_fill(s, rec, src_of, s->pool + tag_end[k] - tag_n[k],
			 tag_n[k], seen, (uint32_t)k + 2, &s->tags[k].set,
			 &used, &s->tags[k].txt, &s->tags[k].txt_len);
	free(seen);
	free(tag_last);
	free(tag_n);
	free(pair_inst);
	free(pair_tag);

	/* Names: <svc>, _<svc>._tcp, _<svc>._udp, and per tag <tag>.<svc>
	 * and _<svc>._<tag>. */
	uint8_t us[WIRE_LABEL_MAX + 2], ut[WIRE_LABEL_MAX + 2];
	static const uint8_t tcp[] = "\4_tcp", udp[] = "\4_udp";
	s->names = xcalloc(3 + 2 * s->tag_count, sizeof(*s->names));
	underscore(s->label, us);
	/* the exact bytes of the names below, so each costs its length */
	size_t pool = (s->label[0] + 1u) + 2 * (us[0] + 1u + 5u);
	for (size_t k = 0; k < s->tag_count; k++) {
		underscore(s->tags[k].label, ut);
		pool += (s->tags[k].label[0] + 1u) + (s->label[0] + 1u) +
			(us[0] + 1u) + (ut[0] + 1u);
	}
	s->name_pool = xmalloc(pool);
	add_name(s, ZK_SERVICE, -1, s->label, NULL);
	add_name(s, ZK_RFC2782, -1, us, tcp);
	add_name(s, ZK_RFC2782, -1, us, udp);
	for (size_t k = 0; k < s->tag_count; k++) {
		add_name(s, ZK_SERVICE, (int32_t)k, s->tags[k].label, s->label);
		underscore(s->tags[k].label, ut);
		add_name(s, ZK_RFC2782, (int32_t)k, us, ut);
	}
	diag_build(s, cfg, rec);
	free(src_of);
	return s;
}

struct zsvc *
zone_svc_ref(struct zsvc *s)
{
	s->refs++;
	return s;
}

void
zone_svc_unref(struct zsvc *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	for (size_t k = 0; k < s->tag_count; k++)
		free(s->tags[k].txt);
	free(s->tags);
	free(s->txt);
	free(s->diag);
	free(s->pool);
	free(s->names);
	free(s->name_pool);
	for (uint32_t i = 0; i < s->inst_count; i++)
		if (s->inst[i].family == 0)
			free((void *)(uintptr_t)s->inst[i].target);
	free(s->inst);
	free(s->name);
	free(s);
}

const char *
zone_svc_name(const struct zsvc *s)
{
	return s->name;
}

size_t
zone_svc_instance_count(const struct zsvc *s)
{
	return s->inst_count;
}

/* ---- the snapshot index ------------------------------------------------ */

static uint32_t
name_hash(const uint8_t *p, size_t n)
{
	uint64_t h = hash_fnv1a(p, n);
	return (uint32_t)(h ^ (h >> 32));
}

static const struct zname *
ent_zname(const struct zent *e)
{
	if (e->kind == ZK_EMPTY)
		return &((const struct zename *)e->ref)->name;
	return &((const struct zsvc *)e->ref)->names[e->name];
}

static struct zpage *
page_of(const struct zone *z, uint32_t h)
{
	return z->pages[(h / PAGE_SLOTS) & z->page_mask];
}

/* The slot holding rel, or the free slot where it would go. */
static struct zent *
find_slot(struct zpage *pg, const uint8_t *rel, size_t len, uint32_t h)
{
	size_t i = h & (PAGE_SLOTS - 1);
	for (;;) {
		struct zent *e = &pg->ents[i];
		if (e->ref == NULL)
			return e;
		if (e->hash == h && e->rel_len == len &&
		    memcmp(ent_zname(e)->rel, rel, len) == 0)
			return e;
		i = (i + 1) & (PAGE_SLOTS - 1);
	}
}

static void
ent_ref(const struct zent *e)
{
	if (e->kind == ZK_EMPTY)
		((struct zename *)(uintptr_t)e->ref)->refs++;
	else
		zone_svc_ref((struct zsvc *)(uintptr_t)e->ref);
}

static void
ent_unref(const struct zent *e)
{
	if (e->kind == ZK_EMPTY) {
		struct zename *n = (struct zename *)(uintptr_t)e->ref;
		if (--n->refs == 0)
			free(n);
	} else {
		zone_svc_unref((struct zsvc *)(uintptr_t)e->ref);
	}
}

static void
page_free(struct zpage *pg)
{
	if (pg == NULL)
		return;
	for (size_t i = 0; i < PAGE_SLOTS; i++)
		if (pg->ents[i].ref != NULL)
			ent_unref(&pg->ents[i]);
	free(pg);
}

/* The page for hash h, made private to z (copied when shared). */
static struct zpage *
page_own(struct zone *z, uint32_t h)
{
	size_t i = (h / PAGE_SLOTS) & z->page_mask;
	if (z->owned[i])
		return z->pages[i];
	struct zpage *c = xmalloc(sizeof(*c));
	memcpy(c, z->pages[i], sizeof(*c)); /* the owner keeps the original */
	for (size_t k = 0; k < PAGE_SLOTS; k++)
		if (c->ents[k].ref != NULL)
			ent_ref(&c->ents[k]);
	z->pages[i] = c;
	z->owned[i] = 1;
	return c;
}

/* Adds an entry; false when the name is taken (first one wins) or the page
 * is too full (z->overflow is set: the caller rebuilds with more pages). */
static bool
insert(struct zone *z, const struct zname *zn, const void *ref, size_t name,
       size_t fill_max)
{
	uint32_t h = name_hash(zn->rel, zn->rel_len);
	struct zpage *pg = page_own(z, h);
	struct zent *e = find_slot(pg, zn->rel, zn->rel_len, h);
	if (e->ref != NULL)
		return false;
	if (pg->used >= fill_max) {
		z->overflow = true;
		return false;
	}
	e->hash = h;
	e->kind = zn->kind;
	e->rel_len = zn->rel_len;
	e->name = (uint32_t)name;
	e->users = 1;
	e->ref = ref;
	ent_ref(e);
	pg->used++;
	return true;
}

/* Removes the entry in slot i of pg (backward-shift deletion, so probe
 * chains stay unbroken without tombstones). */
static void
page_delete(struct zpage *pg, size_t i)
{
	struct zent gone = pg->ents[i];
	size_t j = i;
	for (;;) {
		j = (j + 1) & (PAGE_SLOTS - 1);
		const struct zent *e = &pg->ents[j];
		if (e->ref == NULL)
			break;
		size_t home = e->hash & (PAGE_SLOTS - 1);
		/* e may move to i unless its home lies cyclically in (i, j] */
		bool stays = i <= j ? (home > i && home <= j)
				    : (home > i || home <= j);
		if (!stays) {
			pg->ents[i] = *e;
			i = j;
		}
	}
	memset(&pg->ents[i], 0, sizeof(pg->ents[i]));
	pg->used--;
	ent_unref(&gone);
}

/* Removes rel's entry if it points at ref (and, for a service, names its
 * name index). */
static void
remove_name(struct zone *z, const struct zname *zn, const void *ref,
	    size_t name)
{
	uint32_t h = name_hash(zn->rel, zn->rel_len);
	struct zent *e =
	    find_slot(page_of(z, h), zn->rel, zn->rel_len, h);
	if (e->ref != ref || (e->kind != ZK_EMPTY && e->name != name))
		return;
	struct zpage *pg = page_own(z, h);
	page_delete(pg, (size_t)(find_slot(pg, zn->rel, zn->rel_len, h) -
				 pg->ents));
}

/* A key for one label; borrows label. */
static void
ent_name(struct zname *zn, const uint8_t *label)
{
	zn->rel = label;
	zn->rel_len = (uint8_t)(label[0] + 1);
	zn->kind = ZK_EMPTY;
	zn->tag = -1;
}

/* One more service implies the empty non-terminal label (one label). */
static void
ent_acquire(struct zone *z, const uint8_t *label, size_t fill_max)
{
	struct zename *n;
	struct zname key;
	ent_name(&key, label);
	uint32_t h = name_hash(key.rel, key.rel_len);
	struct zent *e = find_slot(page_of(z, h), key.rel, key.rel_len, h);
	if (e->ref != NULL) {
		if (e->kind == ZK_EMPTY) {
			struct zpage *pg = page_own(z, h);
			find_slot(pg, key.rel, key.rel_len, h)->users++;
		}
		return;
	}
	n = xcalloc(1, sizeof(*n));
	n->name = key;
	memcpy(n->rel, label, key.rel_len);
	n->name.rel = n->rel;
	insert(z, &n->name, n, 0, fill_max);
	if (n->refs == 0)
		free(n); /* not inserted: overflow */
}

/* One service less implies it; the name goes with its last user. */
static void
ent_release(struct zone *z, const uint8_t *label)
{
	struct zname key;
	ent_name(&key, label);
	uint32_t h = name_hash(key.rel, key.rel_len);
	struct zent *e = find_slot(page_of(z, h), key.rel, key.rel_len, h);
	if (e->ref == NULL || e->kind != ZK_EMPTY)
		return;
	struct zpage *pg = page_own(z, h);
	e = find_slot(pg, key.rel, key.rel_len, h);
	if (--e->users == 0)
		page_delete(pg, (size_t)(e - pg->ents));
}

static const uint8_t lbl_addr[] = "\4addr", lbl_tcp[] = "\4_tcp",
		     lbl_udp[] = "\4_udp";

/* Indexes every name of s; false when s is not served (its name is taken,
 * logged as before) or a page overflowed. */
static bool
add_svc(struct zone *z, struct zsvc *s, size_t fill_max)
{
	if (!insert(z, &s->names[0], s, 0, fill_max)) {
		if (!z->overflow) {
			log_warnx("zone: service %s, not served (its name "
				  "collides with another service)", s->name);
			z->collisions++;
		}
		return false;
	}
	for (size_t n = 1; n < s->name_count; n++) {
		if (!insert(z, &s->names[n], s, n, fill_max) && !z->overflow) {
			/* a duplicate of this service's own name is fine;
			 * a name another service holds is a collision */
			uint32_t h = name_hash(s->names[n].rel,
					       s->names[n].rel_len);
			const struct zent *e =
			    find_slot(page_of(z, h), s->names[n].rel,
				      s->names[n].rel_len, h);
			if (e->ref != s)
				z->collisions++;
		}
	}
	for (size_t k = 0; k < s->tag_count; k++) {
		uint8_t ut[WIRE_LABEL_MAX + 2];
		underscore(s->tags[k].label, ut);
		ent_acquire(z, ut, fill_max);
	}
	ent_acquire(z, lbl_tcp, fill_max);
	ent_acquire(z, lbl_udp, fill_max);
	z->svc_count++;
	z->inst_count += s->inst_count;
	return !z->overflow;
}

/* Undoes add_svc() for a served service. */
static void
remove_svc(struct zone *z, const struct zsvc *s)
{
	for (size_t n = 0; n < s->name_count; n++)
		remove_name(z, &s->names[n], s, n);
	for (size_t k = 0; k < s->tag_count; k++) {
		uint8_t ut[WIRE_LABEL_MAX + 2];
		underscore(s->tags[k].label, ut);
		ent_release(z, ut);
	}
	ent_release(z, lbl_tcp);
	ent_release(z, lbl_udp);
	z->svc_count--;
	z->inst_count -= s->inst_count;
}

static bool
svc_served(const struct zone *z, const struct zsvc *s)
{
	uint32_t h = name_hash(s->names[0].rel, s->names[0].rel_len);
	const struct zent *e = find_slot(page_of(z, h), s->names[0].rel,
					 s->names[0].rel_len, h);
	return e->ref == s && e->name == 0;
}

static struct zone *
zone_alloc(const struct zone_cfg *cfg, struct zsvc *const *svcs,
	   size_t count, uint32_t serial, bool synced)
{
	struct zone *z = xcalloc(1, sizeof(*z));
	z->cfg = *cfg;
	z->cfg.svc_ttls = NULL; /* used only while compiling */
	z->cfg.svc_ttl_count = 0;
	z->serial = serial;
	z->synced = synced;
	z->svcs = xcalloc(count ? count : 1, sizeof(*z->svcs));
	if (count)
		memcpy(z->svcs, svcs, count * sizeof(*svcs));
	z->svc_given = count;
	return z;
}

static void
pages_new(struct zone *z, size_t count)
{
	z->pages = xcalloc(count, sizeof(*z->pages));
	z->owned = xmalloc(count);
	memset(z->owned, 1, count);
	z->page_mask = count - 1;
	for (size_t i = 0; i < count; i++)
		z->pages[i] = xcalloc(1, sizeof(struct zpage));
}

/* Indexes every service from scratch. */
static struct zone *
build_full(const struct zone_cfg *cfg, struct zsvc *const *svcs,
	   size_t count, uint32_t serial, bool synced)
{
	size_t names = 3, pages = 1;

	for (size_t i = 0; i < count; i++)
		names += svcs[i]->name_count + svcs[i]->tag_count;
	while (pages * PAGE_MEAN < names)
		pages <<= 1;
	for (;;) {
		struct zone *z = zone_alloc(cfg, svcs, count, serial, synced);
		size_t collided = 0;
		z->names_given = names;
		pages_new(z, pages);
		z->collided = xcalloc(count ? count : 1, sizeof(*z->collided));
		ent_acquire(z, lbl_addr, PAGE_SLOTS - 1);
		for (size_t i = 0; i < count && !z->overflow; i++) {
			if (!add_svc(z, svcs[i], PAGE_SLOTS - 1) && !z->overflow)
				z->collided[collided++] = zone_svc_ref(svcs[i]);
			z->collided_count = collided;
		}
		if (!z->overflow)
			return z;
		zone_free(z); /* a page filled up: twice the pages */
		pages <<= 1;
	}
}

struct zone *
zone_new(const struct zone_cfg *cfg, struct zsvc *const *svcs, size_t count,
	 uint32_t serial, bool synced)
{
	return build_full(cfg, svcs, count, serial, synced);
}

/* Which services went and came between prev->svcs and svcs. Both are in
 * the caller's order (watch.c: by name); where the pointers differ, the
 * names say which side moves on. Any misordering only makes a service
 * count as removed and added again, which is still correct. Returns false
 * when more than INCR_MAX_CHANGES changed. */
static bool
diff(const struct zone *prev, struct zsvc *const *svcs, size_t count,
     const struct zsvc **gone, size_t *ngone, struct zsvc **came,
     size_t *ncame)
{
	size_t i = 0, j = 0;
	*ngone = *ncame = 0;
	while (i < prev->svc_given || j < count) {
		int c;
		if (i < prev->svc_given && j < count &&
		    prev->svcs[i] == svcs[j]) {
			i++;
			j++;
			continue;
		}
		if (*ngone + *ncame >= INCR_MAX_CHANGES)
			return false;
		if (i == prev->svc_given)
			c = 1;
		else if (j == count)
			c = -1;
		else
			c = strcmp(prev->svcs[i]->name, svcs[j]->name);
		if (c <= 0)
			gone[(*ngone)++] = prev->svcs[i++];
		if (c >= 0)
			came[(*ncame)++] = svcs[j++];
	}
	return true;
}

struct zone *
zone_new_from(const struct zone *prev, const struct zone_cfg *cfg,
	      struct zsvc *const *svcs, size_t count, uint32_t serial,
	      bool synced)
{
	const struct zsvc *gone[INCR_MAX_CHANGES];
	struct zsvc *came[INCR_MAX_CHANGES];
	size_t ngone, ncame, names = 0;

	/* Collisions depend on the order services are indexed in; only a
	 * full build keeps "the first one wins" exact. They are rare (two
	 * services whose names differ only in case). */
	if (prev == NULL || prev->collisions > 0 || prev->child != NULL ||
	    !diff(prev, svcs, count, gone, &ngone, came, &ncame))
		return build_full(cfg, svcs, count, serial, synced);
	/* Sized from the difference: reading every service's counts would
	 * touch 10,000 cache lines at 10,000 services. */
	names = prev->names_given;
	for (size_t i = 0; i < ngone; i++)
		names -= gone[i]->name_count + gone[i]->tag_count;
	for (size_t i = 0; i < ncame; i++)
		names += came[i]->name_count + came[i]->tag_count;
	if ((prev->page_mask + 1) * PAGE_MEAN * 2 < names)
		return build_full(cfg, svcs, count, serial, synced); /* grown */

	struct zone *z = zone_alloc(cfg, svcs, count, serial, synced);
	z->pages = xmalloc((prev->page_mask + 1) * sizeof(*z->pages));
	memcpy(z->pages, prev->pages,
	       (prev->page_mask + 1) * sizeof(*z->pages));
	z->owned = xcalloc(prev->page_mask + 1, 1);
	z->page_mask = prev->page_mask;
	z->names_given = names;
	z->parent = (struct zone *)(uintptr_t)prev; /* links only, below */
	z->parent->child = z;
	z->svc_count = prev->svc_count;
	z->inst_count = prev->inst_count;
	for (size_t i = 0; i < ngone; i++)
		if (svc_served(z, gone[i]))
			remove_svc(z, gone[i]);
	for (size_t i = 0; i < ncame; i++) {
		if (!add_svc(z, came[i], PAGE_FILL_MAX) || z->collisions) {
			zone_free(z); /* taken name or full page */
			return build_full(cfg, svcs, count, serial, synced);
		}
	}
	return z;
}

void
zone_free(struct zone *z)
{
	if (z == NULL)
		return;
	struct zone *c = z->child;
	for (size_t i = 0; z->pages != NULL && i <= z->page_mask; i++) {
		if (!z->owned[i])
			continue; /* an ancestor's */
		if (c != NULL && c->pages[i] == z->pages[i])
			c->owned[i] = 1; /* the child still uses it */
		else
			page_free(z->pages[i]);
	}
	if (c != NULL)
		c->parent = z->parent;
	if (z->parent != NULL)
		z->parent->child = c;
	free(z->owned);
	for (size_t i = 0; i < z->collided_count; i++)
		zone_svc_unref(z->collided[i]);
	free(z->collided);
	free(z->pages);
	free(z->svcs);
	free(z);
}

bool
zone_lookup(const struct zone *z, const uint8_t *rel, size_t rel_len,
	    struct zone_hit *hit)
{
	if (rel_len == 0 || rel_len > WIRE_NAME_MAX)
		return false;
	uint32_t h = name_hash(rel, rel_len);
	const struct zent *e = find_slot(page_of(z, h), rel, rel_len, h);
	if (e->ref == NULL)
		return false;
	hit->kind = (enum zone_kind)e->kind;
	if (e->kind == ZK_EMPTY) {
		hit->set = NULL;
		hit->txt = NULL;
		hit->txt_len = 0;
		hit->inst = NULL;
		hit->addr_count = 0;
		hit->ttl_s = z->cfg.ttl_s;
		return true;
	}
	const struct zsvc *s = e->ref;
	int32_t tag = s->names[e->name].tag;
	hit->set = tag < 0 ? &s->all : &s->tags[tag].set;
	if (e->kind == ZK_SERVICE) {
		hit->txt = tag < 0 ? s->txt : s->tags[tag].txt;
		hit->txt_len = tag < 0 ? s->txt_len : s->tags[tag].txt_len;
	} else {
		hit->txt = NULL;
		hit->txt_len = 0;
	}
	hit->inst = s->inst;
	hit->addr_count = s->addr_count;
	hit->ttl_s = s->ttl_s;
	return true;
}

bool
zone_svc_diag(const struct zone *z, const uint8_t *label, const uint8_t **txt,
	      size_t *txt_len)
{
	size_t len = (size_t)label[0] + 1;
	uint32_t h = name_hash(label, len);
	const struct zent *e = find_slot(page_of(z, h), label, len, h);

	/* One label names a service, or an empty non-terminal (addr, _tcp,
	 * _<tag>), which has no service. */
	if (e->ref == NULL || e->kind != ZK_SERVICE)
		return false;
	const struct zsvc *s = e->ref;
	*txt = s->diag;
	*txt_len = s->diag_len;
	return true;
}

/* ---- publishing ---------------------------------------------------------- */

void
zone_publish(struct zone *z)
{
	struct zone *old = rcu_xchg_pointer(&zone_cur, z);
	if (old != NULL) {
		/* Every reader passes a quiescent state between batches, or is
		 * offline while blocked, so this returns promptly. */
		synchronize_rcu();
		zone_free(old);
	}
}

const struct zone *
zone_current(void)
{
	return rcu_dereference(zone_cur);
}

void
zone_shutdown(void)
{
	struct zone *old = rcu_xchg_pointer(&zone_cur, NULL);
	if (old != NULL) {
		synchronize_rcu();
		zone_free(old);
	}
}

uint32_t
zone_serial(const struct zone *z)
{
	return z->serial;
}

bool
zone_synced(const struct zone *z)
{
	return z->synced;
}

void
zone_set_stale(struct zone *z)
{
	z->stale = true;
}

bool
zone_stale(const struct zone *z)
{
	return z->stale;
}

size_t
zone_service_count(const struct zone *z)
{
	return z->svc_count;
}

size_t
zone_instance_count(const struct zone *z)
{
	return z->inst_count;
}

const struct zone_cfg *
zone_config(const struct zone *z)
{
	return &z->cfg;
}
