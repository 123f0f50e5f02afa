/* SPDX-License-Identifier: MIT
 * srv_cares.c -- SRV lookup with c-ares (1.18 API), as a C service would do it.
 * Owns:    one ares channel pointed at one server, an SRV query, then A and AAAA
 *          queries for every target; printing "target port address" lines.
 * Usage:   srv_cares SERVER PORT [NAME]   (NAME: _data._tcp.service.local)
 * Output:  one line per SRV record, "TARGET PORT ADDRESS", sorted; TARGET has no
 *          final dot; ADDRESS is "-" when the target has no A/AAAA record, and a
 *          target with several addresses gets one line per address.
 * Exit:    0 records printed; 1 lookup failed or no SRV record; 2 usage.
 * Build:   cc -std=c11 -o srv_cares srv_cares.c $(pkg-config --cflags --libs libcares) */
#define _POSIX_C_SOURCE 200809L

#include <sys/select.h> /* before ares.h, which uses fd_set */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>

/* RFC 1035 3.2.2, 3.2.4; RFC 3596; RFC 2782. */
enum { CLASS_IN = 1, TYPE_A = 1, TYPE_AAAA = 28, TYPE_SRV = 33 };

struct target {
	char *name;
	unsigned short port;
	char addrs[8][INET6_ADDRSTRLEN];
	int naddrs;
};

struct lookup {
	ares_channel ch;
	struct target *targets;
	int ntargets;
	int status; /* of the SRV query */
};

/* Appends the addresses of one A or AAAA reply to the target. */
static void
addr_done(struct target *t, int status, unsigned char *abuf, int alen, int type)
{
	struct ares_addrttl a4[8];
	struct ares_addr6ttl a6[8];
	int n = 8;

	if (status != ARES_SUCCESS)
		return; /* NODATA for the other family is normal */
	if (type == TYPE_A && ares_parse_a_reply(abuf, alen, NULL, a4, &n) == ARES_SUCCESS)
		for (int i = 0; i < n && t->naddrs < 8; i++)
			inet_ntop(AF_INET, &a4[i].ipaddr, t->addrs[t->naddrs++],
				  INET6_ADDRSTRLEN);
	if (type == TYPE_AAAA &&
	    ares_parse_aaaa_reply(abuf, alen, NULL, a6, &n) == ARES_SUCCESS)
		for (int i = 0; i < n && t->naddrs < 8; i++)
			inet_ntop(AF_INET6, &a6[i].ip6addr, t->addrs[t->naddrs++],
				  INET6_ADDRSTRLEN);
}

static void
a_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	(void)timeouts;
	addr_done(arg, status, abuf, alen, TYPE_A);
}

static void
aaaa_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	(void)timeouts;
	addr_done(arg, status, abuf, alen, TYPE_AAAA);
}

static void
srv_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct lookup *l = arg;
	struct ares_srv_reply *srv = NULL;
	int n = 0;

	(void)timeouts;
	l->status = status;
	if (status != ARES_SUCCESS)
		return;
	l->status = ares_parse_srv_reply(abuf, alen, &srv);
	if (l->status != ARES_SUCCESS)
		return;
	for (struct ares_srv_reply *s = srv; s; s = s->next)
		n++;
	l->targets = calloc((size_t)n, sizeof(*l->targets));
	if (l->targets == NULL) {
		ares_free_data(srv);
		l->status = ARES_ENOMEM;
		return;
	}
	for (struct ares_srv_reply *s = srv; s; s = s->next) {
		struct target *t = &l->targets[l->ntargets++];
		t->name = strdup(s->host);
		t->port = s->port;
	}
	ares_free_data(srv);
	/* The addresses, as a client about to connect would ask for them. */
	for (int i = 0; i < l->ntargets; i++) {
		ares_query(l->ch, l->targets[i].name, CLASS_IN, TYPE_A, a_done,
			   &l->targets[i]);
		ares_query(l->ch, l->targets[i].name, CLASS_IN, TYPE_AAAA, aaaa_done,
			   &l->targets[i]);
	}
}

static int
cmp_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
run(ares_channel ch)
{
	for (;;) {
		fd_set rd, wr;
		struct timeval tv, *tvp;
		int nfds;

		FD_ZERO(&rd);
		FD_ZERO(&wr);
		nfds = ares_fds(ch, &rd, &wr);
		if (nfds == 0)
			break;
		tvp = ares_timeout(ch, NULL, &tv);
		select(nfds, &rd, &wr, NULL, tvp);
		ares_process(ch, &rd, &wr);
	}
}

int
main(int argc, char **argv)
{
	const char *name = argc > 3 ? argv[3] : "_data._tcp.service.local";
	struct ares_options opts;
	struct lookup l = {.status = ARES_ENODATA};
	char csv[128], **lines;
	int nlines = 0, rc;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: srv_cares SERVER PORT [NAME]\n");
		return 2;
	}
	/* IPv6 servers are written [::1]:PORT in the csv form. */
	snprintf(csv, sizeof(csv), strchr(argv[1], ':') ? "[%s]:%s" : "%s:%s",
		 argv[1], argv[2]);

	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
		return 1;
	/* An explicit, empty server list keeps /etc/resolv.conf's servers out;
	 * the csv call below sets the one server with its port (struct in_addr
	 * servers in ares_options cannot carry a port). */
	memset(&opts, 0, sizeof(opts));
	opts.servers = NULL;
	opts.nservers = 0;
	opts.timeout = 2000;
	opts.tries = 2;
	rc = ares_init_options(&l.ch, &opts,
			       ARES_OPT_SERVERS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc == ARES_SUCCESS)
		rc = ares_set_servers_ports_csv(l.ch, csv);
	if (rc != ARES_SUCCESS) {
		fprintf(stderr, "srv_cares: %s: %s\n", csv, ares_strerror(rc));
		return 2;
	}

	ares_query(l.ch, name, CLASS_IN, TYPE_SRV, srv_done, &l);
	run(l.ch);
	if (l.status != ARES_SUCCESS || l.ntargets == 0) {
		fprintf(stderr, "srv_cares: %s SRV: %s\n", name,
			l.status != ARES_SUCCESS ? ares_strerror(l.status)
						 : "no records");
		rc = 1;
		goto out;
	}

	lines = calloc((size_t)l.ntargets * 8, sizeof(*lines));
	rc = lines ? 0 : 1;
	for (int i = 0; lines && i < l.ntargets; i++) {
		struct target *t = &l.targets[i];
		size_t len = strlen(t->name) + 64;

		for (int j = 0; j < (t->naddrs ? t->naddrs : 1); j++) {
			char *s = malloc(len);
			if (s == NULL)
				break;
			snprintf(s, len, "%s %u %s", t->name, t->port,
				 t->naddrs ? t->addrs[j] : "-");
			lines[nlines++] = s;
		}
	}
	qsort(lines, (size_t)nlines, sizeof(*lines), cmp_lines);
	for (int i = 0; i < nlines; i++) {
		puts(lines[i]);
		free(lines[i]);
	}
	free(lines);
out:
	for (int i = 0; i < l.ntargets; i++)
		free(l.targets[i].name);
	free(l.targets);
	ares_destroy(l.ch);
	ares_library_cleanup();
	return rc;
}
