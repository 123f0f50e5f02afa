/* SPDX-License-Identifier: MIT
 * service-data.c -- the seed's `data` service as it was written: a tiny
 * HTTP server that registers itself in Consul. Everything below marked
 * "Consul:" is what srvshim's sidecar makes unnecessary (compare with
 * service-data-plain.c, run under `srvshim register`).
 *
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 ./service-data -p 8081
 *
 * Consul: the instance registers with ID data-<uuid v4> and a TTL check of
 * 10 s, passes it every 5 s from a thread, and deregisters on SIGINT (and
 * SIGTERM). GET / answers "data from <ID> port P", GET /health "ok". */
#define _DEFAULT_SOURCE 1 /* -std=c11 hides POSIX and BSD names */

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#define TTL_S 10

static volatile sig_atomic_t stop;
static char consul[256] = "http://127.0.0.1:8500"; /* Consul: the agent */
static char id[128];				    /* Consul: our ID */

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Consul: one PUT to the agent's API. Returns the HTTP status, or -1. */
static long
consul_put(const char *path, const char *body)
{
	char url[512];
	long status = -1;
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = NULL;
	const char *token = getenv("CONSUL_HTTP_TOKEN");
	char tokhdr[256];

	if (c == NULL)
		return -1;
	snprintf(url, sizeof(url), "%s%s", consul, path);
	if (token != NULL && *token != '\0') {
		snprintf(tokhdr, sizeof(tokhdr), "X-Consul-Token: %s", token);
		hdr = curl_slist_append(hdr, tokhdr);
	}
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return status;
}

/* Consul: register with a TTL check. */
static long
consul_register(const char *addr, int port)
{
	char body[1024];

	snprintf(body, sizeof(body),
		 "{\"ID\": \"%s\", \"Name\": \"data\", \"Address\": \"%s\", "
		 "\"Port\": %d, \"Check\": {\"CheckID\": \"service:%s\", "
		 "\"Name\": \"data ttl\", \"TTL\": \"%ds\", "
		 "\"Status\": \"passing\", "
		 "\"DeregisterCriticalServiceAfter\": \"1m\"}}",
		 id, addr, port, id, TTL_S);
	return consul_put("/v1/agent/service/register", body);
}

/* Consul: the heartbeat thread, every TTL/2. */
static void *
heartbeat(void *arg)
{
	char path[256];

	(void)arg;
	snprintf(path, sizeof(path),
		 "/v1/agent/check/pass/service:%s?note=alive", id);
	while (!stop) {
		struct timespec slice = {0, 100 * 1000 * 1000};
		long st = consul_put(path, NULL);
		if (st != 200)
			fprintf(stderr, "service-data: heartbeat: status %ld\n",
				st);
		for (int i = 0; i < TTL_S * 5 && !stop; i++) /* TTL/2 */
			nanosleep(&slice, NULL);
	}
	return NULL;
}

static void
reply(int fd, const char *body)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf),
			 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 strlen(body), body);
	if (write(fd, buf, (size_t)n) < 0)
		perror("service-data: write");
}

int
main(int argc, char **argv)
{
	const char *addr = "127.0.0.1", *env = getenv("CONSUL_HTTP_ADDR");
	int port = 8080, opt, lfd, one = 1;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	char body[256], uuid[37], path[256];
	uuid_t u;
	pthread_t hb;

	while ((opt = getopt(argc, argv, "a:p:")) != -1) {
		if (opt == 'a')
			addr = optarg;
		else if (opt == 'p')
			port = atoi(optarg);
		else {
			fprintf(stderr, "usage: %s [-a ADDR] [-p PORT]\n",
				argv[0]);
			return 2;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(lfd, 64) != 0) {
		fprintf(stderr, "service-data: cannot listen on %s:%d: %s\n",
			addr, port, strerror(errno));
		return 1;
	}

	/* Consul: the address, a uuid ID, registration, the heartbeat. */
	if (env != NULL && *env != '\0')
		snprintf(consul, sizeof(consul), "%s%s",
			 strstr(env, "://") ? "" : "http://", env);
	uuid_generate_random(u);
	uuid_unparse_lower(u, uuid);
	snprintf(id, sizeof(id), "data-%s", uuid);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (consul_register(addr, port) != 200) {
		fprintf(stderr, "service-data: cannot register in Consul at "
			"%s\n", consul);
		return 1;
	}
	pthread_create(&hb, NULL, heartbeat, NULL);

	snprintf(body, sizeof(body), "data from %s port %d\n", id, port);
	printf("service-data: %s listening on %s:%d\n", id, addr, port);
	fflush(stdout);
	while (!stop) {
		struct pollfd pfd = {.fd = lfd, .events = POLLIN};
		char req[2048];
		ssize_t n;
		int fd;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		n = read(fd, req, sizeof(req) - 1); /* one read: a tiny demo */
		req[n > 0 ? n : 0] = '\0';
		reply(fd, strncmp(req, "GET /health", 11) == 0 ? "ok\n" : body);
		close(fd);
	}

	/* Consul: deregister on the way out. */
	pthread_join(hb, NULL);
	snprintf(path, sizeof(path), "/v1/agent/service/deregister/%s", id);
	printf("service-data: deregistering %s (status %ld)\n", id,
	       consul_put(path, NULL));
	curl_global_cleanup();
	close(lfd);
	return 0;
}
