/*
 * libFuzzer target for wsgate.conf (cfg.c): the input, as a C string, is
 * parsed with cfg_parse. A configuration that loads must hold only values
 * in the ranges wsgate.conf(5) gives; one that does not must come with
 * error lines naming the file.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wsgated.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_check_cfg(const struct cfg *c)
{
	const struct ctx_field	*f;
	size_t			 i;

	if (strcmp(c->c_file, "fuzz.conf") != 0 ||
	    c->c_workers < 0 || c->c_workers > WSG_MAX_WORKERS ||
	    c->c_listen_port < 1 || c->c_listen_port > 65535 ||
	    c->c_listen_path[0] != '/' || c->c_listen_address[0] == '\0' ||
	    c->c_backend_socket[0] == '\0' ||
	    strlen(c->c_backend_socket) > 107 ||
	    c->c_nsubprotocols > WSG_MAX_SUBPROTOCOLS ||
	    c->c_nfields > WSG_MAX_FIELDS ||
	    c->c_reconnect_min > c->c_reconnect_max ||
	    c->c_max_frame_bytes < 1024 ||
	    c->c_max_head_bytes < 256 || c->c_max_head_bytes > 65536 ||
	    c->c_max_headers < 1 || c->c_max_headers > 1000 ||
	    (c->c_backend_framing != FRAMING_LENGTH_PREFIXED &&
	    c->c_backend_framing != FRAMING_NDJSON))
		abort();
	for (i = 0; i < c->c_nsubprotocols; i++) {
		if (c->c_subprotocols[i] == NULL ||
		    c->c_subprotocols[i][0] == '\0')
			abort();
	}
	for (i = 0; i < c->c_nfields; i++) {
		f = &c->c_fields[i];
		if (f->f_name == NULL || f->f_name[0] == '\0' ||
		    strlen(f->f_name) > WSG_FIELD_NAME_MAX ||
		    (f->f_source == CTX_SOURCE_PEER) != (f->f_key == NULL) ||
		    f->f_max_length < 1 || f->f_max_length > 65536)
			abort();
		cfg_source_name(f->f_source);
	}
	cfg_framing_name(c->c_backend_framing);
	log_level_name(c->c_log_level);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init(1, LOG_LEVEL_ERROR);
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg	*c;
	char		*text, *errs = NULL;

	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';

	/*
	 * libconfig's @include opens any file named, even /dev/zero, and
	 * so do the key files of the jwt group: that is the administrator's
	 * business, not a parser bug.
	 */
	if ((strchr(text, '@') != NULL && strcasestr(text, "include") !=
	    NULL) || strstr(text, "_file") != NULL) {
		free(text);
		return (0);
	}

	c = cfg_parse(text, "fuzz.conf", &errs);
	if (c != NULL) {
		if (errs != NULL)
			abort();
		fuzz_check_cfg(c);
		cfg_free(c);
	} else {
		if (errs == NULL || strncmp(errs, "fuzz.conf:", 10) != 0 ||
		    errs[strlen(errs) - 1] != '\n')
			abort();
		free(errs);
	}
	free(text);
	return (0);
}
