/*
 * Shared helpers of the Check unit tests: the main() runner that prints
 * TAP on stdout for automake's tap-driver, and small fixtures for request
 * heads and configurations. Everything here is static inline so that each
 * test program may use only part of it without a warning.
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "wsgated.h"

/* Room for the headers of every head the tests parse. */
#define UNIT_MAXHDRS	64

/* A parsed request head and the header array it points into. */
struct unit_req {
	struct http_request	 r;
	struct http_header	 h[UNIT_MAXHDRS];
	const char		*cause;
};

/* Parse len bytes of head into u; return http_parse's status. */
static inline int
unit_parse_len(struct unit_req *u, const char *head, size_t len)
{
	u->cause = NULL;
	return (http_parse(head, len, u->h, UNIT_MAXHDRS, &u->r, &u->cause));
}

/* Parse a string literal (it may hold NUL bytes); the head must be valid. */
#define UNIT_PARSE(u, lit) do {						\
	int unit_st_ = unit_parse_len((u), (lit), sizeof(lit) - 1);	\
	ck_assert_msg(unit_st_ == 0, "http_parse: %d %s", unit_st_,	\
	    (u)->cause ? (u)->cause : "");				\
} while (0)

/* Parse a NUL-terminated head that must be valid. */
static inline void
unit_parse_ok(struct unit_req *u, const char *head)
{
	int	 st = unit_parse_len(u, head, strlen(head));

	ck_assert_msg(st == 0, "http_parse: %d %s", st,
	    u->cause ? u->cause : "");
}

/* Parse a configuration text that must be valid. */
static inline struct cfg *
unit_cfg(const char *text)
{
	struct cfg	*c;
	char		*errs = NULL;

	c = cfg_parse(text, "t.conf", &errs);
	ck_assert_msg(c != NULL, "cfg_parse: %s", errs ? errs : "(null)");
	ck_assert_ptr_null(errs);
	return (c);
}

/* Count the lines of s. */
static inline int
unit_count_lines(const char *s)
{
	int	 n = 0;

	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '\n')
			n++;
	}
	return (n);
}

/*
 * Run every test of s and print TAP on stdout. Return the exit status
 * main() should return.
 */
static inline int
unit_run(Suite *s)
{
	SRunner	*sr;
	int	 failed;

	/* Forked children must not flush TAP lines the parent buffered. */
	setvbuf(stdout, NULL, _IONBF, 0);
	sr = srunner_create(s);
	srunner_set_log(sr, NULL);
	srunner_set_tap(sr, "-");
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}

#endif /* UNIT_H */
