/* SPDX-License-Identifier: MIT
 * service-www.c -- the seed's `www` service: on every request it finds a
 * healthy `data` instance by DNS, through srvshim, and fetches from it.
 * No Consul client, no watch, no consul-template, no HAProxy restart:
 *
 *   ./service-www -p 8080 -s 127.0.0.1:5300 [-n _data._tcp.service.local]
 *
 * Per request: SRV query with c-ares to srvshim (-s), the RFC 2782 choice
 * (lowest priority, then random by weight), an A query for the chosen
 * target (srvshim's <hex>.addr names always resolve), then GET / on it with
 * libcurl. Answers "www -> <what data said>", or 503 with the reason.
 * srvshim answers from Consul's health at that moment, so a dead instance
 * is never picked once its check fails. */
#define _DEFAULT_SOURCE 1 /* -std=c11 hides POSIX and BSD names */

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ares.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* ---- DNS with c-ares --------------------------------------------------- */

struct answer {
	int done, status;
	char host[256];
	unsigned short port;
	char addr[INET_ADDRSTRLEN];
};

/* RFC 2782: the lowest priority; among those, a random number in 1..sum
 * of weights picks the first whose running sum reaches it. */
static void
on_srv(void *arg, int status, int timeouts, unsigned char *buf, int len)
{
	struct answer *a = arg;
	struct ares_srv_reply *head = NULL, *r;
	unsigned prio = 65536;
	long sum = 0, pick, run = 0;

	(void)timeouts;
	a->done = 1;
	a->status = status;
	if (status != ARES_SUCCESS ||
	    (a->status = ares_parse_srv_reply(buf, len, &head)) != ARES_SUCCESS)
		return;
	for (r = head; r != NULL; r = r->next)
		if (r->priority < prio)
			prio = r->priority;
	for (r = head; r != NULL; r = r->next)
		if (r->priority == prio)
			sum += r->weight;
	pick = sum > 0 ? 1 + random() % sum : 0;
	for (r = head; r != NULL; r = r->next) {
		if (r->priority != prio)
			continue;
		run += r->weight;
		if (run >= pick) {
			snprintf(a->host, sizeof(a->host), "%s", r->host);
			a->port = r->port;
			break;
		}
	}
	ares_free_data(head);
}

static void
on_a(void *arg, int status, int timeouts, unsigned char *buf, int len)
{
	struct answer *a = arg;
	struct ares_addrttl addr;
	int n = 1;

	(void)timeouts;
	a->done = 1;
	a->status = status;
	if (status == ARES_SUCCESS &&
	    (a->status = ares_parse_a_reply(buf, len, NULL, &addr, &n)) ==
		ARES_SUCCESS &&
	    n > 0)
		inet_ntop(AF_INET, &addr.ipaddr, a->addr, sizeof(a->addr));
	else if (a->status == ARES_SUCCESS)
		a->status = ARES_ENODATA;
}

static void
wait_for(ares_channel ch, struct answer *a)
{
	while (!a->done) {
		fd_set r, w;
		struct timeval tv, *tvp;
		int nfds;

		FD_ZERO(&r);
		FD_ZERO(&w);
		nfds = ares_fds(ch, &r, &w);
		tvp = ares_timeout(ch, NULL, &tv);
		select(nfds, &r, &w, NULL, tvp);
		ares_process(ch, &r, &w);
	}
}

/* Finds one data instance: "addr" and port into a. Returns 0 or an
 * ARES_* status. */
static int
find_instance(const char *server, const char *name, struct answer *a)
{
	ares_channel ch;
	struct ares_options opts = {.timeout = 1000, .tries = 2};
	int st;

	memset(a, 0, sizeof(*a));
	st = ares_init_options(&ch, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (st != ARES_SUCCESS)
		return st;
	st = ares_set_servers_ports_csv(ch, server);
	if (st == ARES_SUCCESS) {
		ares_query(ch, name, ns_c_in, ns_t_srv, on_srv, a);
		wait_for(ch, a);
		st = a->status;
	}
	if (st == ARES_SUCCESS && a->host[0] != '\0') {
		a->done = 0;
		ares_query(ch, a->host, ns_c_in, ns_t_a, on_a, a);
		wait_for(ch, a);
		st = a->status;
	}
	ares_destroy(ch);
	return st;
}

/* ---- HTTP -------------------------------------------------------------- */

struct buf {
	char data[1024];
	size_t len;
};

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t len = size * n, room = sizeof(b->data) - 1 - b->len;

	memcpy(b->data + b->len, p, len < room ? len : room);
	b->len += len < room ? len : room;
	b->data[b->len] = '\0';
	return len;
}

static void
reply(int fd, int code, const char *body)
{
	char buf[2048];
	int n = snprintf(buf, sizeof(buf),
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 code, code == 200 ? "OK" : "Service Unavailable",
			 strlen(body), body);
	if (write(fd, buf, (size_t)n) < 0)
		perror("service-www: write");
}

static void
handle(int fd, const char *server, const char *name)
{
	struct answer a;
	struct buf b = {.len = 0};
	char url[512], out[1200];
	long code = 0;
	CURLcode rc;
	CURL *c;
	int st = find_instance(server, name, &a);

	if (st != ARES_SUCCESS) {
		snprintf(out, sizeof(out), "www: no %s instance (%s)\n", name,
			 ares_strerror(st));
		reply(fd, 503, out);
		return;
	}
	snprintf(url, sizeof(url), "http://%s:%u/", a.addr, a.port);
	c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK || code != 200) {
		snprintf(out, sizeof(out), "www: GET %s failed (%s, %ld)\n",
			 url, curl_easy_strerror(rc), code);
		reply(fd, 503, out);
		return;
	}
	snprintf(out, sizeof(out), "www -> %s", b.data);
	reply(fd, 200, out);
}

int
main(int argc, char **argv)
{
	const char *addr = "127.0.0.1", *server = "127.0.0.1:53";
	const char *name = "_data._tcp.service.local";
	int port = 8080, opt, lfd, one = 1;
	struct sockaddr_in sin = {.sin_family = AF_INET};

	while ((opt = getopt(argc, argv, "a:p:s:n:")) != -1) {
		if (opt == 'a')
			addr = optarg;
		else if (opt == 'p')
			port = atoi(optarg);
		else if (opt == 's')
			server = optarg;
		else if (opt == 'n')
			name = optarg;
		else {
			fprintf(stderr, "usage: %s [-a ADDR] [-p PORT] "
				"[-s DNS-SERVER:PORT] [-n SRV-NAME]\n", argv[0]);
			return 2;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)getpid());
	curl_global_init(CURL_GLOBAL_DEFAULT);
	ares_library_init(ARES_LIB_INIT_ALL);

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(lfd, 64) != 0) {
		fprintf(stderr, "service-www: cannot listen on %s:%d: %s\n",
			addr, port, strerror(errno));
		return 1;
	}
	printf("service-www: listening on %s:%d, finding %s at %s\n", addr,
	       port, name, server);
	fflush(stdout);
	while (!stop) {
		struct pollfd pfd = {.fd = lfd, .events = POLLIN};
		char req[2048];
		int fd;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		if (read(fd, req, sizeof(req) - 1) > 0)
			handle(fd, server, name);
		close(fd);
	}
	printf("service-www: stopping\n");
	ares_library_cleanup();
	curl_global_cleanup();
	close(lfd);
	return 0;
}
