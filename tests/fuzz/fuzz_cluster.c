/*
 * libFuzzer target for the decoder of the messages cluster nodes exchange
 * through Redis (cmsg.c): anyone who can reach the Redis server can
 * publish one, so any bytes must be refused or read, never crash.
 *
 * Whatever cmsg_decode accepts as a command must be encoded by
 * cmsg_encode into a message that decodes to the same command: the same
 * operation, addressing, key, ids, exclusion, topic, code, reason and
 * data bytes.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsgated.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init(1, LOG_LEVEL_ERROR);
	return (0);
}

static void __attribute__((noreturn))
fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_cluster: %s\n", what);
	abort();
}

static int
fuzz_same(const char *a, size_t alen, const char *b, size_t blen)
{
	return (alen == blen && (alen == 0 || memcmp(a, b, alen) == 0));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cmsg		 m, m2;
	const struct wscmd	*a, *b;
	struct buf		 out;
	const char		*cause;
	size_t			 i;

	if (cmsg_decode(data, size, &m, &cause) == -1)
		return (0);
	if (m.m_kind != CMSG_CMD) {
		cmsg_free(&m);
		return (0);
	}
	buf_init(&out);
	cmsg_encode(&m.m_cmd, m.m_from, &out);
	if (cmsg_decode(buf_data(&out), buf_used(&out), &m2, &cause) == -1)
		fuzz_fail(cause);
	a = &m.m_cmd;
	b = &m2.m_cmd;
	if (strcmp(m.m_from, m2.m_from) != 0 || a->c_op != b->c_op ||
	    a->c_to != b->c_to || a->c_nids != b->c_nids ||
	    a->c_binary != b->c_binary || a->c_code != b->c_code ||
	    strcmp(a->c_reason, b->c_reason) != 0)
		fuzz_fail("the header changed");
	if (!fuzz_same(a->c_key, a->c_keylen, b->c_key, b->c_keylen) ||
	    !fuzz_same(a->c_topic, a->c_topiclen, b->c_topic, b->c_topiclen) ||
	    !fuzz_same(a->c_data, a->c_len, b->c_data, b->c_len))
		fuzz_fail("key, topic or data changed");
	if ((a->c_exclude == NULL) != (b->c_exclude == NULL) ||
	    (a->c_exclude != NULL && strcmp(a->c_exclude, b->c_exclude) != 0))
		fuzz_fail("exclude changed");
	for (i = 0; i < a->c_nids; i++) {
		if (strcmp(a->c_ids[i], b->c_ids[i]) != 0)
			fuzz_fail("ids changed");
	}
	cmsg_free(&m2);
	cmsg_free(&m);
	buf_free(&out);
	return (0);
}
