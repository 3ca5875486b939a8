/*
 * libFuzzer target for the fast reader of send commands (cmd.c) and the
 * JSON string helpers (jstr.c), held to jansson, which stays the
 * authority on what a backend frame means.
 *
 * The input is a backend frame. Whenever cmd_scan_send accepts it,
 * jansson with backend_handle's flags must read an object whose type is
 * "send", with the same socketId bytes, binary true exactly when
 * cs_binary, and data equal to cs_data, or to jstr_unescape(cs_data) when
 * cs_escaped; and when jstr_unescape refuses the escapes, jansson must
 * refuse the frame. The same check then runs on a send whose data is the
 * input as written, so that any input fit to be string contents goes
 * through jstr_unescape.
 * jstr_plain_len and jstr_ascii_len must agree with a byte-by-byte loop
 * on the input, from each of the first eight offsets. And cmd_parse,
 * the reader of every command, gets the object jansson makes of it.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsgated.h"

/* backend_handle's jansson flags. */
#define FUZZ_JFLAGS	(JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | \
			    JSON_ALLOW_NUL)

#define FUZZ_HEAD	"{\"type\":\"send\",\"socketId\":\"id\",\"data\":\""
#define FUZZ_TAIL	"\"}"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void __attribute__((noreturn))
fuzz_fail(const char *frame, size_t len, const char *what)
{
	fprintf(stderr, "fuzz_cmd: %s: \"%.*s\"\n", what,
	    len > 200 ? 200 : (int)len, frame);
	abort();
}

/* The string member key of j must hold exactly len bytes of s. */
static int
fuzz_string_is(json_t *j, const char *key, const char *s, size_t len)
{
	json_t	*v = json_object_get(j, key);

	return (json_is_string(v) && json_string_length(v) == len &&
	    memcmp(json_string_value(v), s, len) == 0);
}

/* What backend_handle relies on when cmd_scan_send accepts a frame. */
static void
fuzz_scan(const char *frame, size_t len)
{
	struct cmd_send	 cs;
	json_error_t	 err;
	json_t		*j, *bin;
	char		*data;
	ssize_t		 n;
	int		 r;

	if ((r = cmd_scan_send(frame, len, &cs)) == 0)
		return;
	if (r != 1 || cs.cs_id < frame || cs.cs_idlen > len ||
	    cs.cs_id + cs.cs_idlen > frame + len || cs.cs_data < frame ||
	    cs.cs_datalen > len || cs.cs_data + cs.cs_datalen > frame + len)
		fuzz_fail(frame, len, "cmd_scan_send points outside");

	/* Room for exactly cs_datalen bytes, as backend_send_fast gives. */
	data = malloc(cs.cs_datalen > 0 ? cs.cs_datalen : 1);
	if (cs.cs_escaped)
		n = jstr_unescape(cs.cs_data, cs.cs_datalen, data);
	else {
		memcpy(data, cs.cs_data, cs.cs_datalen);
		n = (ssize_t)cs.cs_datalen;
	}
	if (n < -1 || n > (ssize_t)cs.cs_datalen)
		fuzz_fail(frame, len, "jstr_unescape's length is out of range");

	j = json_loadb(frame, len, FUZZ_JFLAGS, &err);
	if (n == -1) {
		if (j != NULL)
			fuzz_fail(frame, len, "jansson reads data that "
			    "jstr_unescape refuses");
		free(data);
		return;
	}
	if (j == NULL) {
		fprintf(stderr, "fuzz_cmd: jansson: %s at %d\n", err.text,
		    err.position);
		fuzz_fail(frame, len, "jansson refuses an accepted send");
	}
	if (!json_is_object(j))
		fuzz_fail(frame, len, "jansson reads no object");
	if (!fuzz_string_is(j, "type", "send", 4))
		fuzz_fail(frame, len, "type is not \"send\" to jansson");
	if (!fuzz_string_is(j, "socketId", cs.cs_id, cs.cs_idlen))
		fuzz_fail(frame, len, "socketId differs");
	bin = json_object_get(j, "binary");
	if ((bin != NULL && !json_is_boolean(bin)) ||
	    json_is_true(bin) != (cs.cs_binary != 0))
		fuzz_fail(frame, len, "binary differs");
	if (!fuzz_string_is(j, "data", data, (size_t)n))
		fuzz_fail(frame, len, "data differs");
	json_decref(j);
	free(data);
}

static void
fuzz_lens(const uint8_t *p, size_t size)
{
	size_t	 start, i;

	for (start = 0; start < 8 && start <= size; start++) {
		for (i = start; i < size; i++) {
			if (p[i] < 0x20 || p[i] == '"' || p[i] == '\\')
				break;
		}
		if (jstr_plain_len(p + start, size - start) != i - start)
			fuzz_fail((const char *)p, size, "jstr_plain_len");
		for (i = start; i < size && p[i] < 0x80; i++)
			;
		if (jstr_ascii_len(p + start, size - start) != i - start)
			fuzz_fail((const char *)p, size, "jstr_ascii_len");
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init(1, LOG_LEVEL_ERROR);
	return (0);
}

/*
 * cmd_parse on whatever object jansson makes of the frame: it must not
 * crash or leak, and what it accepts must be whole: an address of the
 * kind it says, data within the frame's own length once decoded.
 */
static void
fuzz_parse(const char *frame, size_t len)
{
	struct cmd	 cm;
	json_error_t	 err;
	json_t		*j;
	char		 why[160];
	size_t		 i;

	if ((j = json_loadb(frame, len, FUZZ_JFLAGS, &err)) == NULL)
		return;
	if (json_is_object(j) && cmd_parse(j, 128, &cm, why, sizeof why) ==
	    CMD_OK) {
		const struct wscmd *c = &cm.cm_cmd;

		if (c->c_op == WSCMD_SEND && (c->c_len > len ||
		    (c->c_len > 0 && c->c_data == NULL)))
			fuzz_fail(frame, len, "cmd_parse: data out of bounds");
		if (c->c_to == WSCMD_TO_SOCKETS) {
			for (i = 0; i < c->c_nids; i++)
				if (c->c_ids[i] == NULL)
					fuzz_fail(frame, len, "cmd_parse: "
					    "a NULL id");
		} else if (c->c_to != WSCMD_TO_ALL && c->c_key == NULL)
			fuzz_fail(frame, len, "cmd_parse: no address");
	}
	if (json_is_object(j))
		cmd_free(&cm);
	json_decref(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*frame;
	size_t	 hlen = sizeof FUZZ_HEAD - 1, tlen = sizeof FUZZ_TAIL - 1;

	fuzz_scan((const char *)data, size);
	fuzz_parse((const char *)data, size);

	frame = malloc(hlen + size + tlen);
	memcpy(frame, FUZZ_HEAD, hlen);
	memcpy(frame + hlen, data, size);
	memcpy(frame + hlen + size, FUZZ_TAIL, tlen);
	fuzz_scan(frame, hlen + size + tlen);
	free(frame);

	fuzz_lens(data, size);
	return (0);
}
