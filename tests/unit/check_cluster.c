/*
 * Unit tests of the messages between cluster nodes (cmsg.c): what
 * cmsg_encode writes, cmsg_decode reads back alike, and every message
 * that breaks a rule is refused with a cause.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "unit.h"

#define ID_A	"AAAAAAAAAAAAAAAAAAAAAA"
#define ID_B	"b-b_b-b_b-b_b-b_b-b_bb"

/* Encode c from node "n1" and decode it into m, which must succeed. */
static void
roundtrip(const struct wscmd *c, struct buf *b, struct cmsg *m)
{
	const char	*cause = NULL;

	buf_init(b);
	cmsg_encode(c, "n1", b);
	ck_assert_msg(cmsg_decode(buf_data(b), buf_used(b), m, &cause) == 0,
	    "cmsg_decode: %s", cause);
	ck_assert_int_eq(m->m_kind, CMSG_CMD);
	ck_assert_str_eq(m->m_from, "n1");
	ck_assert_int_eq(m->m_cmd.c_op, c->c_op);
	ck_assert_int_eq(m->m_cmd.c_to, c->c_to);
}

/* A literal message must be refused with cause. */
static void
refused(const char *msg, size_t len, const char *want)
{
	struct cmsg	 m;
	const char	*cause = NULL;

	ck_assert_msg(cmsg_decode(msg, len, &m, &cause) == -1,
	    "accepted: %.*s", (int)len, msg);
	ck_assert_str_eq(cause, want);
	ck_assert_ptr_null(m.m_head);
}
#define REFUSED(lit, want) refused((lit), sizeof(lit) - 1, (want))

START_TEST(send_binary_to_socket_keeps_every_byte)
{
	static const unsigned char data[] = { 0, '\n', 0xff, 'x', '\n', 0 };
	struct wscmd	 c = { 0 };
	struct cmsg	 m;
	struct buf	 b;

	c.c_op = WSCMD_SEND;
	c.c_to = WSCMD_TO_SOCKET;
	c.c_key = ID_A;
	c.c_keylen = WSG_ID_LEN;
	c.c_data = data;
	c.c_len = sizeof data;
	c.c_binary = 1;
	roundtrip(&c, &b, &m);
	ck_assert_int_eq(m.m_cmd.c_keylen, WSG_ID_LEN);
	ck_assert_str_eq(m.m_cmd.c_key, ID_A);
	ck_assert_int_eq(m.m_cmd.c_binary, 1);
	ck_assert_uint_eq(m.m_cmd.c_len, sizeof data);
	ck_assert_mem_eq(m.m_cmd.c_data, data, sizeof data);
	/* The data follows the header line as it is: no base64. */
	ck_assert_mem_eq(buf_data(&b) + buf_used(&b) - sizeof data, data,
	    sizeof data);
	cmsg_free(&m);
	buf_free(&b);
}
END_TEST

START_TEST(send_text_to_sockets_user_topic_all)
{
	const char *const ids[] = { ID_A, ID_B };
	struct wscmd	 c = { 0 };
	struct cmsg	 m;
	struct buf	 b;

	c.c_op = WSCMD_SEND;
	c.c_data = "h\xc3\xa9llo";
	c.c_len = 6;

	c.c_to = WSCMD_TO_SOCKETS;
	c.c_ids = ids;
	c.c_nids = 2;
	roundtrip(&c, &b, &m);
	ck_assert_uint_eq(m.m_cmd.c_nids, 2);
	ck_assert_str_eq(m.m_cmd.c_ids[0], ID_A);
	ck_assert_str_eq(m.m_cmd.c_ids[1], ID_B);
	ck_assert_int_eq(m.m_cmd.c_binary, 0);
	ck_assert_mem_eq(m.m_cmd.c_data, "h\xc3\xa9llo", 6);
	cmsg_free(&m);
	buf_free(&b);

	c.c_to = WSCMD_TO_USER;
	c.c_key = "u\"\\1";
	c.c_keylen = 4;
	roundtrip(&c, &b, &m);
	ck_assert_uint_eq(m.m_cmd.c_keylen, 4);
	ck_assert_str_eq(m.m_cmd.c_key, "u\"\\1");
	cmsg_free(&m);
	buf_free(&b);

	c.c_to = WSCMD_TO_TOPIC;
	c.c_key = "room:1";
	c.c_keylen = 6;
	c.c_exclude = ID_B;
	roundtrip(&c, &b, &m);
	ck_assert_str_eq(m.m_cmd.c_key, "room:1");
	ck_assert_str_eq(m.m_cmd.c_exclude, ID_B);
	cmsg_free(&m);
	buf_free(&b);

	c.c_to = WSCMD_TO_ALL;
	c.c_exclude = NULL;
	c.c_len = 0;
	roundtrip(&c, &b, &m);
	ck_assert_ptr_null(m.m_cmd.c_exclude);
	ck_assert_uint_eq(m.m_cmd.c_len, 0);
	cmsg_free(&m);
	buf_free(&b);
}
END_TEST

START_TEST(close_and_subscriptions)
{
	struct wscmd	 c = { 0 };
	struct cmsg	 m;
	struct buf	 b;

	c.c_op = WSCMD_CLOSE;
	c.c_to = WSCMD_TO_USER;
	c.c_key = "u1";
	c.c_keylen = 2;
	c.c_code = 4001;
	c.c_reason = "kicked";
	roundtrip(&c, &b, &m);
	ck_assert_int_eq(m.m_cmd.c_code, 4001);
	ck_assert_str_eq(m.m_cmd.c_reason, "kicked");
	cmsg_free(&m);
	buf_free(&b);

	c.c_code = 1000;
	c.c_reason = "";
	roundtrip(&c, &b, &m);
	ck_assert_str_eq(m.m_cmd.c_reason, "");
	cmsg_free(&m);
	buf_free(&b);

	memset(&c, 0, sizeof c);
	c.c_op = WSCMD_UNSUBSCRIBE;
	c.c_to = WSCMD_TO_SOCKET;
	c.c_key = ID_B;
	c.c_keylen = WSG_ID_LEN;
	c.c_topic = "news";
	c.c_topiclen = 4;
	roundtrip(&c, &b, &m);
	ck_assert_uint_eq(m.m_cmd.c_topiclen, 4);
	ck_assert_str_eq(m.m_cmd.c_topic, "news");
	cmsg_free(&m);
	buf_free(&b);
}
END_TEST

START_TEST(lost_node_and_its_sockets)
{
	static const char msg[] =
	    "{\"v\":1,\"from\":\"n2\",\"op\":\"lost\",\"node\":\"n3\"}\n"
	    "{\"" ID_A "\":\"{\\\"userId\\\":\\\"u1\\\"}\","
	    "\"" ID_B "\":\"{}\"}";
	struct cmsg	 m;
	const char	*cause = NULL;

	ck_assert_msg(cmsg_decode(msg, sizeof msg - 1, &m, &cause) == 0,
	    "cmsg_decode: %s", cause);
	ck_assert_int_eq(m.m_kind, CMSG_LOST);
	ck_assert_str_eq(m.m_from, "n2");
	ck_assert_str_eq(m.m_node, "n3");
	ck_assert_uint_eq(json_object_size(m.m_lost), 2);
	ck_assert_str_eq(json_string_value(json_object_get(m.m_lost, ID_A)),
	    "{\"userId\":\"u1\"}");
	cmsg_free(&m);

	/* What Redis's cjson writes for a node with no socket. */
	ck_assert_int_eq(cmsg_decode("{\"v\":1,\"from\":\"n2\",\"op\":\"lost\","
	    "\"node\":\"n3\"}\n{}", 46, &m, &cause), 0);
	ck_assert_uint_eq(json_object_size(m.m_lost), 0);
	cmsg_free(&m);
}
END_TEST

START_TEST(hostile_messages_refused)
{
	REFUSED("", "no header line");
	REFUSED("{\"v\":1}", "no header line");
	REFUSED("[1]\n", "the header is not a JSON object");
	REFUSED("{\"v\":1,\"v\":1}\n", "the header is not a JSON object");
	REFUSED("{\"v\":2,\"from\":\"n\",\"op\":\"send\",\"to\":\"all\"}\n",
	    "unknown version");
	REFUSED("{\"v\":1,\"from\":\"\",\"op\":\"send\",\"to\":\"all\"}\n",
	    "from is not a node name");
	/* No NUL may reach a C string. */
	REFUSED("{\"v\":1,\"from\":\"a\\u0000b\",\"op\":\"send\","
	    "\"to\":\"all\"}\n", "the header is not a JSON object");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"drop\",\"to\":\"all\"}\n",
	    "unknown op");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"send\",\"to\":\"moon\"}\n",
	    "unknown to");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"send\",\"to\":\"socket\","
	    "\"key\":\"short\"}\n", "bad key");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"send\",\"to\":\"socket\","
	    "\"key\":\"AAAAAAAAAAAAAAAAAAAAA+\"}\n", "bad key");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"send\",\"to\":\"user\","
	    "\"key\":\"\"}\n", "bad key");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"send\",\"to\":\"sockets\","
	    "\"ids\":[]}\n", "ids is not a list of 1 to 100000 ids");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"send\",\"to\":\"sockets\","
	    "\"ids\":[\"" ID_A "\",7]}\n", "ids holds something not an id");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"send\",\"to\":\"all\","
	    "\"exclude\":\"x\"}\n", "exclude is not an id");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"send\",\"to\":\"all\","
	    "\"binary\":1}\n", "binary is not true or false");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"send\",\"to\":\"all\"}\n"
	    "\xff", "text data is not UTF-8");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"close\",\"to\":\"all\","
	    "\"code\":1006}\n", "code is not 1000 or 3000 to 4999");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"close\",\"to\":\"all\"}\n",
	    "code is not 1000 or 3000 to 4999");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"close\",\"to\":\"all\","
	    "\"code\":1000,\"reason\":7}\n", "bad reason");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"close\",\"to\":\"all\","
	    "\"code\":1000}\nbody", "a body where none belongs");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"subscribe\",\"to\":\"all\","
	    "\"topic\":\"t\"}\n", "a subscription is for one socket");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"subscribe\","
	    "\"to\":\"socket\",\"key\":\"" ID_A "\"}\n", "bad topic");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"lost\"}\n{}",
	    "node is not a node name");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"lost\",\"node\":\"m\"}\n[]",
	    "the lost sockets are not a JSON object");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"lost\",\"node\":\"m\"}\n"
	    "{\"x\":\"{}\"}", "a lost socket is not an id and a context");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"lost\",\"node\":\"m\"}\n"
	    "{\"" ID_A "\":\"[]\"}",
	    "a lost socket is not an id and a context");
	REFUSED("{\"v\":1,\"from\":\"n\",\"op\":\"lost\",\"node\":\"m\"}\n"
	    "{\"" ID_A "\":{}}", "a lost socket is not an id and a context");
}
END_TEST

static Suite *
cluster_suite(void)
{
	Suite	*s = suite_create("cluster");
	TCase	*tc = tcase_create("cmsg");

	tcase_add_test(tc, send_binary_to_socket_keeps_every_byte);
	tcase_add_test(tc, send_text_to_sockets_user_topic_all);
	tcase_add_test(tc, close_and_subscriptions);
	tcase_add_test(tc, lost_node_and_its_sockets);
	tcase_add_test(tc, hostile_messages_refused);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (unit_run(cluster_suite()));
}
