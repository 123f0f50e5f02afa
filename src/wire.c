/* SPDX-License-Identifier: MIT
 * wire.c -- DNS codec: header, names and record skipping over a bounded
 *           cursor.
 * Owns:    nothing stateful; every function works on the caller's buffer.
 * Never:   zone data, sockets, allocation.
 * Start reading at wire_read_name(). */
#include "config_feat.h"

#include <stdio.h>

#include "util.h"
#include "wire.h"

int
wire_read_hdr(struct wire_cur *c, struct wire_hdr *h)
{
	h->id = wire_get_u16(c);
	h->flags = wire_get_u16(c);
	h->qdcount = wire_get_u16(c);
	h->ancount = wire_get_u16(c);
	h->nscount = wire_get_u16(c);
	h->arcount = wire_get_u16(c);
	return c->err;
}

void
wire_write_hdr(struct wire_cur *c, const struct wire_hdr *h)
{
	wire_put_u16(c, h->id);
	wire_put_u16(c, h->flags);
	wire_put_u16(c, h->qdcount);
	wire_put_u16(c, h->ancount);
	wire_put_u16(c, h->nscount);
	wire_put_u16(c, h->arcount);
}

static int
name_fail(struct wire_cur *c, int err)
{
	if (!c->err)
		c->err = err;
	return err;
}

int
wire_read_name(struct wire_cur *c, uint8_t out[WIRE_NAME_MAX], bool lower)
{
	const uint8_t *buf = c->buf;
	size_t pos = c->pos;	/* where we read now */
	size_t end = 0;		/* where the name ends in the message */
	size_t limit = c->pos;	/* pointers must go strictly below this */
	size_t olen = 0;
	bool jumped = false;

	if (c->err)
		return c->err;
	for (;;) {
		if (pos >= c->len)
			return name_fail(c, -SRV_ETRUNC);
		uint8_t l = buf[pos];
		if ((l & 0xc0) == 0xc0) {
			/* RFC 1035 4.1.4: a pointer. Only backwards, and each
			 * jump must land before the previous one: no loops. */
			if (pos + 1 >= c->len)
				return name_fail(c, -SRV_ETRUNC);
			size_t target = (size_t)((l & 0x3f) << 8) | buf[pos + 1];
			if (target >= limit)
				return name_fail(c, -SRV_EFORMAT);
			if (!jumped)
				end = pos + 2;
			jumped = true;
			limit = target;
			pos = target;
			continue;
		}
		if (l & 0xc0) /* 01 (extended) and 10 (reserved) label types */
			return name_fail(c, -SRV_EFORMAT);
		if (olen + 1u + l > WIRE_NAME_MAX)
			return name_fail(c, -SRV_EFORMAT);
		if (pos + 1u + l > c->len)
			return name_fail(c, -SRV_ETRUNC);
		out[olen++] = l;
		if (l == 0)
			break;
		for (size_t i = 0; i < l; i++) {
			uint8_t b = buf[pos + 1 + i];
			out[olen++] = lower ? ascii_lower(b) : b;
		}
		pos += 1u + l;
	}
	c->pos = jumped ? end : pos + 1;
	return (int)olen;
}

int
wire_skip_rr(struct wire_cur *c, uint16_t *type, uint16_t *class_,
	     uint32_t *ttl, uint16_t *rdlen, size_t *rdata_pos)
{
	uint8_t name[WIRE_NAME_MAX];
	int n = wire_read_name(c, name, false);
	if (n < 0)
		return n;
	uint16_t t = wire_get_u16(c);
	uint16_t k = wire_get_u16(c);
	uint32_t l = wire_get_u32(c);
	uint16_t rl = wire_get_u16(c);
	size_t at = c->pos;
	wire_skip(c, rl);
	if (c->err)
		return c->err;
	*type = t;
	if (class_)
		*class_ = k;
	if (ttl)
		*ttl = l;
	if (rdlen)
		*rdlen = rl;
	if (rdata_pos)
		*rdata_pos = at;
	return 0;
}

int
wire_name_from_text(const char *text, uint8_t out[WIRE_NAME_MAX])
{
	size_t olen = 0;
	const char *p = text;

	if (strcmp(text, ".") == 0) {
		out[0] = 0;
		return 1;
	}
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		if (l == 0 || l > WIRE_LABEL_MAX)
			return -SRV_EFORMAT;
		if (olen + 1 + l + 1 > WIRE_NAME_MAX)
			return -SRV_EFORMAT;
		out[olen++] = (uint8_t)l;
		for (size_t i = 0; i < l; i++)
			out[olen++] = ascii_lower((uint8_t)p[i]);
		if (!dot)
			break;
		p = dot + 1;
	}
	if (olen == 0)
		return -SRV_EFORMAT;
	out[olen++] = 0;
	return (int)olen;
}

char *
wire_name_to_text(const uint8_t *name, size_t len, char *out, size_t outlen)
{
	size_t o = 0, i = 0;

	if (outlen == 0)
		return out;
	if (len == 0 || name[0] == 0) {
		snprintf(out, outlen, ".");
		return out;
	}
	while (i < len && name[i] != 0) {
		uint8_t l = name[i++];
		for (uint8_t k = 0; k < l && i < len; k++, i++) {
			uint8_t b = name[i];
			char tmp[5];
			if (b == '.' || b == '\\' || b < 0x21 || b > 0x7e)
				snprintf(tmp, sizeof(tmp), "\\%03u", b);
			else
				snprintf(tmp, sizeof(tmp), "%c", b);
			for (char *t = tmp; *t && o + 1 < outlen; t++)
				out[o++] = *t;
		}
		if (o + 1 < outlen)
			out[o++] = '.';
	}
	out[o] = '\0';
	return out;
}

bool
wire_txt_vprintf(uint8_t *buf, size_t cap, size_t *len, const char *fmt,
		 va_list ap)
{
	char text[256];
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	if (n < 0)
		return false;
	size_t tl = MIN((size_t)n, sizeof(text) - 1);
	if (*len > cap || cap - *len < 1 + tl)
		return false;
	buf[(*len)++] = (uint8_t)tl;
	for (size_t i = 0; i < tl; i++) {
		uint8_t c = (uint8_t)text[i];
		buf[(*len)++] = c < 0x20 || c == 0x7f ? ' ' : c;
	}
	return true;
}

unsigned
wire_name_labels(const uint8_t *name)
{
	unsigned n = 0;
	while (*name) {
		n++;
		name += *name + 1;
	}
	return n;
}
