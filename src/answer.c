/* SPDX-License-Identifier: MIT
 * answer.c -- one query + one snapshot -> one reply (RFC 1034 4.3.2).
 * Owns:    query validation, authoritative answers for the zone, negative
 *          answers (RFC 2308), truncation, EDNS (RFC 6891), RFC 8482 ANY,
 *          and the CHAOS diagnostic names (answer_chaos()).
 * Borrows: the snapshot (read-only, for one call) and the caller's buffers.
 * Never:   I/O, malloc, locks: this is the query path.
 * Start reading at answer_query().
 *
 * Layout of every reply: header, the question copied byte for byte from the
 * query (so 0x20 case randomisation survives), then records. Owner names
 * are compression pointers into that question: 0xC00C for the query name,
 * and a pointer to where the apex starts inside it for SOA owners and for
 * the tail of <hex>.addr.<apex> targets. */
#include "config_feat.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "answer.h"
#include "wire.h"

#define PTR(off) ((uint16_t)(0xc000u | (off)))
#define PTR_MAX 0x3fffu /* the farthest offset a pointer can reach */
#define OPT_LEN 11	/* root name, type, class, ttl, rdlen */

/* What was read from the query. */
struct query {
	struct wire_hdr hdr;
	uint8_t name[WIRE_NAME_MAX + 8]; /* lower case; 8 bytes of slack for
					  * read_qname()'s word loop */
	size_t name_len;
	size_t qend;		/* end of the question in the query */
	uint16_t qtype, qclass;
	bool edns;
	uint16_t udp_size;
	uint8_t edns_version;
};

/* The reply under construction. */
struct reply {
	struct wire_cur c;
	const struct zone_cfg *zc;
	uint16_t apex_off;  /* where the apex begins in the echoed question */
	uint16_t addr_off;  /* where an "addr" label was written, 0 if none */
	uint16_t an, ns, ar;
	bool tc;
	struct answer_scratch *s;
};

void
answer_scratch_init(struct answer_scratch *s)
{
	/* s comes zeroed (answer.h): not cleared again, so the pages of the
	 * per-address arrays stay untouched until a large set needs them */
	rng_seed(&s->rng);
}

/* ---- reading the query --------------------------------------------------- */

/* Reads the question name at offset 12 into out, lower-cased. The question
 * is the first name: it cannot be compressed, and we echo it verbatim, so a
 * pointer, a reserved label type, a name over 255 bytes or a short message
 * is a format error (-1). Same checks as wire_read_name() with the pointer
 * case refused, in one pass without the cursor (the query path's hottest
 * loop). Returns the wire length. */
static int
read_qname(const uint8_t *q, size_t qlen, uint8_t out[WIRE_NAME_MAX + 8])
{
	size_t pos = WIRE_HDR_LEN, n;

	/* the labels' structure first ... */
	for (;;) {
		if (pos >= qlen)
			return -1;
		uint8_t l = q[pos];
		if ((l & 0xc0) != 0 || pos - WIRE_HDR_LEN + 1u + l > WIRE_NAME_MAX ||
		    pos + 1u + l > qlen)
			return -1;
		pos += 1u + l;
		if (l == 0)
			break;
	}
	/* ... then one copy, lower-cased eight bytes at a time: only the
	 * bytes 'A'..'Z' change, and length bytes (0..63) are never among
	 * them. The last word may run into out's slack (its bytes are
	 * never read as part of the name). */
	n = pos - WIRE_HDR_LEN;
	memcpy(out, q + WIRE_HDR_LEN, n);
	for (size_t i = 0; i < n; i += 8) {
		uint64_t w, hep, ge_a, gt_z;
		memcpy(&w, out + i, 8);
		hep = w & 0x7f7f7f7f7f7f7f7full;
		ge_a = hep + 0x3f3f3f3f3f3f3f3full; /* bit 7 set: >= 'A' */
		gt_z = hep + 0x2525252525252525ull; /* bit 7 set: > 'Z' */
		w |= ((ge_a ^ gt_z) & ~w & 0x8080808080808080ull) >> 2;
		memcpy(out + i, &w, 8);
	}
	return (int)n;
}

/* Reads the question and the other sections; qr->hdr is already read.
 * Returns 0, or the rcode to answer with (FORMERR). */
static int
read_query(const uint8_t *q, size_t qlen, struct query *qr)
{
	struct wire_cur c;
	int n;

	n = read_qname(q, qlen, qr->name);
	if (n < 0)
		return WIRE_RCODE_FORMERR;
	wire_cur_init(&c, q, qlen);
	c.pos = WIRE_HDR_LEN + (size_t)n;
	qr->name_len = (size_t)n;
	qr->qtype = wire_get_u16(&c);
	qr->qclass = wire_get_u16(&c);
	if (c.err)
		return WIRE_RCODE_FORMERR;
	qr->qend = c.pos;

	/* The other sections: records are skipped, OPT is looked for. An OPT
	 * outside the additional section, a second OPT, or an OPT whose owner
	 * is not the root is a format error (RFC 6891 6.1.1). */
	unsigned total = (unsigned)qr->hdr.ancount + qr->hdr.nscount +
			 qr->hdr.arcount;
	for (unsigned i = 0; i < total; i++) {
		bool additional = i >= (unsigned)qr->hdr.ancount + qr->hdr.nscount;
		size_t start = c.pos, rdpos = 0;
		uint16_t type, klass, rdlen;
		uint32_t ttl;

		if (wire_skip_rr(&c, &type, &klass, &ttl, &rdlen, &rdpos) != 0)
			return WIRE_RCODE_FORMERR;
		if (type != WIRE_TYPE_OPT)
			continue;
		if (!additional || qr->edns || q[start] != 0)
			return WIRE_RCODE_FORMERR;
		qr->edns = true;
		qr->udp_size = klass < WIRE_UDP_MIN ? WIRE_UDP_MIN : klass;
		qr->edns_version = (uint8_t)(ttl >> 16);
		/* Options must tile the RDATA exactly; unknown ones are ignored. */
		size_t p = rdpos, end = rdpos + rdlen;
		while (p < end) {
			if (end - p < 4)
				return WIRE_RCODE_FORMERR;
			size_t olen = (size_t)(q[p + 2] << 8 | q[p + 3]);
			if (end - p - 4 < olen)
				return WIRE_RCODE_FORMERR;
			p += 4 + olen;
		}
	}
	return 0;
}

/* Position of the apex inside name (a label boundary), or -1 when the name
 * is not at or below the apex. */
static int
apex_at(const uint8_t *name, size_t len, const struct zone_cfg *zc)
{
	size_t p = 0;
	if (len < zc->apex_len)
		return -1;
	while (p < len) {
		if (len - p == zc->apex_len)
			return memcmp(name + p, zc->apex, zc->apex_len) == 0
				   ? (int)p
				   : -1;
		if (name[p] == 0)
			break;
		p += (size_t)name[p] + 1;
	}
	return -1;
}

/* ---- writing records ------------------------------------------------------- */

static void
rr_head_class(struct reply *r, uint16_t owner_ptr, uint16_t type,
	      uint16_t klass, uint32_t ttl)
{
	wire_put_u16(&r->c, owner_ptr);
	wire_put_u16(&r->c, type);
	wire_put_u16(&r->c, klass);
	wire_put_u32(&r->c, ttl);
}

static void
rr_head(struct reply *r, uint16_t owner_ptr, uint16_t type, uint32_t ttl)
{
	rr_head_class(r, owner_ptr, type, WIRE_CLASS_IN, ttl);
}

/* Ends a record started at start whose RDLENGTH sits at rdlen_pos. Returns
 * false (and rolls the cursor back to start) when it did not fit. */
static bool
rr_end(struct reply *r, size_t start, size_t rdlen_pos)
{
	if (r->c.err) {
		r->c.err = 0;
		r->c.pos = start;
		return false;
	}
	wire_put_u16_at(r->c.buf, rdlen_pos,
			(uint16_t)(r->c.pos - rdlen_pos - 2));
	return true;
}

/* Writes <hex>.addr.<apex> (compressed as far as possible). Returns the
 * offset the name was written at. */
static size_t
put_addr_name(struct reply *r, const uint8_t *label, size_t label_len)
{
	size_t at = r->c.pos;
	wire_put_bytes(&r->c, label, label_len);
	if (r->addr_off != 0) {
		wire_put_u16(&r->c, PTR(r->addr_off));
	} else {
		size_t addr_at = r->c.pos;
		wire_put_bytes(&r->c, "\4addr", 5);
		wire_put_u16(&r->c, PTR(r->apex_off));
		if (!r->c.err && addr_at <= PTR_MAX)
			r->addr_off = (uint16_t)addr_at;
	}
	return at;
}

/* An A or AAAA record whose owner is the name at owner_ptr. */
static bool
put_addr_rr(struct reply *r, uint16_t owner_ptr, int family,
	    const uint8_t *addr, uint32_t ttl)
{
	size_t start = r->c.pos, rdlen_pos;
	rr_head(r, owner_ptr, family == 4 ? WIRE_TYPE_A : WIRE_TYPE_AAAA, ttl);
	rdlen_pos = r->c.pos;
	wire_put_u16(&r->c, 0);
	wire_put_bytes(&r->c, addr, family == 4 ? 4 : 16);
	return rr_end(r, start, rdlen_pos);
}

/* Copies an instance's A or AAAA image; the two fixed sizes let the
 * compiler inline the copy. The caller checked the room. */
static inline void
copy_rr_addr(uint8_t *dst, const struct zinst *zi)
{
	if (zi->rr_addr_len == 16)
		memcpy(dst, zi->rr_addr, 16);
	else
		memcpy(dst, zi->rr_addr, 28);
}

/* Shuffles list[0..n) into s->perm lazily: call next_pick() for each slot. */
static uint32_t
shuffle_init(struct answer_scratch *s, const uint32_t *list, uint32_t n)
{
	if (n > ANSWER_MAX_RR)
		n = ANSWER_MAX_RR;
	memcpy(s->perm, list, n * sizeof(*list));
	return n;
}

static uint32_t
next_pick(struct answer_scratch *s, uint32_t i, uint32_t n)
{
	uint32_t j = i + rng_below(&s->rng, n - i);
	uint32_t t = s->perm[i];
	s->perm[i] = s->perm[j];
	s->perm[j] = t;
	return s->perm[i];
}

static void
answer_addrs(struct reply *r, const struct zone_hit *h, int family)
{
	const uint32_t *list = family == 4 ? h->set->v4 : h->set->v6;
	uint32_t n = shuffle_init(r->s, list,
				  family == 4 ? h->set->v4_count
					      : h->set->v6_count);
	/* Each record is the instance's precomputed image (zone.c, the same
	 * bytes put_addr_rr() would write), copied whole or not at all. */
	for (uint32_t i = 0; i < n; i++) {
		const struct zinst *zi = &h->inst[next_pick(r->s, i, n)];
		if (r->c.err || r->c.len - r->c.pos < zi->rr_addr_len) {
			r->tc = true;
			return;
		}
		copy_rr_addr(r->c.buf + r->c.pos, zi);
		r->c.pos += zi->rr_addr_len;
		r->an++;
	}
}

/* answer_srv() for a set whose instances all have distinct addresses of
 * one family (zset.srv_hex_len): no target repeats, so every record has
 * one of two shapes: the first <hex> "addr" <ptr apex>, every later one
 * <hex> <ptr "addr">; glue i points at record i's <hex>. The same
 * bytes as the general loop, with one room check and fixed-size copies
 * per record and no per-address bookkeeping. */
static void
answer_srv_fixed(struct reply *r, const struct zone_hit *h, uint32_t n)
{
	struct answer_scratch *s = r->s;
	const size_t hl = h->set->srv_hex_len;
	const size_t glue_len = hl == 9 ? 16 : 28;
	uint32_t written = 0;

	for (uint32_t i = 0; i < n; i++) {
		const struct zinst *zi = &h->inst[next_pick(s, i, n)];
		size_t pos = r->c.pos;
		size_t tlen = hl + (r->addr_off != 0 ? 2u : 7u);
		if (r->c.err || r->c.len - pos < sizeof(zi->rr_srv) + tlen) {
			r->tc = true;
			return;
		}
		uint8_t *p = r->c.buf + pos;
		memcpy(p, zi->rr_srv, sizeof(zi->rr_srv));
		wire_put_u16_at(p, 10, (uint16_t)(6 + tlen));
		p += sizeof(zi->rr_srv);
		if (hl == 9)
			memcpy(p, zi->hex, 9);
		else
			memcpy(p, zi->hex, 33);
		if (r->addr_off != 0) {
			wire_put_u16_at(p, hl, PTR(r->addr_off));
		} else { /* the first: "addr" and the apex */
			memcpy(p + hl, "\4addr", 5);
			wire_put_u16_at(p, hl + 5, PTR(r->apex_off));
			if (pos + sizeof(zi->rr_srv) + hl <= PTR_MAX)
				r->addr_off =
				    (uint16_t)(pos + sizeof(zi->rr_srv) + hl);
		}
		s->target_off[i] = (uint16_t)MIN(pos + sizeof(zi->rr_srv),
						 PTR_MAX + 1u);
		r->c.pos = pos + sizeof(zi->rr_srv) + tlen;
		written = i + 1;
		r->an++;
	}
	for (uint32_t i = 0; i < written; i++) {
		const struct zinst *zi = &h->inst[s->perm[i]];
		if (s->target_off[i] > PTR_MAX)
			continue; /* its target is out of a pointer's reach */
		if (r->c.err || r->c.len - r->c.pos < glue_len)
			return;
		uint8_t *p = r->c.buf + r->c.pos;
		copy_rr_addr(p, zi);
		wire_put_u16_at(p, 0, PTR(s->target_off[i]));
		r->c.pos += glue_len;
		r->ar++;
	}
}

static void
answer_srv(struct reply *r, const struct zone_hit *h)
{
	struct answer_scratch *s = r->s;
	uint32_t n = shuffle_init(s, h->set->inst, h->set->count);
	uint32_t written = 0;

	if (h->set->srv_hex_len != 0 && r->addr_off == 0) {
		answer_srv_fixed(r, h, n);
		return;
	}

	/* Each record is written straight into the reply after one room
	 * check: the precomputed head (owner, type, class, TTL, RDLENGTH,
	 * priority 1, weight, port), then the target: a host name as is, a
	 * pointer to the same <hex> target written earlier in this reply, or
	 * <hex> followed by a pointer to the first "addr" label, the first
	 * time by "addr" and a pointer to the apex (see put_addr_name()). */
	for (uint32_t i = 0; i < n; i++) {
		const struct zinst *zi = &h->inst[next_pick(s, i, n)];
		uint16_t id = zi->addr_id;
		bool known = id < ANSWER_MAX_RR && s->target_gen[id] == s->gen;
		size_t tlen = zi->family == 0 ? zi->target_len
			      : known	      ? 2u
					      : zi->target_len +
						    (r->addr_off ? 2u : 7u);
		size_t pos = r->c.pos;
		if (r->c.err || r->c.len - pos < sizeof(zi->rr_srv) + tlen) {
			r->tc = true;
			break;
		}
		uint8_t *p = r->c.buf + pos;
		memcpy(p, zi->rr_srv, sizeof(zi->rr_srv));
		wire_put_u16_at(p, 10, (uint16_t)(6 + tlen));
		p += sizeof(zi->rr_srv);
		if (zi->family != 0 && known) {
			wire_put_u16_at(p, 0, PTR(s->target_off[id]));
		} else {
			memcpy(p, zi->target, zi->target_len);
			if (zi->family != 0) {
				size_t at = pos + sizeof(zi->rr_srv);
				size_t addr_at = at + zi->target_len;
				p += zi->target_len;
				if (r->addr_off != 0) {
					wire_put_u16_at(p, 0, PTR(r->addr_off));
				} else {
					memcpy(p, "\4addr", 5);
					wire_put_u16_at(p, 5, PTR(r->apex_off));
					if (addr_at <= PTR_MAX)
						r->addr_off = (uint16_t)addr_at;
				}
				if (id < ANSWER_MAX_RR && at <= PTR_MAX) {
					s->target_gen[id] = s->gen;
					s->target_off[id] = (uint16_t)at;
				}
			}
		}
		r->c.pos = pos + sizeof(zi->rr_srv) + tlen;
		written = i + 1;
		r->an++;
	}
	if (r->tc)
		return;
	/* Glue: one A/AAAA per distinct target, in the answer's order. Glue
	 * that does not fit is left out without TC (RFC 2181 9). */
	for (uint32_t i = 0; i < written; i++) {
		const struct zinst *zi = &h->inst[s->perm[i]];
		uint16_t id = zi->addr_id;
		if (zi->family == 0 || id >= ANSWER_MAX_RR ||
		    s->target_gen[id] != s->gen || s->glue_gen[id] == s->gen)
			continue;
		/* the image with the target's pointer as its owner */
		if (r->c.err || r->c.len - r->c.pos < zi->rr_addr_len)
			return;
		uint8_t *p = r->c.buf + r->c.pos;
		copy_rr_addr(p, zi);
		wire_put_u16_at(p, 0, PTR(s->target_off[id]));
		r->c.pos += zi->rr_addr_len;
		s->glue_gen[id] = s->gen;
		r->ar++;
	}
}

/* TXT records owned by the query name from txt[0..len): each a 2-byte
 * RDATA length, then the RDATA. */
static void
put_txt_list(struct reply *r, uint16_t klass, uint32_t ttl,
	     const uint8_t *txt, size_t len)
{
	size_t p = 0;
	while (p + 2 <= len) {
		size_t rl = (size_t)(txt[p] << 8 | txt[p + 1]);
		size_t start = r->c.pos, rdlen_pos;
		rr_head_class(r, PTR(WIRE_HDR_LEN), WIRE_TYPE_TXT, klass, ttl);
		rdlen_pos = r->c.pos;
		wire_put_u16(&r->c, 0);
		wire_put_bytes(&r->c, txt + p + 2, rl);
		if (!rr_end(r, start, rdlen_pos)) {
			r->tc = true;
			return;
		}
		r->an++;
		p += 2 + rl;
	}
}

static void
answer_txt(struct reply *r, const struct zone_hit *h)
{
	put_txt_list(r, WIRE_CLASS_IN, h->ttl_s, h->txt, h->txt_len);
}

/* RFC 8482 4.2: answer ANY with one synthesized HINFO record. */
static void
answer_any(struct reply *r, uint32_t ttl)
{
	static const uint8_t rdata[] = "\7RFC8482\0";
	size_t start = r->c.pos, rdlen_pos;
	rr_head(r, PTR(WIRE_HDR_LEN), WIRE_TYPE_HINFO, ttl);
	rdlen_pos = r->c.pos;
	wire_put_u16(&r->c, 0);
	wire_put_bytes(&r->c, rdata, sizeof(rdata) - 1);
	if (!rr_end(r, start, rdlen_pos))
		r->tc = true;
	else
		r->an++;
}

static void
ns_addr(const struct zone_cfg *zc, size_t i, int *family, const uint8_t **a)
{
	static const uint8_t loopback[4] = {127, 0, 0, 1};
	if (zc->ns_count == 0) {
		*family = 4;
		*a = loopback;
		return;
	}
	*family = zc->ns[i].family;
	*a = zc->ns[i].addr;
}

static void
put_soa(struct reply *r, uint32_t serial, uint32_t ttl, uint16_t *count)
{
	const struct zone_cfg *zc = r->zc;
	uint8_t label[33];
	const uint8_t *a;
	int family;
	size_t start = r->c.pos, rdlen_pos;
	uint16_t saved_addr_off = r->addr_off;

	ns_addr(zc, 0, &family, &a);
	rr_head(r, PTR(r->apex_off), WIRE_TYPE_SOA, ttl);
	rdlen_pos = r->c.pos;
	wire_put_u16(&r->c, 0);
	put_addr_name(r, label, zone_addr_label(family, a, label));
	wire_put_bytes(&r->c, "\12hostmaster", 11);
	wire_put_u16(&r->c, PTR(r->apex_off));
	wire_put_u32(&r->c, serial);
	wire_put_u32(&r->c, 3600);	/* refresh */
	wire_put_u32(&r->c, 600);	/* retry */
	wire_put_u32(&r->c, 86400);	/* expire */
	wire_put_u32(&r->c, zc->neg_ttl_s); /* minimum: the negative TTL */
	if (!rr_end(r, start, rdlen_pos)) {
		r->addr_off = saved_addr_off;
		r->tc = true;
		return;
	}
	(*count)++;
}

static void
answer_ns(struct reply *r, uint32_t ttl)
{
	const struct zone_cfg *zc = r->zc;
	size_t n = zc->ns_count ? zc->ns_count : 1;
	uint16_t offs[ZONE_MAX_NS];
	uint8_t label[33];
	size_t written = 0;

	for (size_t i = 0; i < n; i++) {
		const uint8_t *a;
		int family;
		size_t start = r->c.pos, rdlen_pos, at;
		uint16_t saved_addr_off = r->addr_off;
		ns_addr(zc, i, &family, &a);
		rr_head(r, PTR(WIRE_HDR_LEN), WIRE_TYPE_NS, ttl);
		rdlen_pos = r->c.pos;
		wire_put_u16(&r->c, 0);
		at = put_addr_name(r, label, zone_addr_label(family, a, label));
		if (!rr_end(r, start, rdlen_pos)) {
			r->addr_off = saved_addr_off;
			r->tc = true;
			return;
		}
		offs[written++] = (uint16_t)at;
		r->an++;
	}
	for (size_t i = 0; i < written; i++) {
		const uint8_t *a;
		int family;
		ns_addr(zc, i, &family, &a);
		if (!put_addr_rr(r, PTR(offs[i]), family == 6 ? 6 : 4, a, ttl))
			return;
		r->ar++;
	}
}

/* ---- CHAOS diagnostics ---------------------------------------------------- */

/* One TXT record under construction: its 2-byte RDATA length, then strings
 * (RFC 1035 3.3.14), each cut at 255 bytes. */
struct txt_build {
	uint8_t buf[2 + 2048];
	size_t len;
};

static void __attribute__((format(printf, 2, 3)))
txt_str(struct txt_build *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (wire_txt_vprintf(t->buf, sizeof(t->buf), &t->len, fmt, ap))
		wire_put_u16_at(t->buf, 0, (uint16_t)(t->len - 2));
	va_end(ap);
}

/* "3.2s", "0s", "1234.5s": ages in status.srvshim, to 0.1 s. */
static void
fmt_age(char *out, size_t len, uint64_t ms)
{
	snprintf(out, len, "%" PRIu64 ".%" PRIu64 "s", ms / 1000,
		 ms % 1000 / 100);
}

/* status.srvshim: where Consul is, whether we reach it, and how fresh the
 * data is; the ages are computed now, not when the status was written. */
static void
status_txt(struct txt_build *t, const struct answer_cfg *cfg)
{
	struct answer_status st;
	uint64_t now = now_ms();
	char age[32], when[32];

	memset(&st, 0, sizeof(st));
	cfg->status(cfg->status_arg, &st);
	txt_str(t, "consul=%s", cfg->consul ? cfg->consul : "");
	txt_str(t, "connected=%s", st.connected ? "yes" : "no");
	txt_str(t, "synced=%s", st.synced ? "yes" : "no");
	if (st.last_sync_ms == 0) {
		txt_str(t, "last-sync=never");
	} else {
		uint64_t ago = now > st.last_sync_ms ? now - st.last_sync_ms : 0;
		time_t at = (time_t)(wall_s() - ago / 1000);
		struct tm tm;
		if (gmtime_r(&at, &tm) == NULL ||
		    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			snprintf(when, sizeof(when), "?");
		fmt_age(age, sizeof(age), ago);
		txt_str(t, "last-sync=%s", when);
		txt_str(t, "last-sync-age=%s", age);
	}
	if (st.data_age_ms == UINT64_MAX)
		snprintf(age, sizeof(age), "never-synced");
	else
		fmt_age(age, sizeof(age), st.data_age_ms);
	txt_str(t, "data-age=%s", age);
	txt_str(t, "index=%" PRIu64, st.catalog_index);
	txt_str(t, "services=%u", st.services);
	txt_str(t, "instances=%u", st.instances);
	txt_str(t, "watches=%u/%u", st.watches, st.max_watches);
	txt_str(t, "errors=%" PRIu64, st.errors);
}

static bool
name_is(const struct query *qr, const void *wire, size_t len)
{
	return qr->name_len == len && memcmp(qr->name, wire, len) == 0;
}

#define NAME(lit) lit, sizeof(lit) /* a literal's NUL is the root label */

/* Answers a CH query (qtype TXT or ANY; others get NODATA). Returns the
 * rcode: REFUSED for names that are not ours. */
static uint16_t
answer_chaos(struct reply *r, const struct zone *z,
	     const struct answer_cfg *cfg, const struct query *qr)
{
	static const uint8_t services[] = "\10services\7srvshim";
	struct txt_build t = {.len = 2};
	bool want = qr->qtype == WIRE_TYPE_TXT || qr->qtype == WIRE_TYPE_ANY;
	const uint8_t *label = qr->name;
	size_t svc_at = (size_t)label[0] + 1;

	if (name_is(qr, NAME("\7version\4bind")) ||
	    name_is(qr, NAME("\7version\6server"))) {
		txt_str(&t, "%s", cfg->version ? cfg->version : "srvshim");
	} else if (name_is(qr, NAME("\10hostname\4bind")) ||
		   name_is(qr, NAME("\2id\6server"))) {
		txt_str(&t, "%s", cfg->hostname ? cfg->hostname : "");
	} else if (name_is(qr, NAME("\6status\7srvshim")) &&
		   cfg->status != NULL) {
		status_txt(&t, cfg);
	} else if (name_is(qr, NAME("\7srvshim")) ||
		   name_is(qr, services, sizeof(services))) {
		return WIRE_RCODE_NOERROR; /* empty non-terminals: NODATA */
	} else if (label[0] != 0 && qr->name_len == svc_at + sizeof(services) &&
		   memcmp(qr->name + svc_at, services, sizeof(services)) == 0) {
		/* <svc>.services.srvshim: every instance, served or not. */
		const uint8_t *txt;
		size_t len;
		if (z == NULL || !zone_synced(z))
			return WIRE_RCODE_SERVFAIL;
		if (!zone_svc_diag(z, label, &txt, &len))
			return WIRE_RCODE_NXDOMAIN;
		/* RFC 8482 4.1: ANY gets one record (the summary), not the
		 * list (found by fuzz_wire's ANY invariant). */
		if (qr->qtype == WIRE_TYPE_ANY && len >= 2)
			len = MIN(len, 2 + (size_t)(txt[0] << 8 | txt[1]));
		if (want)
			put_txt_list(r, WIRE_CLASS_CH, 0, txt, len);
		return WIRE_RCODE_NOERROR;
	} else {
		return WIRE_RCODE_REFUSED;
	}
	if (want)
		put_txt_list(r, WIRE_CLASS_CH, 0, t.buf, t.len);
	return WIRE_RCODE_NOERROR;
}

/* ---- the query path ----------------------------------------------------- */

/* The 12 header bytes, with direct stores (out has room: outcap >= 512). */
static void
put_hdr(uint8_t *out, const struct wire_hdr *h)
{
	wire_put_u16_at(out, 0, h->id);
	wire_put_u16_at(out, 2, h->flags);
	wire_put_u16_at(out, 4, h->qdcount);
	wire_put_u16_at(out, 6, h->ancount);
	wire_put_u16_at(out, 8, h->nscount);
	wire_put_u16_at(out, 10, h->arcount);
}

static void
get_hdr(const uint8_t *q, struct wire_hdr *h)
{
	h->id = (uint16_t)(q[0] << 8 | q[1]);
	h->flags = (uint16_t)(q[2] << 8 | q[3]);
	h->qdcount = (uint16_t)(q[4] << 8 | q[5]);
	h->ancount = (uint16_t)(q[6] << 8 | q[7]);
	h->nscount = (uint16_t)(q[8] << 8 | q[9]);
	h->arcount = (uint16_t)(q[10] << 8 | q[11]);
}

static size_t
header_only(uint8_t *out, const struct wire_hdr *qh, uint16_t rcode)
{
	struct wire_hdr h = {
	    .id = qh->id,
	    .flags = (uint16_t)(WIRE_F_QR | (qh->flags & (WIRE_F_OPCODE | WIRE_F_RD)) |
				(rcode & WIRE_F_RCODE)),
	};
	put_hdr(out, &h);
	return WIRE_HDR_LEN;
}

enum outcome { OUT_ANSWER, OUT_NODATA, OUT_NXDOMAIN };

/* Fills the answer section for an in-zone name; returns what to add. */
static enum outcome
answer_name(struct reply *r, const struct zone *z, const struct query *qr,
	    int apex_pos)
{
	const uint8_t *rel = qr->name;
	size_t rel_len = (size_t)apex_pos;
	uint16_t an0 = r->an;
	struct zone_hit h;

	if (rel_len == 0) { /* the apex itself */
		switch (qr->qtype) {
		case WIRE_TYPE_SOA:
			put_soa(r, zone_serial(z), r->zc->ttl_s, &r->an);
			break;
		case WIRE_TYPE_NS:
			answer_ns(r, r->zc->ttl_s);
			break;
		case WIRE_TYPE_ANY:
			answer_any(r, r->zc->ttl_s);
			break;
		}
		return r->an > an0 || r->tc ? OUT_ANSWER : OUT_NODATA;
	}

	/* <hex>.addr.<apex>: decoded statelessly, so an SRV target always
	 * resolves, whatever snapshot the client asks. */
	if (rel[0] + 1u < rel_len && rel_len == rel[0] + 1u + 5u &&
	    memcmp(rel + rel[0] + 1, "\4addr", 5) == 0) {
		uint8_t addr[16];
		int family = zone_addr_decode(rel + 1, rel[0], addr);
		if (family == 0)
			return OUT_NXDOMAIN;
		if (qr->qtype == WIRE_TYPE_ANY ||
		    qr->qtype == (family == 4 ? WIRE_TYPE_A : WIRE_TYPE_AAAA)) {
			if (put_addr_rr(r, PTR(WIRE_HDR_LEN), family, addr,
					r->zc->ttl_s))
				r->an++;
			else
				r->tc = true;
		}
		return r->an > an0 || r->tc ? OUT_ANSWER : OUT_NODATA;
	}

	if (!zone_lookup(z, rel, rel_len, &h))
		return OUT_NXDOMAIN;
	if (h.kind == ZK_EMPTY)
		return OUT_NODATA;
	switch (qr->qtype) {
	case WIRE_TYPE_SRV:
		answer_srv(r, &h);
		break;
	case WIRE_TYPE_A:
		if (h.kind == ZK_SERVICE)
			answer_addrs(r, &h, 4);
		break;
	case WIRE_TYPE_AAAA:
		if (h.kind == ZK_SERVICE)
			answer_addrs(r, &h, 6);
		break;
	case WIRE_TYPE_TXT:
		if (h.kind == ZK_SERVICE)
			answer_txt(r, &h);
		break;
	case WIRE_TYPE_ANY:
		answer_any(r, h.ttl_s);
		break;
	}
	return r->an > an0 || r->tc ? OUT_ANSWER : OUT_NODATA;
}

size_t
answer_query(const struct zone *z, const struct zone_cfg *zc,
	     const struct answer_cfg *cfg, const uint8_t *q, size_t qlen,
	     uint8_t *out, size_t outcap, bool is_tcp,
	     struct answer_scratch *s, struct answer_info *info)
{
	struct query qr;
	struct reply r;
	size_t limit;
	uint16_t rcode = WIRE_RCODE_NOERROR;
	bool aa = false, chaos = false;
	int apex_pos = -1;

	memset(info, 0, sizeof(*info));
	info->action = ANSWER_DROP;
	info->udp_size = WIRE_UDP_MIN;
	if (qlen < WIRE_HDR_LEN || outcap < WIRE_UDP_MIN)
		return 0;
	/* Field by field: qr.name (255 bytes) is written by read_qname(),
	 * so the whole struct is not cleared per query. */
	get_hdr(q, &qr.hdr);
	qr.name_len = qr.qend = 0;
	qr.qtype = qr.qclass = 0;
	qr.edns = false;
	qr.udp_size = 0;
	qr.edns_version = 0;
	if (qr.hdr.flags & WIRE_F_QR)
		return 0; /* never answer an answer */
	info->action = ANSWER_REPLY;
	bool parsed = qr.hdr.qdcount == 1 && read_query(q, qlen, &qr) == 0;
	bool notimp = (qr.hdr.flags & WIRE_F_OPCODE) != 0;
	if (!parsed) {
		/* A message we cannot parse gets a bare header: nothing in it
		 * (an OPT included, RFC 6891 7) can be trusted to echo. */
		info->rcode = notimp ? WIRE_RCODE_NOTIMP : WIRE_RCODE_FORMERR;
		return header_only(out, &qr.hdr, info->rcode);
	}
	info->qtype = qr.qtype;
	info->edns = qr.edns;
	info->udp_size = qr.edns ? qr.udp_size : WIRE_UDP_MIN;

	/* The reply's size limit (RFC 6891 6.2.5, RFC 1035 4.2.1). */
	if (is_tcp)
		limit = WIRE_MSG_MAX;
	else if (qr.edns)
		limit = MIN(qr.udp_size, MAX(cfg->edns_size, WIRE_UDP_MIN));
	else
		limit = WIRE_UDP_MIN;
	limit = MIN(limit, outcap);

	if (notimp) {
		rcode = WIRE_RCODE_NOTIMP;
	} else if (qr.edns && qr.edns_version > 0) {
		rcode = WIRE_RCODE_BADVERS;
	} else if (qr.qclass == WIRE_CLASS_CH && cfg->diagnostics) {
		chaos = true;
	} else if (qr.qclass != WIRE_CLASS_IN) {
		rcode = WIRE_RCODE_REFUSED;
	} else if ((apex_pos = apex_at(qr.name, qr.name_len, zc)) < 0) {
		if (cfg->recursion) {
			info->action = ANSWER_FORWARD;
			return 0;
		}
		rcode = WIRE_RCODE_REFUSED;
	} else if (z == NULL || !zone_synced(z) || zone_stale(z)) {
		rcode = WIRE_RCODE_SERVFAIL;
	} else if (qr.qtype == WIRE_TYPE_AXFR || qr.qtype == WIRE_TYPE_IXFR) {
		rcode = WIRE_RCODE_REFUSED;
	} else {
		aa = true;
	}

	/* Header and question; records follow. */
	memset(&r, 0, sizeof(r));
	r.s = s;
	r.zc = zc;
	r.apex_off = (uint16_t)(WIRE_HDR_LEN + (apex_pos < 0 ? 0 : apex_pos));
	wire_cur_init(&r.c, out, limit - (qr.edns ? OPT_LEN : 0));
	wire_skip(&r.c, WIRE_HDR_LEN);
	wire_put_bytes(&r.c, q + WIRE_HDR_LEN, qr.qend - WIRE_HDR_LEN);
	if (r.c.err) /* cannot happen: a question fits in 512 bytes */
		return header_only(out, &qr.hdr, WIRE_RCODE_SERVFAIL);
	if (++s->gen == 0) {
		memset(s->target_gen, 0, sizeof(s->target_gen));
		memset(s->glue_gen, 0, sizeof(s->glue_gen));
		s->gen = 1;
	}

	if (chaos) {
		rcode = answer_chaos(&r, z, cfg, &qr);
		/* Authoritative for these names, as BIND is for its CH zone. */
		aa = rcode == WIRE_RCODE_NOERROR || rcode == WIRE_RCODE_NXDOMAIN;
	} else if (aa) {
		enum outcome o = answer_name(&r, z, &qr, apex_pos);
		if (o == OUT_NXDOMAIN)
			rcode = WIRE_RCODE_NXDOMAIN;
		if (o != OUT_ANSWER) /* RFC 2308 3: SOA in authority */
			put_soa(&r, zone_serial(z), zc->neg_ttl_s, &r.ns);
	}

	/* OPT goes last, in the room reserved for it (RFC 6891 6.1.1). */
	if (qr.edns) {
		r.c.len += OPT_LEN;
		wire_put_u8(&r.c, 0);
		wire_put_u16(&r.c, WIRE_TYPE_OPT);
		wire_put_u16(&r.c, MAX(cfg->edns_size, WIRE_UDP_MIN));
		wire_put_u32(&r.c, (uint32_t)(rcode >> 4) << 24);
		wire_put_u16(&r.c, 0);
		r.ar++;
	}

	struct wire_hdr h = {
	    .id = qr.hdr.id,
	    .flags = (uint16_t)(WIRE_F_QR |
				(qr.hdr.flags & (WIRE_F_OPCODE | WIRE_F_RD | WIRE_F_CD)) |
				(aa ? WIRE_F_AA : 0) |
				(cfg->recursion ? WIRE_F_RA : 0) |
				(r.tc ? WIRE_F_TC : 0) | (rcode & WIRE_F_RCODE)),
	    .qdcount = 1,
	    .ancount = r.an,
	    .nscount = r.ns,
	    .arcount = r.ar,
	};
	put_hdr(out, &h);
	info->rcode = rcode;
	info->truncated = r.tc;
	return r.c.pos;
}
