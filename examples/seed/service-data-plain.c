/* SPDX-License-Identifier: MIT
 * service-data-plain.c -- the seed's `data` service with no Consul code at
 * all: a tiny HTTP server, nothing else. Run it under the sidecar, which
 * registers it, heartbeats for it and deregisters it:
 *
 *   srvshim register --name data --port 8081 --check-http \
 *       http://127.0.0.1:8081/health -- ./service-data-plain -p 8081
 *
 * Compare with service-data.c, which carries its own registration.
 * GET / answers "data from port P (pid N)", GET /health answers "ok". */
#define _DEFAULT_SOURCE 1 /* -std=c11 hides POSIX and BSD names */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
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
		perror("service-data-plain: write");
}

int
main(int argc, char **argv)
{
	const char *addr = "127.0.0.1";
	int port = 8080, opt, lfd, one = 1;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	char body[128];

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
		fprintf(stderr, "service-data-plain: cannot listen on %s:%d: "
			"%s\n", addr, port, strerror(errno));
		return 1;
	}
	snprintf(body, sizeof(body), "data from port %d (pid %ld)\n", port,
		 (long)getpid());
	printf("service-data-plain: listening on %s:%d\n", addr, port);
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
	printf("service-data-plain: stopping\n");
	close(lfd);
	return 0;
}
