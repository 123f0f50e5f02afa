/* SPDX-License-Identifier: MIT
 * wire.h -- the DNS wire codec.
 * Owns:    bounded read and write cursors, the header, names (with
 *          compression pointers, RFC 1035 4.1.4), and constants.
 * Never:   zone data, sockets, allocation.
 *
 * Cursor errors are sticky: after the first short read or full buffer every
 * later call does nothing, so callers read (or write) everything and check
 * c->err once. */
#ifndef SRVSHIM_WIRE_H
#define SRVSHIM_WIRE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "err.h"

#define WIRE_HDR_LEN 12
#define WIRE_NAME_MAX 255
#define WIRE_LABEL_MAX 63
#define WIRE_UDP_MIN 512   /* RFC 1035 4.2.1; also the floor for EDNS sizes */
#define WIRE_MSG_MAX 65535

enum {
	WIRE_TYPE_A = 1,
	WIRE_TYPE_NS = 2,
	WIRE_TYPE_CNAME = 5,
	WIRE_TYPE_SOA = 6,
	WIRE_TYPE_HINFO = 13,
	WIRE_TYPE_MX = 15,
	WIRE_TYPE_TXT = 16,
	WIRE_TYPE_AAAA = 28,
	WIRE_TYPE_SRV = 33,
	WIRE_TYPE_OPT = 41,
	WIRE_TYPE_IXFR = 251,
	WIRE_TYPE_AXFR = 252,
	WIRE_TYPE_ANY = 255,
};

enum { WIRE_CLASS_IN = 1, WIRE_CLASS_CH = 3, WIRE_CLASS_ANY = 255 };

enum {
	WIRE_RCODE_NOERROR = 0,
	WIRE_RCODE_FORMERR = 1,
	WIRE_RCODE_SERVFAIL = 2,
	WIRE_RCODE_NXDOMAIN = 3,
	WIRE_RCODE_NOTIMP = 4,
	WIRE_RCODE_REFUSED = 5,
	WIRE_RCODE_BADVERS = 16, /* extended, RFC 6891 */
};

/* Header flag bits (second 16-bit word). */
#define WIRE_F_QR 0x8000u
#define WIRE_F_OPCODE 0x7800u
#define WIRE_F_AA 0x0400u
#define WIRE_F_TC 0x0200u
#define WIRE_F_RD 0x0100u
#define WIRE_F_RA 0x0080u
#define WIRE_F_Z 0x0040u
#define WIRE_F_AD 0x0020u
#define WIRE_F_CD 0x0010u
#define WIRE_F_RCODE 0x000fu

#define WIRE_OPT_DO 0x8000u /* EDNS flag: DNSSEC OK */

struct wire_hdr {
	uint16_t id;
	uint16_t flags;
	uint16_t qdcount, ancount, nscount, arcount;
};

/* A bounded cursor over a buffer, for reading or writing. */
struct wire_cur {
	uint8_t *buf;
	size_t len;  /* bytes readable, or capacity when writing */
	size_t pos;
	int err;     /* 0, or the first -SRV_E* hit */
};

static inline void
wire_cur_init(struct wire_cur *c, const uint8_t *buf, size_t len)
{
	c->buf = (uint8_t *)buf;
	c->len = len;
	c->pos = 0;
	c->err = 0;
}

static inline bool
wire_need(struct wire_cur *c, size_t n, int err)
{
	if (c->err)
		return false;
	if (c->len - c->pos < n) {
		c->err = err;
		return false;
	}
	return true;
}

static inline uint16_t
wire_get_u16(struct wire_cur *c)
{
	if (!wire_need(c, 2, -SRV_ETRUNC))
		return 0;
	uint16_t v = (uint16_t)((c->buf[c->pos] << 8) | c->buf[c->pos + 1]);
	c->pos += 2;
	return v;
}

static inline uint32_t
wire_get_u32(struct wire_cur *c)
{
	uint32_t hi = wire_get_u16(c);
	return (hi << 16) | wire_get_u16(c);
}

static inline void
wire_skip(struct wire_cur *c, size_t n)
{
	if (wire_need(c, n, -SRV_ETRUNC))
		c->pos += n;
}

static inline void
wire_put_u8(struct wire_cur *c, uint8_t v)
{
	if (wire_need(c, 1, -SRV_ENOSPC))
		c->buf[c->pos++] = v;
}

static inline void
wire_put_u16(struct wire_cur *c, uint16_t v)
{
	if (wire_need(c, 2, -SRV_ENOSPC)) {
		c->buf[c->pos] = (uint8_t)(v >> 8);
		c->buf[c->pos + 1] = (uint8_t)v;
		c->pos += 2;
	}
}

static inline void
wire_put_u32(struct wire_cur *c, uint32_t v)
{
	wire_put_u16(c, (uint16_t)(v >> 16));
	wire_put_u16(c, (uint16_t)v);
}

static inline void
wire_put_bytes(struct wire_cur *c, const void *p, size_t n)
{
	if (wire_need(c, n, -SRV_ENOSPC)) {
		memcpy(c->buf + c->pos, p, n);
		c->pos += n;
	}
}

static inline void
wire_put_u16_at(uint8_t *buf, size_t pos, uint16_t v)
{
	buf[pos] = (uint8_t)(v >> 8);
	buf[pos + 1] = (uint8_t)v;
}

/* Reads the 12-byte header. Returns 0 or -SRV_ETRUNC. */
int wire_read_hdr(struct wire_cur *c, struct wire_hdr *h);
/* Writes a header at the cursor. */
void wire_write_hdr(struct wire_cur *c, const struct wire_hdr *h);

/* Reads a possibly compressed name at the cursor into out (uncompressed wire
 * form, lower-cased when lower is true), advancing the cursor past the name
 * as it appears in the message. Pointers must point strictly backwards
 * (RFC 1035 4.1.4; this also rules out loops), labels are at most 63 bytes
 * and the whole name at most 255. Label types 01 and 10 are rejected.
 * Returns the wire length of the name (>= 1), or -SRV_ETRUNC / -SRV_EFORMAT
 * (also set in c->err). */
int wire_read_name(struct wire_cur *c, uint8_t out[WIRE_NAME_MAX], bool lower);

/* Skips a resource record (name, type, class, ttl, rdata) and returns its
 * type in *type; *class_ and *ttl too when not NULL. Returns 0 or error. */
int wire_skip_rr(struct wire_cur *c, uint16_t *type, uint16_t *class_,
		 uint32_t *ttl, uint16_t *rdlen, size_t *rdata_pos);

/* Converts a text name ("service.local", "service.local.", "." ) into wire
 * form, lower-cased. Returns the wire length or -SRV_EFORMAT. */
int wire_name_from_text(const char *text, uint8_t out[WIRE_NAME_MAX]);
/* Converts a wire name (uncompressed) to text with a final dot, escaping
 * dots and non-printable bytes as \DDD. Returns out. */
char *wire_name_to_text(const uint8_t *name, size_t len, char *out,
			size_t outlen);
/* Appends one TXT character-string (RFC 1035 3.3.14) formatted from fmt to
 * buf[*len..cap): a length byte and at most 255 bytes, control characters
 * turned into spaces (check output has newlines). Appends nothing and
 * returns false when it does not fit. */
bool wire_txt_vprintf(uint8_t *buf, size_t cap, size_t *len, const char *fmt,
		      va_list ap) __attribute__((format(printf, 4, 0)));

/* Number of labels in an uncompressed wire name, the root label excluded. */
unsigned wire_name_labels(const uint8_t *name);

#endif
