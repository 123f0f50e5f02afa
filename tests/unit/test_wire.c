/* SPDX-License-Identifier: MIT
 * test_wire.c -- the DNS codec: cursor errors, names and compression
 * (RFC 1035 4.1.4), record skipping, text conversion. */
#include "testutil.h"

#include "wire.h"

static int
read_name_at(const uint8_t *msg, size_t len, size_t pos, uint8_t *out)
{
	struct wire_cur c;
	wire_cur_init(&c, msg, len);
	c.pos = pos;
	return wire_read_name(&c, out, true);
}

static void
test_read_name_plain_lowercases(void **state)
{
	(void)state;
	const uint8_t msg[] = "\4DaTa\7service\5local";
	uint8_t out[WIRE_NAME_MAX];
	int n = read_name_at(msg, sizeof(msg), 0, out);
	assert_int_equal(n, 20);
	assert_memory_equal(out, "\4data\7service\5local", 20);
}

static void
test_read_name_follows_backward_pointer(void **state)
{
	(void)state;
	/* "local" at 0, then "x" + pointer to 0 at 7 */
	const uint8_t msg[] = {5, 'l', 'o', 'c', 'a', 'l', 0, 1, 'x', 0xc0, 0};
	uint8_t out[WIRE_NAME_MAX];
	struct wire_cur c;
	wire_cur_init(&c, msg, sizeof(msg));
	c.pos = 7;
	int n = wire_read_name(&c, out, true);
	assert_int_equal(n, 9);
	assert_memory_equal(out, "\1x\5local", 9);
	assert_int_equal(c.pos, sizeof(msg)); /* past the pointer, not the target */
}

static void
test_read_name_rejects_pointer_loop(void **state)
{
	(void)state;
	const uint8_t msg[] = {1, 'a', 0xc0, 0};
	uint8_t out[WIRE_NAME_MAX];
	assert_int_equal(read_name_at(msg, sizeof(msg), 0, out), -SRV_EFORMAT);
}

static void
test_read_name_rejects_self_pointer(void **state)
{
	(void)state;
	const uint8_t msg[] = {0, 0, 0xc0, 2};
	uint8_t out[WIRE_NAME_MAX];
	assert_int_equal(read_name_at(msg, sizeof(msg), 2, out), -SRV_EFORMAT);
}

static void
test_read_name_rejects_forward_pointer(void **state)
{
	(void)state;
	const uint8_t msg[] = {0xc0, 2, 1, 'a', 0};
	uint8_t out[WIRE_NAME_MAX];
	assert_int_equal(read_name_at(msg, sizeof(msg), 0, out), -SRV_EFORMAT);
}

static void
test_read_name_rejects_two_pointer_cycle(void **state)
{
	(void)state;
	/* at 4: pointer to 0; at 0: "a" then pointer to 4 -> cycle */
	const uint8_t msg[] = {1, 'a', 0xc0, 4, 0xc0, 0};
	uint8_t out[WIRE_NAME_MAX];
	assert_int_equal(read_name_at(msg, sizeof(msg), 4, out), -SRV_EFORMAT);
}

static void
test_read_name_rejects_long_label(void **state)
{
	(void)state;
	uint8_t msg[70] = {64};
	memset(msg + 1, 'a', 64);
	uint8_t out[WIRE_NAME_MAX];
	assert_int_equal(read_name_at(msg, sizeof(msg), 0, out), -SRV_EFORMAT);
}

static void
test_read_name_rejects_name_over_255(void **state)
{
	(void)state;
	uint8_t msg[300];
	size_t p = 0;
	for (int i = 0; i < 5; i++) { /* 5 * 51 = 255 bytes of labels, + root */
		msg[p++] = 50;
		memset(msg + p, 'a', 50);
		p += 50;
	}
	msg[p++] = 0;
	uint8_t out[WIRE_NAME_MAX];
	assert_int_equal(read_name_at(msg, p, 0, out), -SRV_EFORMAT);
	/* one byte shorter fits exactly 255 */
	msg[0] = 49;
	memmove(msg + 50, msg + 51, p - 51);
	assert_int_equal(read_name_at(msg, p - 1, 0, out), 255);
}

static void
test_read_name_truncated_is_etrunc(void **state)
{
	(void)state;
	const uint8_t msg[] = {4, 'd', 'a'};
	uint8_t out[WIRE_NAME_MAX];
	assert_int_equal(read_name_at(msg, sizeof(msg), 0, out), -SRV_ETRUNC);
}

static void
test_read_name_rejects_extended_label_type(void **state)
{
	(void)state;
	const uint8_t msg[] = {0x41, 0, 0};
	uint8_t out[WIRE_NAME_MAX];
	assert_int_equal(read_name_at(msg, sizeof(msg), 0, out), -SRV_EFORMAT);
}

static void
test_cursor_error_is_sticky(void **state)
{
	(void)state;
	const uint8_t msg[] = {0, 1, 0};
	struct wire_cur c;
	wire_cur_init(&c, msg, sizeof(msg));
	assert_int_equal(wire_get_u16(&c), 1);
	assert_int_equal(wire_get_u16(&c), 0);
	assert_int_equal(c.err, -SRV_ETRUNC);
	size_t pos = c.pos;
	wire_get_u16(&c);
	assert_int_equal(c.pos, pos);
}

static void
test_put_reports_enospc(void **state)
{
	(void)state;
	uint8_t buf[3] = {0};
	struct wire_cur c;
	wire_cur_init(&c, buf, sizeof(buf));
	wire_put_u16(&c, 0x1234);
	wire_put_u16(&c, 0x5678);
	assert_int_equal(c.err, -SRV_ENOSPC);
	assert_int_equal(c.pos, 2);
	assert_int_equal(buf[0], 0x12);
}

static void
test_skip_rr_reads_type_and_rdata(void **state)
{
	(void)state;
	const uint8_t rr[] = {0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 2, 0xaa, 0xbb};
	struct wire_cur c;
	uint16_t type, klass, rdlen;
	uint32_t ttl;
	size_t at;
	wire_cur_init(&c, rr, sizeof(rr));
	assert_int_equal(wire_skip_rr(&c, &type, &klass, &ttl, &rdlen, &at), 0);
	assert_int_equal(type, WIRE_TYPE_OPT);
	assert_int_equal(klass, 1232);
	assert_int_equal(rdlen, 2);
	assert_int_equal(at, 11);
	assert_int_equal(c.pos, sizeof(rr));
}

static void
test_skip_rr_rdata_past_end_fails(void **state)
{
	(void)state;
	const uint8_t rr[] = {0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 9, 1};
	struct wire_cur c;
	uint16_t type;
	wire_cur_init(&c, rr, sizeof(rr));
	assert_int_equal(wire_skip_rr(&c, &type, NULL, NULL, NULL, NULL),
			 -SRV_ETRUNC);
}

static void
test_name_from_text_forms(void **state)
{
	(void)state;
	uint8_t out[WIRE_NAME_MAX];
	assert_int_equal(wire_name_from_text("Service.Local.", out), 15);
	assert_memory_equal(out, "\7service\5local", 15);
	assert_int_equal(wire_name_from_text(".", out), 1);
	assert_int_equal(wire_name_from_text("a..b", out), -SRV_EFORMAT);
	assert_int_equal(wire_name_from_text("", out), -SRV_EFORMAT);
	char big[80];
	memset(big, 'x', 64);
	big[64] = '\0';
	assert_int_equal(wire_name_from_text(big, out), -SRV_EFORMAT);
}

static void
test_name_to_text_escapes(void **state)
{
	(void)state;
	const uint8_t name[] = "\3a.b\1\001\0";
	char out[64];
	wire_name_to_text(name, sizeof(name) - 1, out, sizeof(out));
	assert_string_equal(out, "a\\046b.\\001.");
	assert_int_equal(wire_name_labels((const uint8_t *)"\1a\1b\0"), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read_name_plain_lowercases),
	    cmocka_unit_test(test_read_name_follows_backward_pointer),
	    cmocka_unit_test(test_read_name_rejects_pointer_loop),
	    cmocka_unit_test(test_read_name_rejects_self_pointer),
	    cmocka_unit_test(test_read_name_rejects_forward_pointer),
	    cmocka_unit_test(test_read_name_rejects_two_pointer_cycle),
	    cmocka_unit_test(test_read_name_rejects_long_label),
	    cmocka_unit_test(test_read_name_rejects_name_over_255),
	    cmocka_unit_test(test_read_name_truncated_is_etrunc),
	    cmocka_unit_test(test_read_name_rejects_extended_label_type),
	    cmocka_unit_test(test_cursor_error_is_sticky),
	    cmocka_unit_test(test_put_reports_enospc),
	    cmocka_unit_test(test_skip_rr_reads_type_and_rdata),
	    cmocka_unit_test(test_skip_rr_rdata_past_end_fails),
	    cmocka_unit_test(test_name_from_text_forms),
	    cmocka_unit_test(test_name_to_text_escapes),
	};
	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
